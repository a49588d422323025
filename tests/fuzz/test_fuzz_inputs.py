"""Fuzzing the input boundary (hypothesis, derandomized so the suite is reproducible).

Every input is either accepted or refused with exactly one :class:`InputError`; any other
exception (KeyError, RecursionError, MemoryError, ZeroDivisionError...) fails the test.
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from qtfl.data.cifar import _read_binary_batch, _read_python_batch
from qtfl.data.idx import read_idx
from qtfl.errors import InputError
from qtfl.experiments.config import ExperimentConfig, parse_config
from qtfl.experiments.loader import parse_yaml

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
BASES: list[dict[str, Any]] = [
    yaml.safe_load((CONFIGS / name).read_text())
    for name in ("quickstart.yaml", "privacy.yaml", "qdataset.yaml")
]
BASES.append(
    {
        "data": {"name": "digits", "num_clients": 4, "partition": "dirichlet"},
        "training": {"rounds": 2, "batch_size": 8, "dropout_probability": 0.1},
        "strategy": {"name": "fedyogi", "params": {"server_lr": 0.03}},
        "compression": {"kind": "topk", "ratio": 0.2},
        "channel": {"kind": "aead", "latency_s": 0.1},
    }
)

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 2**31, 2**63, 1e300, 1e-300, 0.5, 1e6, 1e40]),
    st.text(max_size=20),
    st.sampled_from(["teleport", "qkd-otp", "plain", "aead", "auto", "mnist", "bbpssw", "x" * 500]),
    st.lists(st.integers(min_value=-5, max_value=10**7), max_size=4),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[str, Any]:
    raw = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(raw) if p]
        path = draw(st.sampled_from(paths))
        parent = raw
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["rounds", "bits", "kind", "zzz", "fidelity"]))] = draw(
                values
            )
    return raw


@FUZZ
@given(raw=mutated_configs())
def test_mutated_configs_are_valid_or_one_input_error(raw: dict[str, Any]) -> None:
    try:
        cfg = parse_config(raw)
    except InputError as exc:
        assert str(exc)
        return
    assert isinstance(cfg, ExperimentConfig)
    cfg.resolved_scenarios()  # an accepted config also resolves


@FUZZ
@given(base=st.sampled_from(BASES), data=st.data())
def test_mutated_yaml_text_is_valid_or_one_input_error(base: dict[str, Any], data: Any) -> None:
    text = bytearray(yaml.safe_dump(base).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        i = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        byte = data.draw(st.sampled_from(list(b"&*[]{}:-,!|>'\"#\n 01e.x")))
        if op == "flip":
            text[i] = byte
        elif op == "insert":
            text.insert(i, byte)
        else:
            del text[i]
    try:
        raw = parse_yaml(text.decode("utf-8", errors="replace"))
        cfg = parse_config(raw if raw is not None else {})
    except InputError:
        return
    assert isinstance(cfg, ExperimentConfig)


def _write(tmp: Path, name: str, content: bytes) -> Path:
    p = tmp / name
    p.write_bytes(content)
    return p


@settings(max_examples=200, deadline=None, derandomize=True)
@given(content=st.binary(max_size=4096))
def test_random_bytes_as_idx_are_an_array_or_one_input_error(
    tmp_path_factory: Any, content: bytes
) -> None:
    p = _write(tmp_path_factory.mktemp("idx"), "f-idx", content)
    try:
        read_idx(p)
    except InputError as exc:
        assert str(p) in str(exc)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    type_code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]),
    dims=st.lists(st.integers(min_value=0, max_value=2**32 - 1), min_size=1, max_size=5),
    body=st.binary(max_size=256),
    gz=st.booleans(),
)
def test_idx_headers_with_any_dimensions_are_safe(
    tmp_path_factory: Any, type_code: int, dims: list[int], body: bytes, gz: bool
) -> None:
    import gzip
    import struct

    content = bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + body
    p = _write(tmp_path_factory.mktemp("idx"), "h-idx", gzip.compress(content) if gz else content)
    try:
        arr = read_idx(p)
    except InputError as exc:
        assert str(p) in str(exc)
        return
    assert arr.shape == tuple(dims)


GOOD_BATCH = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}, protocol=2)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(content=st.binary(max_size=4096), data=st.data())
def test_random_and_mutated_cifar_batches_are_data_or_one_input_error(
    tmp_path_factory: Any, content: bytes, data: Any
) -> None:
    mutated = bytearray(GOOD_BATCH)
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        i = data.draw(st.integers(min_value=0, max_value=len(mutated) - 1))
        mutated[i] = data.draw(st.integers(min_value=0, max_value=255))
    tmp = tmp_path_factory.mktemp("cifar")
    for name, blob in (("random", content), ("mutated", bytes(mutated))):
        for read in (_read_python_batch, _read_binary_batch):
            p = _write(tmp, name, blob)
            try:
                x, y = read(p)
            except InputError as exc:
                assert str(p) in str(exc)
                continue
            assert x.shape[1:] == (3, 32, 32) and y.shape == (x.shape[0],)


def _accepted(raw: dict[str, Any]) -> bool:
    try:
        parse_config(raw)
    except InputError:
        return False
    return True


def test_the_config_fuzzer_reaches_both_outcomes() -> None:
    # a fuzzer that only ever produced valid (or only invalid) configs would prove little
    quick = settings(max_examples=300, derandomize=True, database=None)
    assert _accepted(find(mutated_configs(), _accepted, settings=quick))
    assert not _accepted(find(mutated_configs(), lambda r: not _accepted(r), settings=quick))
