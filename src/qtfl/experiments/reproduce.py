"""The paper's evaluation in one call: every data set x every channel, over seeds.

``qtfl reproduce paper --out DIR`` runs Section 5 of Khan 2024 (arXiv:2412.20762) from the
shipped configurations ``configs/paper/<dataset>.yaml`` — one ordinary experiment per data
set (:func:`qtfl.experiments.runner.run_experiment`, with ``seeds:``) into ``DIR/<dataset>/``
— then writes the paper-style report ``DIR/report.html`` (:mod:`qtfl.experiments.paper_report`)
and ``DIR/reproduce.json`` (what ran, what was skipped, the wall time per data set).

Every configuration compares the same scenarios: classical plaintext, AES-GCM (``aead``),
post-quantum hybrid key exchange (``pqc``), teleportation raw / with FEC / purified with FEC
and QKD-keyed one-time pad (purified) on the Shen 2023 link (the preset that publishes a pair
rate, so link time is real), raw teleportation on a direct F = 0.95 pair, intercept-resend
eavesdroppers on 20% of the clients at fractions 0.05, 0.25 and 1, and sign-flip poisoning
over a classical and a teleported uplink; every scenario is attacked afterwards (gradient
inversion by the wire tap and by the curious server, membership inference).

``--quick`` runs ``configs/paper/quick.yaml`` (digits, fewer rounds and seeds). A data set
whose files are absent (its loader raises :class:`~qtfl.errors.InputError`) is skipped with
the command that fetches it; the report lists it. ``--resume`` continues an interrupted
reproduction: finished data sets are kept, an interrupted one resumes from its checkpoints.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from qtfl.errors import InputError, require_choice
from qtfl.network.presets import PRESETS

#: Data sets of the paper's evaluation, in the order they run (``quick`` is digits, short).
PAPER_DATASETS: tuple[str, ...] = ("digits", "fashion-mnist", "mnist", "cifar10", "qdataset")
QUICK = "quick"
#: Data sets read from files a user may not have, and how to get them.
FETCH_COMMANDS: Mapping[str, str] = {
    "fashion-mnist": "qtfl data fetch fashion-mnist (or apt-get install dataset-fashion-mnist)",
    "mnist": "qtfl data fetch mnist",
    "cifar10": "qtfl data fetch cifar10",
}
DEFAULT_PRESET = "shen2023"
RESULT_FILE = "reproduce.json"


def timed_presets() -> tuple[str, ...]:
    """Presets that publish both a teleportation fidelity and a rate (link time is real)."""
    return tuple(
        name
        for name, p in PRESETS.items()
        if p.teleport_rate_hz is not None and p.teleport_fidelity is not None
    )


def default_config_dir() -> Path:
    """``configs/paper`` of the source tree this module belongs to."""
    return Path(__file__).resolve().parents[3] / "configs" / "paper"


@dataclass(frozen=True)
class DatasetOutcome:
    """What happened to one data set: ``ran`` (with wall seconds) or ``skipped`` (why, how
    to fetch it)."""

    dataset: str
    status: str
    run_dir: str | None = None
    wall_seconds: float | None = None
    rounds: int | None = None
    seeds: tuple[int, ...] = ()
    reason: str | None = None
    fetch: str | None = None


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _with_preset(node: Any, preset: str) -> Any:
    """Every ``{preset: shen2023}`` link of the configuration switched to ``preset``."""
    if isinstance(node, dict):
        return {
            k: (preset if k == "preset" and v == DEFAULT_PRESET else _with_preset(v, preset))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_with_preset(v, preset) for v in node]
    return node


def paper_config(
    name: str,
    *,
    config_dir: Path | None = None,
    preset: str = DEFAULT_PRESET,
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """The :class:`~qtfl.experiments.config.ExperimentConfig` of data set ``name`` (or
    ``quick``), with ``overrides`` merged into its YAML mapping (keys replace, mappings merge)."""
    from qtfl.experiments.config import parse_config

    folder = default_config_dir() if config_dir is None else Path(config_dir)
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise InputError(
            f"paper configuration {path} not found; pass the folder holding "
            f"{', '.join(PAPER_DATASETS)}.yaml and quick.yaml (--configs DIR)"
        )
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw = _merge(_with_preset(raw, preset), overrides or {})
    try:
        return parse_config(raw)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def dataset_absence(config: Any) -> str | None:
    """Why the data set of ``config`` cannot be loaded (its loader's message), else None.

    Only file-backed data sets are probed; ``digits`` is bundled and ``qdataset`` generated.
    """
    name = config.data.name
    if name not in FETCH_COMMANDS:
        return None
    from qtfl.data import load_dataset

    try:
        load_dataset(name, root=config.data.root)
    except InputError as exc:
        return str(exc)
    return None


def reproduce_paper(
    *,
    out_dir: str | Path,
    quick: bool = False,
    resume: bool = False,
    datasets: Sequence[str] | None = None,
    preset: str = DEFAULT_PRESET,
    config_dir: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Run the paper's evaluation into ``out_dir`` and write its report; return the result.

    Args:
        out_dir: output folder (new or empty unless ``resume``).
        quick: digits only, from ``quick.yaml`` (fewer rounds and seeds).
        resume: continue a reproduction interrupted in ``out_dir``.
        datasets: which of :data:`PAPER_DATASETS` to run (default: all; ``quick``: digits).
        preset: link preset of the quantum scenarios; one of :func:`timed_presets`.
        config_dir: folder of the configurations (default ``configs/paper``).
        overrides: per data set (or ``"*"`` for all), a mapping merged into its YAML.
        progress: the runner's progress callback, called with ``"<dataset>/<scenario>"``.

    Raises:
        InputError: unknown data set or preset (the message names the allowed ones), an
            output folder holding other results without ``resume``, an invalid configuration.
    """
    allowed = timed_presets()
    require_choice("preset", preset, tuple(PRESETS))
    if preset not in allowed:
        raise InputError(
            f"preset {preset!r} publishes no pair rate (or no fidelity), so link time would be "
            f"unknown; presets with a published rate: {', '.join(allowed)}"
        )
    names = list(datasets) if datasets else (["digits"] if quick else list(PAPER_DATASETS))
    for n in names:
        require_choice("data set", n, PAPER_DATASETS)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    if not resume and out.is_dir() and any(out.iterdir()):
        raise InputError(
            f"output directory {out} is not empty; pass --resume to continue that "
            "reproduction or choose a new --out"
        )
    extra = overrides or {}
    configs = {
        n: paper_config(
            QUICK if quick and n == "digits" else n,
            config_dir=None if config_dir is None else Path(config_dir),
            preset=preset,
            overrides=_merge(dict(extra.get("*", {})), extra.get(n, {})),
        )
        for n in names
    }
    from qtfl.experiments.paper_report import write_paper_report
    from qtfl.fl.checkpoint import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    earlier = _earlier_rows(out) if resume else {}
    outcomes: list[DatasetOutcome] = []
    result: dict[str, Any] = {}
    for n in names:
        outcomes.append(
            _run_dataset(n, configs[n], out, resume=resume, progress=progress, earlier=earlier)
        )
        result = {
            "quick": quick,
            "preset": preset,
            "datasets": [asdict(o) for o in outcomes],
            "skipped": [o.dataset for o in outcomes if o.status == "skipped"],
        }
        atomic_write_text(out / RESULT_FILE, json.dumps(result, indent=2) + "\n")
    result["report"] = str(write_paper_report(out))
    return result


def _run_dataset(
    name: str,
    config: Any,
    out: Path,
    *,
    resume: bool,
    progress: Callable[..., None] | None,
    earlier: Mapping[str, Mapping[str, Any]],
) -> DatasetOutcome:
    from qtfl.experiments.runner import run_experiment

    why = dataset_absence(config)
    if why is not None:
        return DatasetOutcome(
            dataset=name, status="skipped", reason=why, fetch=FETCH_COMMANDS[name]
        )
    sub = out / name
    done = sub / "summary.json"
    previous = earlier.get(name, {}).get("wall_seconds")
    finished = done.is_file() and (
        json.loads(done.read_text(encoding="utf-8")).get("config_hash") == config.config_hash()
    )
    seeds = tuple(config.seeds or (config.seed,))
    if resume and finished:
        wall = previous
    else:
        labelled = None
        if progress is not None:
            labelled = lambda sc, rec, total: progress(f"{name}/{sc}", rec, total)  # noqa: E731
        t0 = time.perf_counter()
        run_experiment(config, out_dir=sub, resume=resume and sub.is_dir(), progress=labelled)
        wall = time.perf_counter() - t0 + (previous or 0.0)
    return DatasetOutcome(
        dataset=name,
        status="ran",
        run_dir=name,
        wall_seconds=wall,
        rounds=config.training.rounds,
        seeds=seeds,
    )


def _earlier_rows(out: Path) -> dict[str, dict[str, Any]]:
    """Per data set, the row an earlier (interrupted or finished) invocation recorded."""
    path = out / RESULT_FILE
    if not path.is_file():
        return {}
    rows = json.loads(path.read_text(encoding="utf-8")).get("datasets", [])
    return {row["dataset"]: row for row in rows if isinstance(row, dict) and "dataset" in row}
