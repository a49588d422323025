"""Atomic checkpoints of a federated simulation, and atomic writes of result files.

A checkpoint holds everything a run needs to continue bit-identically: the round reached,
the global parameters (one flat float32 vector), the strategy's server-optimizer state, the
state of every random generator, the per-round metrics so far, and a hash of the
configuration that produced them (so ``--resume`` can refuse a checkpoint from another
configuration), and a SHA-256 of all of that content (:func:`content_sha256`), so a damaged or
hand-edited checkpoint is refused instead of resumed. Non-finite parameters or optimizer
state (NaN, inf) are refused too, whatever the hash says.

Every write goes to a temporary file in the destination's directory, is flushed and
``fsync``-ed, then moved over the destination with :func:`os.replace` (atomic on POSIX), and
the directory is ``fsync``-ed. A crash at any instant leaves either the old file or the new
one, never a half-written file. Checkpoints are read with ``torch.load(weights_only=True)``:
tensors plus one JSON string, no arbitrary pickles.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from qtfl.errors import InputError

FORMAT = "qtfl-checkpoint/2"
"""Format tag; version 2 added ``content_sha256``."""
MAX_CHECKPOINT_BYTES = 4 << 30
"""Largest checkpoint file read (4 GiB)."""


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
        postprocessor_states: one JSON-ready mapping per privacy post-processor, in order
            (SecAgg+'s graph generator and its rounds' reports; empty for stateless ones).
    """

    round: int
    global_params: npt.NDArray[np.float32]
    strategy_state: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    rng_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: tuple[dict[str, Any], ...] = ()
    channel_states: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    postprocessor_states: tuple[dict[str, Any], ...] = ()


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
    meta_json = json.dumps(
        {
            "rng_states": state.rng_states,
            "metrics": list(state.metrics),
            "postprocessor_states": list(state.postprocessor_states),
        }
    )
    global_params = np.ascontiguousarray(state.global_params)
    strategy_state = {k: np.array(v) for k, v in state.strategy_state.items()}
    channel_states = {k: np.array(v) for k, v in state.channel_states.items()}
    payload = {
        "format": FORMAT,
        "round": int(state.round),
        "config_hash": config_hash,
        "global_params": torch.from_numpy(global_params),
        "strategy_state": {k: torch.from_numpy(v) for k, v in strategy_state.items()},
        "meta_json": meta_json,
        "channel_states": {k: torch.from_numpy(v) for k, v in channel_states.items()},
        "content_sha256": content_sha256(
            round=int(state.round),
            config_hash=config_hash,
            global_params=global_params,
            strategy_state=strategy_state,
            channel_states=channel_states,
            meta_json=meta_json,
        ),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def content_sha256(
    *,
    round: int,
    config_hash: str,
    global_params: npt.NDArray[Any],
    strategy_state: dict[str, npt.NDArray[Any]],
    channel_states: dict[str, npt.NDArray[Any]],
    meta_json: str,
) -> str:
    """SHA-256 over everything a checkpoint holds, in a canonical order: format, round,
    configuration hash, every array (name, dtype, shape, bytes; names sorted) and the JSON
    of random-generator states and metrics."""
    h = hashlib.sha256()

    def put(text: str) -> None:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little") + data)

    put(FORMAT)
    put(str(int(round)))
    put(config_hash)
    arrays = [("global_params", global_params)]
    arrays += [(f"strategy/{k}", v) for k, v in sorted(strategy_state.items())]
    arrays += [(f"channel/{k}", v) for k, v in sorted(channel_states.items())]
    for name, value in arrays:
        a = np.ascontiguousarray(value)
        put(f"{name}|{a.dtype.str}|{a.shape}")
        h.update(a.tobytes())
    put(meta_json)
    return h.hexdigest()


def load_checkpoint(path: str | Path) -> tuple[SimulationState, str]:
    """Read a checkpoint written by :func:`save_checkpoint`; returns ``(state, config_hash)``.

    Raises:
        InputError: the file is missing, empty, unreadable, not a qtfl checkpoint, altered
            after it was written (its content no longer matches ``content_sha256``), or holds
            NaN/inf parameters or optimizer state; the message names the file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"checkpoint {p} does not exist")
    fix = "delete it or use a new --out"
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise InputError(f"checkpoint {p} is unreadable ({exc.strerror}); {fix}") from None
    if size == 0:
        raise InputError(f"checkpoint {p} is empty (0 bytes); {fix}")
    if size > MAX_CHECKPOINT_BYTES:
        raise InputError(f"checkpoint {p} has {size:,} bytes, more than any qtfl checkpoint")
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
        state, config_hash, digest = _unpack(raw)
    except InputError as exc:
        raise InputError(f"checkpoint {p}: {exc}") from None
    except Exception as exc:  # any failure to parse an untrusted file means "damaged"
        reason = type(exc).__name__
        raise InputError(f"checkpoint {p} is unreadable ({reason}); {fix}") from None
    if digest != raw.get("content_sha256"):
        raise InputError(
            f"checkpoint {p} was altered after it was written (content SHA-256 mismatch); {fix}"
        )
    arrays = {"global_params": state.global_params, **state.strategy_state}
    arrays.update(state.channel_states)
    for name, value in arrays.items():
        if not np.all(np.isfinite(value)):
            raise InputError(f"checkpoint {p}: {name} holds NaN or infinite values; {fix}")
    return state, config_hash


def _unpack(raw: Any) -> tuple[SimulationState, str, str]:
    """The state, config hash and recomputed content hash of a ``torch.load``-ed payload."""
    if not isinstance(raw, dict) or not str(raw.get("format", "")).startswith("qtfl-checkpoint"):
        raise ValueError("not a qtfl checkpoint")
    if raw["format"] != FORMAT:
        raise InputError(
            f"format {str(raw['format'])[:40]!r} is not {FORMAT!r} (written by "
            "another qtfl version); start a new --out"
        )
    meta_json = raw["meta_json"]
    if not isinstance(meta_json, str):
        raise TypeError("meta_json")
    meta = json.loads(meta_json)

    def array(t: Any) -> npt.NDArray[Any]:
        if not isinstance(t, torch.Tensor):
            raise TypeError("tensor expected")
        return t.numpy().copy()

    global_params = array(raw["global_params"])
    if global_params.ndim != 1 or global_params.dtype != np.float32:
        raise ValueError("global_params must be a flat float32 vector")
    strategy_state = {str(k): array(v) for k, v in raw["strategy_state"].items()}
    channel_states = {str(k): array(v) for k, v in raw.get("channel_states", {}).items()}
    round_ = raw["round"]
    if isinstance(round_, bool) or not isinstance(round_, int) or round_ < 0:
        raise ValueError("round")
    rng_states, metrics = meta["rng_states"], meta["metrics"]
    if not isinstance(rng_states, dict) or not isinstance(metrics, list):
        raise TypeError("meta")
    if not all(isinstance(m, dict) for m in metrics):
        raise TypeError("metrics")
    posts = meta.get("postprocessor_states", [])
    if not isinstance(posts, list) or not all(isinstance(m, dict) for m in posts):
        raise TypeError("postprocessor_states")
    config_hash = raw["config_hash"]
    if not isinstance(config_hash, str):
        raise TypeError("config_hash")
    digest = content_sha256(
        round=round_,
        config_hash=config_hash,
        global_params=global_params,
        strategy_state=strategy_state,
        channel_states=channel_states,
        meta_json=meta_json,
    )
    state = SimulationState(
        round=round_,
        global_params=global_params,
        strategy_state=strategy_state,
        rng_states=rng_states,
        metrics=tuple(metrics),
        channel_states=channel_states,
        postprocessor_states=tuple(posts),
    )
    return state, config_hash, digest


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
