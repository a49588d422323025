"""Atomic checkpoints: round trip, no half-written files, clear errors on bad files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.fl.checkpoint import (
    SimulationState,
    atomic_write_text,
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
