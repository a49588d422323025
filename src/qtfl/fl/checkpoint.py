"""Atomic checkpoints of a federated simulation, and atomic writes of result files.

A checkpoint holds everything a run needs to continue bit-identically: the round reached,
the global parameters (one flat float32 vector), the strategy's server-optimizer state, the
state of every random generator, the per-round metrics so far, and a hash of the
configuration that produced them (so ``--resume`` can refuse a checkpoint from another
configuration).

Every write goes to a temporary file in the destination's directory, is flushed and
``fsync``-ed, then moved over the destination with :func:`os.replace` (atomic on POSIX), and
the directory is ``fsync``-ed. A crash at any instant leaves either the old file or the new
one, never a half-written file. Checkpoints are read with ``torch.load(weights_only=True)``:
tensors plus one JSON string, no arbitrary pickles.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from qtfl.errors import InputError

FORMAT = "qtfl-checkpoint/1"


@dataclass(frozen=True)
class SimulationState:
    """What a simulation needs to continue after round ``round``.

    Attributes:
        round: rounds completed (0 before the first).
        global_params: flat float32 global model parameters.
        strategy_state: server-optimizer arrays (empty for stateless strategies).
        rng_states: ``numpy`` bit-generator state of every named random stream.
        metrics: one JSON-ready mapping per completed round.
        channel_states: arrays stateful channels carry between sends, keyed
            ``"uplink/<client>/<name>"`` (e.g. error-feedback residuals).
    """

    round: int
    global_params: npt.NDArray[np.float32]
    strategy_state: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    rng_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: tuple[dict[str, Any], ...] = ()
    channel_states: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same dir, fsync, replace)."""
    dest = Path(path)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(dest.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_checkpoint(path: str | Path, state: SimulationState, *, config_hash: str) -> None:
    """Atomically write ``state`` (tagged with ``config_hash``) to ``path``."""
    payload = {
        "format": FORMAT,
        "round": int(state.round),
        "config_hash": config_hash,
        "global_params": torch.from_numpy(np.ascontiguousarray(state.global_params)),
        "strategy_state": {
            k: torch.from_numpy(np.array(v)) for k, v in state.strategy_state.items()
        },
        "meta_json": json.dumps({"rng_states": state.rng_states, "metrics": list(state.metrics)}),
        "channel_states": {
            k: torch.from_numpy(np.array(v)) for k, v in state.channel_states.items()
        },
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> tuple[SimulationState, str]:
    """Read a checkpoint written by :func:`save_checkpoint`; returns ``(state, config_hash)``.

    Raises:
        InputError: the file is missing, unreadable or not a qtfl checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"checkpoint {p} does not exist")
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError("not a qtfl checkpoint")
        meta = json.loads(raw["meta_json"])
        state = SimulationState(
            round=int(raw["round"]),
            global_params=raw["global_params"].numpy().astype(np.float32, copy=True),
            strategy_state={k: v.numpy().copy() for k, v in raw["strategy_state"].items()},
            rng_states=meta["rng_states"],
            metrics=tuple(meta["metrics"]),
            channel_states={k: v.numpy().copy() for k, v in raw.get("channel_states", {}).items()},
        )
        return state, str(raw["config_hash"])
    except (
        OSError,
        RuntimeError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        pickle.PickleError,
    ) as exc:
        raise InputError(
            f"checkpoint {p} is unreadable ({exc}); delete it or use a new --out"
        ) from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
