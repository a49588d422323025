"""The bounded YAML loader and the config limits: every hostile file is one short InputError."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from qtfl.errors import InputError, short_repr
from qtfl.experiments.config import MAX_ROUNDS, load_config, parse_config
from qtfl.experiments.loader import MAX_ALIASES, MAX_DEPTH, load_yaml, parse_yaml


def alias_bomb(levels: int = 9, fan: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * fan)}]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    lines.append(f"seed: *a{levels}")
    return "\n".join(lines) + "\n"


def refused_quickly(path: Path, match: str, *, max_chars: int = 200) -> str:
    # CPU seconds of this process: the bound is on the loader's work, which other processes
    # on a shared machine do not change (wall time does)
    t0 = time.process_time()
    with pytest.raises(InputError, match=match) as info:
        load_config(path)
    elapsed = time.process_time() - t0
    message = str(info.value)
    assert elapsed < 1.0, f"took {elapsed:.2f} CPU s"
    assert len(message) < max_chars, message
    return message


def test_alias_bomb_is_refused_in_under_a_second_with_a_short_message(tmp_path: Path) -> None:
    p = tmp_path / "bomb.yaml"
    p.write_text(alias_bomb())
    refused_quickly(p, "aliases")


def test_five_megabyte_string_is_refused_in_under_a_second(tmp_path: Path) -> None:
    p = tmp_path / "big.yaml"
    p.write_text("seed: '" + "x" * 5_000_000 + "'\n")
    message = refused_quickly(p, "bytes")
    assert "xxxxxxxxxx" not in message


def test_a_long_value_inside_the_size_cap_is_echoed_at_most_80_characters(tmp_path: Path) -> None:
    p = tmp_path / "long.yaml"
    p.write_text("data: {name: '" + "x" * 200_000 + "'}\n")
    with pytest.raises(InputError, match="data set") as info:
        load_config(p)
    assert str(info.value).count("x") <= 80


def test_nesting_50000_deep_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    p = tmp_path / "deep.yaml"
    p.write_text("seed: " + "[" * 50_000 + "]" * 50_000 + "\n")
    refused_quickly(p, f"deeper than {MAX_DEPTH}")


def test_few_aliases_still_work_and_many_are_refused() -> None:
    ok = parse_yaml("base: &b {kind: plain, latency_s: 0.5}\nchannel: *b\n")
    assert ok["channel"] == {"kind": "plain", "latency_s": 0.5}
    many = "x: &x 1\ny: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(InputError, match=f"more than {MAX_ALIASES} aliases"):
        parse_yaml(many)


def test_duplicate_keys_are_refused_but_merge_keys_may_override(tmp_path: Path) -> None:
    p = tmp_path / "dup.yaml"
    p.write_text("training: {rounds: 3}\ntraining: {rounds: 4}\n")
    with pytest.raises(InputError, match="'training' appears twice"):
        load_config(p)
    with pytest.raises(InputError, match="'rounds' appears twice"):
        parse_yaml("training: {rounds: 3, rounds: 4}\n")
    merged = parse_yaml("base: &b {rounds: 3, lr: 0.1}\ntraining: {<<: *b, rounds: 5}\n")
    assert merged["training"] == {"rounds": 5, "lr": 0.1}


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"training": {"rounds": True}}, "rounds takes numbers, got the boolean True"),
        ({"training": {"lr": False}}, "lr takes numbers"),
        ({"model": {"hidden": [32, True]}}, "hidden takes numbers"),
        ({"channel": {"kind": "teleport", "link": {"fidelity": True}}}, "fidelity takes"),
        ({"strategy": {"name": "fedavg", "params": {"server_lr": True}}}, "params takes"),
    ],
)
def test_booleans_where_numbers_go_are_refused(raw: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        parse_config(raw)


def test_booleans_where_booleans_go_still_work() -> None:
    cfg = parse_config({"privacy": {"secure_aggregation": True}, "compression": {"kind": "topk"}})
    assert cfg.privacy.secure_aggregation is True


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"training": {"batch_size": 1e12}}, "training.batch_size"),  # was a MemoryError
        ({"training": {"local_epochs": 1e9}}, "training.local_epochs"),  # was a MemoryError
        ({"training": {"rounds": 1e40}}, "training.rounds"),  # ran until killed
        ({"training": {"rounds": MAX_ROUNDS + 1}}, "training.rounds"),
        ({"training": {"lr": 1e300}}, "training.lr"),  # overflowed mid-run
        ({"training": {"lr": float("nan")}}, "training.lr"),
        ({"data": {"num_clients": 10**9}}, "data.num_clients"),
        ({"model": {"hidden": 10**6}}, "model.hidden"),
        ({"model": {"hidden": [8] * 100}}, "model.hidden"),
        ({"data": {"name": "qdataset", "qdataset": {"examples": 10**8}}}, "examples"),
        ({"seed": 2**70}, "seed"),
        ({"evaluation": {"every": 10**9}}, "evaluation.every"),
    ],
)
def test_every_size_like_field_has_a_maximum(raw: dict, field: str) -> None:
    with pytest.raises(InputError, match=field) as info:
        parse_config(raw)
    assert len(str(info.value)) < 300


def test_a_distance_whose_transmissivity_underflows_is_refused_before_any_output() -> None:
    raw = {
        "channel": {
            "kind": "teleport",
            "link": {"distance_km": 1e6, "source_rate_hz": 1e6, "source_fidelity": 0.95},
        }
    }
    with pytest.raises(InputError, match="no pair would arrive"):
        parse_config(raw)
    raw["channel"]["link"]["distance_km"] = 50.0  # type: ignore[index]
    assert parse_config(raw).channel.kind == "teleport"


def test_short_repr_bounds_any_value() -> None:
    assert len(short_repr("y" * 10**6)) <= 80
    assert len(short_repr(10**5000)) <= 80  # beyond Python's int->str digit limit
    shared: list = ["z"] * 10
    for _ in range(30):
        shared = [shared] * 10
    assert len(short_repr(shared)) <= 80


def test_missing_unreadable_and_binary_files_are_one_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_yaml(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="not a regular file"):
        load_yaml(tmp_path)
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not UTF-8"):
        load_yaml(p)
    p.write_text("a: [1, 2\n")
    with pytest.raises(InputError, match=r"not valid YAML.*line"):
        load_yaml(p)


@pytest.mark.parametrize(
    "raw",
    [
        {"channel": {"kind": "k" * 100_000}},
        {"training": {"z" * 100_000: 1}},
        {"scenarios": [{"name": "a", "uplink": {"kind": "plain", "q" * 100_000: 1}}]},
        {"strategy": {"name": "fedavg", "params": {"p" * 100_000: "x"}}},
        {"training": {f"unknown{i}": i for i in range(5_000)}},
    ],
)
def test_long_keys_values_and_many_problems_give_a_short_message(raw: dict) -> None:
    with pytest.raises(InputError) as info:
        parse_config(raw)
    assert len(str(info.value)) < 2_000, str(info.value)[:300]
