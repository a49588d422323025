"""``qtfl bench channel``: what secure channels cost an FL round, measured on a shared machine.

Two parts.

**Round ratio.** Two scenarios of an experiment file (by default the quickstart's
``teleport-corrected`` and ``classical``) are built exactly as ``qtfl run`` builds them
(:func:`~qtfl.experiments.runner.build_simulation`) and run round by round *interleaved*
(A B A B ...), after one untimed warm-up round each (imports, code construction). Per pair
of rounds the ratio A/B of wall seconds is taken; ``ratio_round_seconds`` gives its minimum,
median and maximum with every pair's value, and the raw round seconds of both sides. The
rounds run in this process (one torch and one BLAS thread) unless ``workers`` > 1 gives
them a :class:`~qtfl.fl.parallel.ChannelPool`. ``decode_share`` is the part of A's timed
rounds spent in :meth:`qtfl.channel.fec.FecCodec.decode_blocks` (LDPC decoding plus CRC
check), timed by wrapping that method for the duration of the bench (``None`` with
``workers`` > 1, where an in-process twin of A also decodes).

**Seconds per update** for the paper's model — the Fashion-MNIST MLP 784-128-10, 101,770
parameters x 16 bits = 1,628,320 payload bits — as a synthetic update (normal, std 0.01:
the channels' cost does not depend on the values), through Werner-pair links of fidelity
F = 0.99 / 0.95 / 0.90: teleportation with FEC (``fec: auto``) and without, and the
QKD-keyed one-time pad (BBM92, LDPC reconciliation). Channels are built by the same
configuration classes a run uses (check fraction 0.1, alpha 0.01); each gets one untimed
small send first, then the configurations take turns (interleaved) for ``update_repeats``
timed sends each. ``ratio_qkd_otp_to_teleport_fec`` gives, per fidelity, QKD-OTP's seconds
over teleportation-with-FEC's for each interleaved pair (min, median, max, every pair) and
the ratio of the two medians. Teleportation with FEC has two modes at F = 0.95 (an update
with a block no decoder solves costs the flooding pass and a resend, about twice the
time), so a few repeats can land the median in either: the default is 9.

Both parts report the machine's load averages before and after (:mod:`qtfl.benchmarking`).
Figures depend on the machine and its load; they are measurements, not tests.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from qtfl.benchmarking import interleave, machine_load, ratio_stats
from qtfl.channel import Channel
from qtfl.channel.fec import FecCodec
from qtfl.errors import InputError, require_int, require_range
from qtfl.experiments.channels import LinkConfig, QkdOtpChannelConfig, TeleportChannelConfig
from qtfl.experiments.config import load_config
from qtfl.experiments.runner import build_simulation, prepare_inputs
from qtfl.fl.parallel import ChannelPool

#: Parameters of the paper's model, the MLP 784-128-10: 784*128 + 128 + 128*10 + 10.
PAPER_MODEL_PARAMS = 101_770
PAPER_FIDELITIES: tuple[float, ...] = (0.99, 0.95, 0.90)
ENCODING_BITS = 16


@contextmanager
def _timed_method(cls: type, name: str) -> Iterator[list[float]]:
    """Accumulate the seconds spent in ``cls.name`` while the context is open."""
    spent = [0.0]
    original = getattr(cls, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t0

    setattr(cls, name, timed)
    try:
        yield spent
    finally:
        setattr(cls, name, original)


def round_ratio(
    *,
    config: str | Path,
    scenario: str = "teleport-corrected",
    baseline: str = "classical",
    rounds: int = 6,
    workers: int = 1,
) -> dict[str, Any]:
    """Interleaved rounds of ``scenario`` and ``baseline`` of ``config``; see the module notes.

    ``workers`` > 1 sends A's uplinks through a :class:`~qtfl.fl.parallel.ChannelPool` of
    that many processes, started (and waited for) before the warm-up rounds, used as
    ``qtfl run`` uses it (only for channels slow enough to gain); a twin of A sending
    in-process then joins the interleaving (pooled A, in-process A, B, ...), and
    ``workers_speedup`` gives the per-round ratio in-process / pooled seconds.
    """
    path = Path(config)
    if not path.is_file():
        raise InputError(f"--config {path} is not a file; give an experiment file (YAML)")
    cfg = load_config(path)
    n = require_int("rounds", rounds, low=1)
    if n + 1 > cfg.training.rounds:
        raise InputError(
            f"rounds must be at most {cfg.training.rounds - 1} for {path} "
            f"(training.rounds {cfg.training.rounds}, one warm-up round), got {n}"
        )
    described = {sc.name: sc for sc in cfg.resolved_scenarios()}
    for name in (scenario, baseline):
        if name not in described:
            raise InputError(
                f"scenario {name!r} is not in {path}; its scenarios: " + ", ".join(described)
            )
    inputs = prepare_inputs(cfg)
    twin = f"{scenario} in-process"
    with ChannelPool(workers=require_int("workers", workers, low=1)) as pool:
        pool.start(modules=["qtfl.channel.teleportation", "qtfl.channel.qkd"], wait=True)
        sims = {scenario: build_simulation(cfg, inputs, described[scenario], channel_pool=pool)}
        if pool.workers > 1:
            sims[twin] = build_simulation(cfg, inputs, described[scenario])
        sims[baseline] = build_simulation(cfg, inputs, described[baseline], channel_pool=pool)
        warm_up = {}
        for name, sim in sims.items():
            t0 = time.perf_counter()
            sim.run_round()
            warm_up[name] = time.perf_counter() - t0
        with _timed_method(FecCodec, "decode_blocks") as decoding:
            times = interleave({name: sim.run_round for name, sim in sims.items()}, repeats=n)
        pooled = pool.pooled_sends
    decode_seconds = decoding[0]
    ratio = ratio_stats(times[scenario], times[baseline])
    parallel: dict[str, Any] = {}
    if twin in times:
        speedup = ratio_stats(times[twin], times[scenario])
        parallel = {
            "workers_speedup": {k: speedup[k] for k in ("min", "median", "max")},
            "in_process_round_seconds": times[twin],
        }
    return {
        "config": str(path),
        "scenario": scenario,
        "baseline": baseline,
        "timed_round_pairs": n,
        "ratio_round_seconds": {k: ratio[k] for k in ("min", "median", "max")},
        "ratio_pairs": ratio["pairs"],
        "scenario_round_seconds": times[scenario],
        "baseline_round_seconds": times[baseline],
        "scenario_median_round_seconds": statistics.median(times[scenario]),
        "baseline_median_round_seconds": statistics.median(times[baseline]),
        "warm_up_round_seconds": warm_up,
        "workers": pool.workers,
        "pooled_sends": pooled,
        **parallel,
        "decode_seconds": decode_seconds if not parallel else None,
        "decode_share": decode_seconds / sum(times[scenario]) if not parallel else None,
    }


def update_channels(fidelity: float) -> dict[str, Callable[[], Channel]]:
    """The per-update configurations at one Werner-pair fidelity, as run configs build them."""
    link = LinkConfig(fidelity=fidelity, pair_rate_hz=1.0e6, latency_s=0.0)

    def teleport(fec: str) -> Callable[[], Channel]:
        return lambda: TeleportChannelConfig(
            kind="teleport", link=link, bits=ENCODING_BITS, fec=fec
        ).build()

    return {
        f"teleport-fec F={fidelity}": teleport("auto"),
        f"teleport-raw F={fidelity}": teleport("none"),
        f"qkd-otp F={fidelity}": lambda: QkdOtpChannelConfig(
            kind="qkd-otp", link=link, bits=ENCODING_BITS
        ).build(),
    }


def update_seconds(
    *,
    fidelities: Sequence[float] = PAPER_FIDELITIES,
    repeats: int = 2,
    params: int = PAPER_MODEL_PARAMS,
    seed: int = 0,
) -> dict[str, Any]:
    """Seconds per paper-size update per channel configuration; see the module notes."""
    reps = require_int("update_repeats", repeats, low=1)
    size = require_int("params", params, low=1)
    rng = np.random.default_rng(seed)
    update = rng.normal(0.0, 0.01, size).astype(np.float32)
    channels: dict[str, Channel] = {}
    skipped: dict[str, str] = {}
    for f in fidelities:
        require_range("fidelity", f, low=0.25, high=1.0)
        for name, build in update_channels(f).items():
            try:
                channels[name] = build()
            except InputError as exc:  # e.g. a QBER no key can be made at
                skipped[name] = str(exc)
            except ValidationError as exc:  # the same, raised while validating the config
                skipped[name] = "; ".join(str(e["msg"]).removeprefix("Value error, ")
                                          for e in exc.errors())  # fmt: skip
    for channel in channels.values():  # untimed: imports, codes, decoders
        channel.send(update[:1024], rng=rng)
    outcome: dict[str, list[bool]] = {name: [] for name in channels}

    def send(name: str) -> Callable[[], None]:
        def call() -> None:
            outcome[name].append(channels[name].send(update, rng=rng).verdict.accepted)

        return call

    times = interleave({name: send(name) for name in channels}, repeats=reps)
    bits = size * ENCODING_BITS
    ratios: dict[str, dict[str, Any]] = {}
    for f in fidelities:  # QKD-OTP against teleportation with FEC, per interleaved pair
        qkd, fec = times.get(f"qkd-otp F={f}"), times.get(f"teleport-fec F={f}")
        if qkd and fec:
            ratios[f"F={f}"] = {
                **ratio_stats(qkd, fec),
                "of_medians": statistics.median(qkd) / statistics.median(fec),
            }
    return {
        "update_params": size,
        "update_payload_bits": bits,
        "update_repeats": reps,
        "update_seconds": {name: statistics.median(t) for name, t in times.items()},
        "update_seconds_raw": times,
        "update_payload_bits_per_s": {
            name: bits / statistics.median(t) for name, t in times.items()
        },
        "update_accepted": {name: all(ok) for name, ok in outcome.items()},
        "update_skipped": skipped,
        "ratio_qkd_otp_to_teleport_fec": ratios,
    }


def benchmark_channel(
    *,
    config: str | Path = "configs/quickstart.yaml",
    scenario: str = "teleport-corrected",
    baseline: str = "classical",
    rounds: int = 6,
    update_repeats: int = 9,
    fidelities: Sequence[float] = PAPER_FIDELITIES,
    workers: int = 1,
) -> dict[str, Any]:
    """Round ratio of two scenarios and seconds per paper-size update (module notes)."""
    require_int("update_repeats", update_repeats, low=0)
    torch.set_num_threads(1)
    load_before = machine_load()
    with threadpool_limits(limits=1):
        rounds_part = round_ratio(
            config=config, scenario=scenario, baseline=baseline, rounds=rounds, workers=workers
        )
        updates_part = (
            update_seconds(fidelities=fidelities, repeats=update_repeats) if update_repeats else {}
        )
    return {
        **rounds_part,
        **updates_part,
        "torch_threads": torch.get_num_threads(),
        "load_before": load_before,
        "load_after": machine_load(),
    }


def channel_bench_lines(result: dict[str, Any]) -> dict[str, str]:
    """The human view of :func:`benchmark_channel`'s result (human units, no e-notation)."""
    from qtfl.present.units import human_count, human_number, human_percent, human_seconds

    ratio = result["ratio_round_seconds"]
    a, b = result["scenario"], result["baseline"]
    lines = {
        f"round ratio {a} / {b}": (
            f"median {human_number(ratio['median'])}x "
            f"(min {human_number(ratio['min'])}x, max {human_number(ratio['max'])}x, "
            f"{result['timed_round_pairs']} interleaved pairs)"
        ),
        f"{a} round": human_seconds(result["scenario_median_round_seconds"]) + " (median)",
        f"{b} round": human_seconds(result["baseline_median_round_seconds"]) + " (median)",
        "FEC decoding share": human_percent(result["decode_share"])
        if result["decode_share"] is not None
        else "not timed (with workers)",
        "workers": f"{result['workers']} ({human_count(result['pooled_sends'])} pooled sends)",
    }
    if "workers_speedup" in result:
        w = result["workers_speedup"]
        lines[f"{a} in-process / pooled"] = (
            f"median {human_number(w['median'])}x "
            f"(min {human_number(w['min'])}x, max {human_number(w['max'])}x)"
        )
    for name, seconds in result.get("update_seconds", {}).items():
        rate = result["update_payload_bits_per_s"][name]
        lines[f"update {name}"] = f"{human_seconds(seconds)} ({human_count(rate)}b/s)"
    for name, reason in result.get("update_skipped", {}).items():
        lines[f"update {name}"] = f"skipped: {reason}"
    for fid, r in result.get("ratio_qkd_otp_to_teleport_fec", {}).items():
        lines[f"update ratio qkd-otp / teleport-fec {fid}"] = (
            f"median {human_number(r['median'])}x (min {human_number(r['min'])}x, "
            f"max {human_number(r['max'])}x, {len(r['pairs'])} interleaved pairs; "
            f"of the medians {human_number(r['of_medians'])}x)"
        )
    for when in ("load_before", "load_after"):
        load = result[when]["loadavg_1_5_15"]
        shown = "unknown" if load is None else ", ".join(human_number(x) for x in load)
        lines[when.replace("_", " ")] = f"{shown} on {result[when]['cpus']} CPUs"
    return lines
