"""Atomic checkpoints: round trip, no half-written files, clear errors on bad files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from qtfl.errors import InputError
from qtfl.fl.checkpoint import (
    SimulationState,
    atomic_write_text,
    content_sha256,
    load_checkpoint,
    save_checkpoint,
)


def _state(round_: int = 3) -> SimulationState:
    rng = np.random.default_rng(1)
    rng.random(5)  # advance so the state is not the initial one
    return SimulationState(
        round=round_,
        global_params=np.linspace(-1, 1, 11, dtype=np.float32),
        strategy_state={"m": np.ones(11, np.float32), "v": np.full(11, 2.0, np.float32)},
        rng_states={"sampling": dict(rng.bit_generator.state)},
        metrics=({"round": 1, "accuracy": 0.5}, {"round": 2, "accuracy": None}),
    )


def test_round_trip_preserves_everything(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    state = _state()
    save_checkpoint(path, state, config_hash="abc")
    got, digest = load_checkpoint(path)
    assert digest == "abc"
    assert got.round == 3
    assert got.global_params.tobytes() == state.global_params.tobytes()
    assert set(got.strategy_state) == {"m", "v"}
    np.testing.assert_array_equal(got.strategy_state["v"], state.strategy_state["v"])
    assert got.metrics == state.metrics
    # the restored generator continues exactly where the saved one stood
    a = np.random.default_rng()
    a.bit_generator.state = got.rng_states["sampling"]
    b = np.random.default_rng()
    b.bit_generator.state = state.rng_states["sampling"]
    assert a.random() == b.random()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, _state(1), config_hash="h")
    old = path.read_bytes()

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _state(2), config_hash="h")
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


def test_atomic_text_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    atomic_write_text(path, "first\n")
    atomic_write_text(path, "second\n")
    assert path.read_text() == "second\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_bad_files_raise_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="is unreadable"):
        load_checkpoint(junk)


def _resave(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Hand-edit a checkpoint the way a user could: load, change, save with torch."""
    raw = torch.load(path, weights_only=True)
    edit(raw)
    torch.save(raw, path)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda raw: raw.__setitem__(key, value)


def _scale_params(raw: dict[str, Any]) -> None:
    raw["global_params"] = raw["global_params"] * 2


def _strategy_nan(raw: dict[str, Any]) -> None:
    raw["strategy_state"]["m"] = torch.full((11,), float("nan"))


def _nan_params_with_valid_hash(raw: dict[str, Any]) -> None:
    params = torch.full((11,), float("nan"))
    raw["global_params"] = params
    raw["content_sha256"] = content_sha256(
        round=raw["round"],
        config_hash=raw["config_hash"],
        global_params=params.numpy(),
        strategy_state={k: v.numpy() for k, v in raw["strategy_state"].items()},
        channel_states={k: v.numpy() for k, v in raw["channel_states"].items()},
        meta_json=raw["meta_json"],
    )


HAND_EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    # the config hash stays valid in every case: only the content changed
    "params scaled": (_scale_params, "altered after it was written"),
    "round changed": (_set("round", 1), "altered"),
    "round negative": (_set("round", -4), "unreadable"),
    "round a string": (_set("round", "3"), "unreadable"),
    "meta not json": (_set("meta_json", "{oops"), "unreadable"),
    "meta replaced": (_set("meta_json", '{"rng_states": {}, "metrics": []}'), "altered"),
    "params 2-d": (_set("global_params", torch.zeros(11, 2)), "unreadable"),
    "params float64": (_set("global_params", torch.zeros(11, dtype=torch.float64)), "unreadable"),
    "strategy NaN": (_strategy_nan, "altered"),
    "hash removed": (lambda raw: raw.pop("content_sha256"), "altered"),
    "key missing": (lambda raw: raw.pop("meta_json"), "unreadable"),
    "all-NaN params, hash recomputed": (_nan_params_with_valid_hash, "NaN or infinite"),
    "old format": (_set("format", "qtfl-checkpoint/1"), "another qtfl version"),
}


@pytest.mark.parametrize("case", sorted(HAND_EDITS))
def test_hand_edited_checkpoints_are_refused(tmp_path: Path, case: str) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, _state(), config_hash="valid-hash")
    edit, match = HAND_EDITS[case]
    _resave(path, edit)
    with pytest.raises(InputError, match=match) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_an_empty_checkpoint_is_an_error_naming_it(tmp_path: Path) -> None:
    # it used to surface as EOFError, which click turned into "aborted" and exit 130
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="is empty"):
        load_checkpoint(path)


def test_the_content_hash_covers_every_array(tmp_path: Path) -> None:
    state = _state()
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, state, config_hash="h")
    raw = torch.load(path, weights_only=True)
    parts = {
        "round": raw["round"],
        "config_hash": "h",
        "global_params": state.global_params,
        "strategy_state": dict(state.strategy_state),
        "channel_states": {},
        "meta_json": raw["meta_json"],
    }
    assert raw["content_sha256"] == content_sha256(**parts)
    flipped = dict(parts, strategy_state={**state.strategy_state, "v": np.zeros(11, np.float32)})
    assert content_sha256(**flipped) != raw["content_sha256"]
