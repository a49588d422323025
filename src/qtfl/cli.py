"""The ``qtfl`` command line: parse arguments, call the library, print the result.

No logic lives here: every command calls one library function and prints what it returns,
as a table or (with ``--json``) as one JSON object. A mistake the user can fix raises
:class:`qtfl.errors.InputError`; ``main`` prints its message and exits with status 2,
without a traceback.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import Any

import click
import typer
from rich.console import Console
from rich.table import Table

from qtfl.errors import QtflError

app = typer.Typer(
    name="qtfl",
    help="Federated learning over quantum teleportation: run, measure, benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(
    help="Performance benchmarks (figures, not pass/fail tests).", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")

_out = Console()
_err = Console(stderr=True)


def emit(result: Mapping[str, Any], *, as_json: bool, title: str = "") -> None:
    """Print ``result`` as one JSON object (``--json``) or as a two-column table."""
    if as_json:
        print(json.dumps(_jsonable(result), sort_keys=False))
        return
    table = Table(title=title or None, show_header=False)
    table.add_column("quantity", style="bold")
    table.add_column("value")
    for key, value in result.items():
        table.add_row(key, _pretty(value))
    _out.print(table)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _pretty(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_pretty(v)}" for k, v in value.items())
    return str(value)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app; user mistakes exit 2 with one clear message."""
    try:
        app(args=argv, standalone_mode=False)
    except QtflError as exc:
        _err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except click.exceptions.Abort:
        _err.print("aborted")
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
