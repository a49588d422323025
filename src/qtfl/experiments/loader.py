"""Bounded YAML: read an experiment file without letting its content crash or hang qtfl.

:func:`load_yaml` is ``yaml.safe_load`` with limits checked *while* the document is
composed, before any value is built or echoed:

* the file is at most :data:`MAX_CONFIG_BYTES` bytes (checked on its size, before reading);
* at most :data:`MAX_ALIASES` aliases (``*name``), and the document expanded through its
  aliases holds at most :data:`MAX_EXPANDED_NODES` nodes (a "billion laughs" alias bomb
  expands exponentially: refused after a few aliases, in microseconds);
* nesting is at most :data:`MAX_DEPTH` collections deep (deeper files would exhaust the
  Python stack of any recursive consumer);
* a key repeated in one mapping is an error (plain ``safe_load`` keeps the last one silently);
  a merge key (``<<: *base``) may still be overridden, as YAML intends.

Every failure is one :class:`~qtfl.errors.InputError` naming the file and the limit;
values are echoed through :func:`qtfl.errors.short_repr`, at most 80 characters.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ConfigDict, model_validator
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from qtfl.errors import InputError, short_repr

MAX_CONFIG_BYTES = 256 << 10
"""Largest experiment file read (256 KiB; the bundled files are under 4 KiB). The pure-Python
YAML scanner reads about 1 MB/s on a loaded machine, so this also bounds parsing time."""
MAX_ALIASES = 64
"""Most aliases (``*name``) in one file."""
MAX_EXPANDED_NODES = 100_000
"""Most nodes of the document with every alias expanded."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and sequences."""

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _LimitExceeded(Exception):
    """Raised inside the composer; turned into an InputError naming the file."""


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that counts aliases, expanded nodes and depth, and refuses
    duplicate keys (see the module docstring)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._expanded = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _LimitExceeded(f"more than {MAX_ALIASES} aliases (*name)")
            node = super().compose_node(parent, index)
            self._expanded += self._sizes.get(id(node), 1)
            if self._expanded > MAX_EXPANDED_NODES:
                raise _LimitExceeded(
                    f"aliases expand the document beyond {MAX_EXPANDED_NODES:,} values"
                )
            return node
        collection = self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent)
        if collection:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _LimitExceeded(f"nesting deeper than {MAX_DEPTH} levels")
        try:
            node = super().compose_node(parent, index)
        finally:
            if collection:
                self._depth -= 1
        if node is not None:
            self._expanded += 1
            if self._expanded > MAX_EXPANDED_NODES:
                raise _LimitExceeded(f"more than {MAX_EXPANDED_NODES:,} values")
            self._sizes[id(node)] = _size(node, self._sizes)
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key: the base class reports it
                break
            if duplicate:
                raise _LimitExceeded(
                    f"key {short_repr(key)} appears twice in one mapping "
                    f"(line {key_node.start_mark.line + 1}); each key may appear once"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _size(node: Node, sizes: dict[int, int]) -> int:
    if isinstance(node, ScalarNode):
        return 1
    if isinstance(node, SequenceNode):
        return 1 + sum(sizes.get(id(n), 1) for n in node.value)
    if isinstance(node, MappingNode):
        return 1 + sum(sizes.get(id(k), 1) + sizes.get(id(v), 1) for k, v in node.value)
    return 1


class ConfigSection(BaseModel):
    """Base of every section of an experiment file: frozen, unknown keys refused, no NaN or
    infinity, and no YAML boolean where a number goes (:func:`refuse_bool_numbers`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, raw: Any) -> Any:
        return refuse_bool_numbers(cls, raw)


def refuse_bool_numbers(model: type[BaseModel], raw: Any) -> Any:
    """A ``mode="before"`` check for a pydantic section: a YAML boolean (``rounds: true``)
    where the field takes numbers is an error (pydantic would read it as 1).

    Raises:
        ValueError: naming the key; pydantic reports it under the section's path.
    """
    if not isinstance(raw, dict):
        return raw
    for key, value in raw.items():
        info = model.model_fields.get(key) if isinstance(key, str) else None
        if info is None or not _numeric(info.annotation):
            continue
        if _holds_bool(value):
            raise ValueError(
                f"{key} takes numbers, got the boolean {short_repr(value)} (write a number)"
            )
    return raw


def _numeric(annotation: Any) -> bool:
    """True when the field takes numbers (possibly in a list/dict) and never a boolean or a
    nested section."""
    found: set[str] = set()

    def walk(a: Any) -> None:
        if a is bool:
            found.add("bool")
        elif a in (int, float):
            found.add("number")
        elif isinstance(a, type) and issubclass(a, BaseModel):
            found.add("section")
        for arg in get_args(a):
            walk(arg)

    walk(annotation)
    return found == {"number"}


def _holds_bool(value: Any, depth: int = 0) -> bool:
    if isinstance(value, bool):
        return True
    if depth >= 2:
        return False
    if isinstance(value, list):
        return any(_holds_bool(v, depth + 1) for v in value[:1000])
    if isinstance(value, dict):
        return any(_holds_bool(v, depth + 1) for v in list(value.values())[:1000])
    return False


def parse_yaml(text: str, *, source: str = "configuration") -> Any:
    """Parse YAML ``text`` within the limits; ``source`` names it in error messages."""
    if len(text.encode("utf-8", errors="replace")) > MAX_CONFIG_BYTES:
        raise InputError(f"{source} is larger than {MAX_CONFIG_BYTES // 1024} KiB; not read")
    loader = BoundedSafeLoader(text)
    try:
        return loader.get_single_data()
    except _LimitExceeded as exc:
        raise InputError(f"{source} refused: {exc}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{source} is not valid YAML: {_brief_yaml_error(exc)}") from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH stops nesting well before this
        raise InputError(f"{source} refused: nesting too deep") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Any:
    """Read and parse the YAML file ``path`` within the limits of this module.

    Raises:
        InputError: the file is missing, unreadable, too large, not UTF-8, not YAML, or
            breaks a limit; the message names the file and is short.
    """
    p = Path(path)
    try:
        size = os.stat(p).st_size
        if not p.is_file():
            raise InputError(f"configuration file {p} is not a regular file")
        if size > MAX_CONFIG_BYTES:
            raise InputError(
                f"configuration file {p} has {size:,} bytes; at most {MAX_CONFIG_BYTES:,} are read"
            )
        with p.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"configuration file {p} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read configuration file {p}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise InputError(f"configuration file {p} is larger than {MAX_CONFIG_BYTES:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"configuration file {p} is not UTF-8 text (byte {exc.start})") from None
    return parse_yaml(text, source=f"configuration file {p}")


def _brief_yaml_error(exc: yaml.YAMLError) -> str:
    """The problem and its line/column, without PyYAML's echo of the offending text."""
    if isinstance(exc, yaml.MarkedYAMLError):
        where = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        return short_repr(problem, 120).strip("'\"") + at
    return short_repr(str(exc), 120)
