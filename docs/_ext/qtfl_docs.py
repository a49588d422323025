"""Sphinx extension of the qtfl docs: reference pages generated from the code at build time.

Two directives, so the reference never goes stale:

``qtfl-config-reference``
    Every section of an experiment file, walked from
    :class:`qtfl.experiments.config.ExperimentConfig` through its pydantic models (channel
    sections are the discriminated union of :mod:`qtfl.experiments.channels`): per field the
    name, type, default, constraints and description (a ``Field(description=...)`` or the
    docstring under the field).

``qtfl-cli-reference``
    Every command of the ``qtfl`` typer app with its help, usage and options.

The tables are built from docutils nodes (no reST re-parsing), so no help text or
description can break the build.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive

# --------------------------------------------------------------------------------------
# configuration reference


@dataclass(frozen=True)
class FieldRow:
    """One field of one configuration section, ready to print."""

    name: str
    type: str
    default: str
    constraints: str
    description: str


@dataclass(frozen=True)
class Section:
    """One pydantic model of the configuration and the paths where it appears."""

    model: type
    paths: tuple[str, ...]
    rows: tuple[FieldRow, ...]

    @property
    def title(self) -> str:
        return self.model.__name__


def _models_in(annotation: Any) -> Iterator[tuple[type, str]]:
    """Pydantic models inside a type annotation, each with a path suffix ('' or '[]')."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, ""
        return
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        yield from _models_in(args[0])
        return
    suffix = "[]" if origin in (list, tuple, set, frozenset) else ""
    for arg in args:
        for model, inner in _models_in(arg):
            yield model, suffix + inner


def config_sections() -> list[Section]:
    """Every model reachable from ``ExperimentConfig``, in first-seen (breadth-first) order,
    with every key path at which it can appear."""
    from qtfl.experiments.config import ExperimentConfig

    order: list[type] = [ExperimentConfig]
    edges: list[tuple[type, str, type]] = []  # (parent, field + suffix, child)
    queue: list[type] = [ExperimentConfig]
    while queue:
        model = queue.pop(0)
        for name, info in model.model_fields.items():
            for sub, suffix in _models_in(info.annotation):
                edges.append((model, name + suffix, sub))
                if sub not in order:
                    order.append(sub)
                    queue.append(sub)
    paths: dict[type, list[str]] = {m: [] for m in order}
    changed = True
    while changed:  # the configuration has no cycles, so this settles
        changed = False
        for parent, key, child in edges:
            prefixes = [""] if parent is ExperimentConfig else [p + "." for p in paths[parent]]
            for prefix in prefixes:
                if prefix + key not in paths[child]:
                    paths[child].append(prefix + key)
                    changed = True
    paths[ExperimentConfig] = ["(top level)"]
    return [Section(m, tuple(paths[m]), tuple(field_rows(m))) for m in order]


def _type_name(annotation: Any) -> str:
    from pydantic import BaseModel

    if annotation is type(None):
        return "null"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return annotation.__name__
        return annotation.__name__
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) if not isinstance(a, str) else f'"{a}"' for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]"
    return str(annotation).replace("typing.", "")


_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("multiple_of", "multiple of"))


def _constraints(info: Any) -> str:
    parts: list[str] = []
    unit = "chars" if _type_name(info.annotation).startswith("str") else "items"
    for meta in info.metadata:
        for attr, symbol in _BOUNDS:
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(
                    f"{symbol} {value:g}" if isinstance(value, float) else f"{symbol} {value}"
                )
        for attr, label in (("min_length", "at least"), ("max_length", "at most")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{label} {value} {unit}")
        pattern = getattr(meta, "pattern", None)
        if pattern is not None:
            parts.append(f"matches {pattern}")
    # constraints on list items (list[Annotated[int, Field(ge=0)]])
    for arg in typing.get_args(info.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            for meta in typing.get_args(arg)[1:]:
                for attr, symbol in _BOUNDS:
                    value = getattr(meta, attr, None)
                    if value is not None:
                        parts.append(f"each {symbol} {value}")
    return ", ".join(parts)


def _default(info: Any) -> str:
    from pydantic_core import PydanticUndefined

    if info.default_factory is not None:
        value = info.default_factory()
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "model_dump"):
        return "{...}"
    return repr(value) if not isinstance(value, str) else value


def _attribute_docstrings(model: type) -> dict[str, str]:
    """Docstrings written under fields (``x: int = 1`` then ``\"\"\"...\"\"\"``), per class in
    the MRO, as pydantic's ``use_attribute_docstrings`` reads them."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not cls.__module__.startswith("qtfl."):  # pydantic's and object's own bodies
            continue
        try:
            source = textwrap.dedent(inspect.getsource(cls))
        except (OSError, TypeError):
            continue
        try:
            body = ast.parse(source).body[0]
        except (SyntaxError, IndexError):
            continue
        if not isinstance(body, ast.ClassDef):
            continue
        stmts = body.body
        for this, nxt in itertools.pairwise(stmts):
            if (
                isinstance(this, ast.AnnAssign)
                and isinstance(this.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                found[this.target.id] = inspect.cleandoc(nxt.value.value)
    return found


def field_rows(model: type) -> list[FieldRow]:
    """The rows of one section: every field of ``model`` (pydantic ``model_fields``).

    The description is the code's own (``Field(description=...)`` or a docstring under the
    field) or, failing that, the note in :data:`FIELD_NOTES`.
    """
    from field_notes import FIELD_NOTES

    docs = _attribute_docstrings(model)
    rows = []
    for name, info in model.model_fields.items():
        description = (
            info.description or docs.get(name) or FIELD_NOTES.get(f"{model.__name__}.{name}", "")
        )
        rows.append(
            FieldRow(
                name=info.alias or name,
                type=_type_name(info.annotation),
                default=_default(info),
                constraints=_constraints(info),
                description=" ".join(description.split()),
            )
        )
    return rows


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


# --------------------------------------------------------------------------------------
# CLI reference


@dataclass(frozen=True)
class CommandDoc:
    """One ``qtfl`` command: its full name, help, usage and option rows."""

    name: str
    help: str
    usage: str
    options: tuple[tuple[str, str, str, str], ...]  # flags, type, default, help
    is_group: bool


def cli_commands() -> list[CommandDoc]:
    """Every command and command group of the ``qtfl`` app, depth first."""
    import click
    import typer

    from qtfl.cli import app

    root = typer.main.get_command(app)
    out: list[CommandDoc] = []

    def walk(cmd: click.Command, path: list[str], parent: click.Context | None) -> None:
        ctx = click.Context(cmd, info_name=path[-1], parent=parent)
        options = []
        for param in cmd.get_params(ctx):
            record = param.get_help_record(ctx)
            if isinstance(param, click.Argument):
                flags = param.human_readable_name
                kind = _click_type(param)
                default = "required" if param.required else _click_default(param)
                options.append((flags, kind, default, getattr(param, "help", "") or ""))
            elif record is not None:
                flags = ", ".join(param.opts + param.secondary_opts)
                options.append(
                    (
                        flags,
                        _click_type(param),
                        _click_default(param),
                        getattr(param, "help", "") or "",
                    )
                )
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        out.append(
            CommandDoc(
                name=" ".join(path),
                help=inspect.cleandoc(cmd.help or ""),
                usage=f"{' '.join(path)} {usage}".strip(),
                options=tuple(options),
                is_group=isinstance(cmd, click.Group),
            )
        )
        if isinstance(cmd, click.Group):
            for sub_name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, sub_name)
                if sub is not None and not sub.hidden:
                    walk(sub, [*path, sub_name], ctx)

    walk(root, ["qtfl"], None)
    return out


def _click_type(param: Any) -> str:
    import click

    if getattr(param, "is_flag", False):
        return "flag"
    kind = param.type
    if isinstance(kind, click.Choice):
        return " | ".join(str(c) for c in kind.choices)
    name = getattr(kind, "name", str(kind))
    return {"text": "text", "integer": "integer", "float": "number"}.get(name, name)


def _click_default(param: Any) -> str:
    default = param.default
    if type(default) is object or type(default).__name__ == "Sentinel":  # click: no default
        return ""
    if callable(default) or default is None or (getattr(param, "is_flag", False) and not default):
        return ""
    if "typer." in repr(default):  # the app's defaults were rewritten (see conf.py)
        raise RuntimeError(f"{param.name}: typer sees {default!r}, not a default value")
    if isinstance(default, (list, tuple)):
        return ", ".join(str(d) for d in default) if default else ""
    return str(getattr(default, "value", default))


# --------------------------------------------------------------------------------------
# docutils helpers


def _cell(content: str | nodes.Node, *, literal: bool = False) -> nodes.entry:
    entry = nodes.entry()
    if isinstance(content, nodes.Node):
        entry += content
    elif content:
        para = nodes.paragraph()
        para += nodes.literal(content, content) if literal else nodes.Text(content)
        entry += para
    return entry


def _table(header: list[str], rows: list[list[tuple[Any, bool]]], widths: list[int]) -> nodes.table:
    table = nodes.table(classes=["qtfl-reference"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    row = nodes.row()
    for title in header:
        row += _cell(title)
    head += row
    group += head
    body = nodes.tbody()
    for cells in rows:
        row = nodes.row()
        for text, literal in cells:
            row += _cell(text, literal=literal)
        body += row
    group += body
    return table


def _section(document: Any, title: str, ident: str) -> nodes.section:
    section = nodes.section(ids=[ident], names=[nodes.fully_normalize_name(ident)])
    section += nodes.title(title, title)
    document.note_implicit_target(section)
    return section


def _paragraph(*parts: tuple[str, bool]) -> nodes.paragraph:
    para = nodes.paragraph()
    for text, literal in parts:
        para += nodes.literal(text, text) if literal else nodes.Text(text)
    return para


def _rst(directive: Directive, text: str) -> nodes.Element:
    """``text`` parsed as reST (docstrings use roles and inline literals) into a container."""
    from docutils.statemachine import StringList

    container = nodes.container()
    if text:
        directive.state.nested_parse(
            StringList(text.splitlines(), "qtfl-reference"), directive.content_offset, container
        )
    return container


class ConfigReference(Directive):
    """``.. qtfl-config-reference::`` — one section per configuration model."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        document = self.state.document
        out: list[nodes.Node] = []
        for section in config_sections():
            node = _section(document, section.title, f"config-{section.title.lower()}")
            parts: list[tuple[str, bool]] = [("Where: ", False)]
            for i, path in enumerate(section.paths):
                if i:
                    parts.append((", ", False))
                parts.append((path, path != "(top level)"))
            node += _paragraph(*parts)
            summary = _first_paragraph(section.model.__doc__)
            if summary:
                node += _rst(self, summary).children
            rows = [
                [
                    (r.name, True),
                    (r.type, True),
                    (r.default, True),
                    (r.constraints, False),
                    (_rst(self, r.description), False),
                ]
                for r in section.rows
            ]
            node += _table(
                ["field", "type", "default", "constraints", "description"],
                rows,
                [14, 18, 12, 16, 40],
            )
            out.append(node)
        return out


class CliReference(Directive):
    """``.. qtfl-cli-reference::`` — one section per ``qtfl`` command."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        document = self.state.document
        out: list[nodes.Node] = []
        for cmd in cli_commands():
            ident = "cli-" + cmd.name.replace(" ", "-")
            node = _section(document, cmd.name, ident)
            node += nodes.literal_block(cmd.usage, cmd.usage)
            for paragraph in cmd.help.split("\n\n"):
                text = " ".join(paragraph.split())
                if text:
                    node += _paragraph((text, False))
            if cmd.options:
                rows = [[(f, True), (t, True), (d, True), (h, False)] for f, t, d, h in cmd.options]
                node += _table(
                    ["argument / option", "type", "default", "help"], rows, [22, 16, 12, 50]
                )
            out.append(node)
        return out


def stale_notes() -> list[str]:
    """Notes in :data:`FIELD_NOTES` whose model or field no longer exists."""
    from field_notes import FIELD_NOTES

    known = {f"{sec.title}.{name}" for sec in config_sections() for name in sec.model.model_fields}
    return sorted(set(FIELD_NOTES) - known)


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("qtfl-config-reference", ConfigReference)
    app.add_directive("qtfl-cli-reference", CliReference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
