"""The front door stays short and the generated references stay complete."""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

qtfl_docs = importlib.import_module("qtfl_docs")  # docs/_ext; Sphinx is a pinned dependency


def test_readme_has_at_most_1500_words() -> None:
    # Prepare / Execute: words as `wc -w` counts them (whitespace-separated)
    words = len((ROOT / "README.md").read_text(encoding="utf-8").split())
    # Assert
    assert 0 < words <= 1500, f"README.md has {words} words"


def _schema_fields() -> set[tuple[str, str]]:
    """(model title, field) for every model of the configuration, from pydantic's JSON schema
    (independent of the reference's own walk over the annotations)."""
    from qtfl.experiments.config import ExperimentConfig

    schema = ExperimentConfig.model_json_schema()
    fields = {(schema["title"], name) for name in schema["properties"]}
    for definition in schema.get("$defs", {}).values():
        for name in definition.get("properties", {}):
            fields.add((definition["title"], name))
    return fields


def test_every_config_field_is_in_the_generated_reference() -> None:
    # Prepare
    expected = _schema_fields()
    # Execute
    documented = {(s.title, r.name) for s in qtfl_docs.config_sections() for r in s.rows}
    # Assert
    assert len(expected) > 50
    missing = expected - documented
    assert not missing, f"fields missing from the configuration reference: {sorted(missing)}"


def test_every_config_field_has_a_type_default_and_description() -> None:
    rows = [(s.title, r) for s in qtfl_docs.config_sections() for r in s.rows]
    undescribed = [f"{title}.{r.name}" for title, r in rows if not r.description]
    assert all(r.type and r.default for _, r in rows)
    assert not undescribed, f"add Field(description=...) or a note: {undescribed}"
    assert qtfl_docs.stale_notes() == []


def test_cli_reference_lists_every_command_with_its_options() -> None:
    import typer

    from qtfl.cli import app

    # Prepare: the command names as click resolves them
    root = typer.main.get_command(app)
    expected = {f"qtfl {name}" for name in root.commands}  # type: ignore[attr-defined]
    # Execute
    commands = {c.name: c for c in qtfl_docs.cli_commands()}
    # Assert
    assert expected <= set(commands)
    run = commands["qtfl run"]
    flags = {f for f, *_ in run.options}
    assert {"CONFIG", "--out", "--json", "--resume"} <= flags
    assert run.usage.startswith("qtfl run")
    defaults = [d for c in commands.values() for _, _, d, _ in c.options]
    assert not [d for d in defaults if "object at" in d or "typer." in d]


def test_readme_python_example_runs_and_prints_what_the_readme_says() -> None:
    # Prepare: the README's one python block and the output it claims
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    claimed = re.search(r"This prints `([^`]*)`", text)
    assert claimed is not None
    # Execute
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], "README.md", "exec"), {})
    # Assert
    assert out.getvalue().strip() == claimed.group(1)


def _page_examples() -> list[tuple[str, str]]:
    """Python blocks of the site's own pages (guides may show snippets that need a run's files)."""
    pages = sorted(p for p in (ROOT / "docs").rglob("*.md") if "guide" not in p.parts)
    return [
        (f"{page.relative_to(ROOT)}#{i}", block)
        for page in pages
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text("utf-8"), re.S))
    ]


_EXAMPLES = _page_examples()


@pytest.mark.parametrize(("where", "code"), _EXAMPLES, ids=[where for where, _ in _EXAMPLES])
def test_python_examples_of_the_docs_pages_run(
    where: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: files an example writes land in a temporary directory
    monkeypatch.chdir(tmp_path)
    # Execute / Assert: the example runs without error
    exec(compile(code, where, "exec"), {})


def test_readme_cli_table_lists_exactly_the_commands_of_the_app() -> None:
    import typer

    from qtfl.cli import app

    # Prepare
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The command line", 1)[1].split("\n## ", 1)[0]
    # Execute: the first word after `qtfl` in each row of the table
    listed = set(re.findall(r"^\| `qtfl ([a-z-]+)", section, flags=re.M))
    # Assert
    assert listed == commands
