"""Federated learning through teleportation with and without FEC, and with compression.

``python benchmarks/integrity_fl.py --section digits --json``: the quickstart digits job
(MLP 64, 10 IID clients, FedAvg) with uplinks that are classical (plaintext), raw
teleportation at F = 0.95 (``TeleportationChannel``, 16-bit basis encoding), and
teleportation at F = 0.95 with FEC (auto code, CRC-32, retransmission, safety net).

``--section digits-sweep``: raw teleportation on the same job for F from 0.95 down to 0.75,
with the relative error ``||Δ' - Δ|| / ||Δ||`` of one teleported Gaussian update.

``python benchmarks/integrity_fl.py --section fashion --json --plot PATH``: Fashion-MNIST,
MLP 784-32-10, 10 IID clients, FEC-protected teleportation at F = 0.95; final accuracy vs
total uplink Bell pairs for stochastic quantisation to b in {4, 8, 16} bits and top-k in
{1%, 10%} (error feedback, 8-bit values); plus the plaintext float32 reference and raw
16-bit teleportation without FEC.

FEC runs use ``TeleportationChannel(link, bits=b, fec="auto")`` (checks, teleport, LDPC +
CRC-32, resends over fresh verified pairs, safety net). Downlinks are plaintext in every run
(the issue concerns the updates).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from qtfl.channel import Channel, PlainChannel
from qtfl.channel.teleportation import LinkSpec, TeleportationChannel
from qtfl.experiments.config import load_config
from qtfl.experiments.runner import build_simulation, prepare_inputs
from qtfl.fl.compressed_channel import CompressedChannel
from qtfl.fl.compression import CompressionConfig
from qtfl.quantum.noise import WernerPair


def run_fl(
    config_name: str,
    uplink: Callable[[], Channel],
    *,
    rounds: int | None = None,
    hidden: int | None = None,
) -> dict[str, Any]:
    """Run a shipped config with one uplink channel per client; accuracy and pair totals."""
    torch.set_num_threads(1)
    cfg = load_config(f"configs/{config_name}")
    changes: dict[str, Any] = {}
    if rounds is not None:
        changes["training"] = cfg.training.model_copy(update={"rounds": rounds})
    if hidden is not None:
        changes["model"] = cfg.model.model_copy(update={"hidden": hidden})
    cfg = cfg.model_copy(update=changes)
    sim = build_simulation(cfg, prepare_inputs(cfg), cfg.resolved_scenarios()[0])
    channels = [uplink() for _ in range(sim.num_clients)]
    sim.uplink = lambda k: channels[k]
    start = time.perf_counter()
    accuracies, pairs, aborted = [], 0.0, 0
    for _ in range(cfg.training.rounds):
        rec = sim.run_round()
        accuracies.append(rec.accuracy)
        pairs += rec.uplink.get("bell_pairs", 0.0)
        aborted += rec.aborted
    return {
        "final_accuracy": accuracies[-1],
        "best_accuracy": max(a for a in accuracies if a is not None),
        "accuracy_by_round": accuracies,
        "rounds": cfg.training.rounds,
        "uplink_bell_pairs": pairs,
        "aborted": aborted,
        "params": int(sim.global_params.size),
        "seconds": time.perf_counter() - start,
    }


def digits_rows(*, fidelity: float = 0.95, rounds: int = 30) -> list[dict[str, Any]]:
    link = LinkSpec(WernerPair(fidelity))
    runs: dict[str, Callable[[], Channel]] = {
        "classical": PlainChannel,
        "teleport-raw": lambda: TeleportationChannel(link, bits=16),
        "teleport-fec": lambda: TeleportationChannel(link, bits=16, fec="auto"),
    }
    return [
        {"data": "digits", "uplink": name, "fidelity": fidelity, **run_fl("quickstart.yaml", f,
                                                                           rounds=rounds)}
        for name, f in runs.items()
    ]  # fmt: skip


def digits_sweep_rows(*, rounds: int = 30) -> list[dict[str, Any]]:
    """Raw teleportation (no FEC) on digits across fidelities, with the update error."""
    rows = []
    rng = np.random.default_rng(0)
    probe = (rng.normal(size=4810) * 0.01).astype(np.float32)
    for fidelity in (0.95, 0.90, 0.85, 0.80, 0.75):
        link = LinkSpec(WernerPair(fidelity))
        got = TeleportationChannel(link, bits=16).send(probe, rng=rng).received
        assert got is not None
        error = float(np.linalg.norm(got - probe) / np.linalg.norm(probe))
        row = run_fl("quickstart.yaml", lambda link=link: TeleportationChannel(link, bits=16),
                     rounds=rounds)  # fmt: skip
        rows.append({"data": "digits", "uplink": "teleport-raw", "fidelity": fidelity,
                     "relative_update_error": error, **row})  # fmt: skip
    return rows


def fashion_rows(*, fidelity: float = 0.95, rounds: int = 10) -> list[dict[str, Any]]:
    link = LinkSpec(WernerPair(fidelity))

    def quantized(b: int) -> Callable[[], Channel]:
        cfg = CompressionConfig(kind="quantize", bits=b)
        return lambda: CompressedChannel(TeleportationChannel(link, bits=b, fec="auto"), config=cfg)

    def topk(ratio: float) -> Callable[[], Channel]:
        cfg = CompressionConfig(kind="topk", ratio=ratio)
        return lambda: CompressedChannel(TeleportationChannel(link, bits=8, fec="auto"), config=cfg)

    runs: dict[str, Callable[[], Channel]] = {
        "plaintext float32": PlainChannel,
        "raw teleport b=16 (no FEC)": lambda: TeleportationChannel(link, bits=16),
        "quantize b=4": quantized(4),
        "quantize b=8": quantized(8),
        "quantize b=16": quantized(16),
        "top-1% (b=8)": topk(0.01),
        "top-10% (b=8)": topk(0.10),
    }
    rows = []
    for name, factory in runs.items():
        row = run_fl("fashion-mnist-mlp.yaml", factory, rounds=rounds, hidden=32)
        rows.append({"data": "fashion-mnist", "uplink": name, "fidelity": fidelity, **row})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def plot(rows: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, row in enumerate(rows):
        if row["uplink"].startswith("raw"):
            ax.scatter(row["uplink_bell_pairs"], row["final_accuracy"], marker="x", c="red")
            ax.annotate(row["uplink"], (row["uplink_bell_pairs"], row["final_accuracy"]),
                        textcoords="offset points", xytext=(4, -10), fontsize=8)  # fmt: skip
        elif row["uplink_bell_pairs"] > 0:
            ax.scatter(row["uplink_bell_pairs"], row["final_accuracy"])
            ax.annotate(row["uplink"], (row["uplink_bell_pairs"], row["final_accuracy"]),
                        textcoords="offset points", xytext=(4, 4 if i % 2 else -11),
                        fontsize=8)  # fmt: skip
        else:
            ax.axhline(row["final_accuracy"], ls="--", c="grey", label=row["uplink"])
    ax.set_xscale("log")
    most = max(row["uplink_bell_pairs"] for row in rows)
    ax.set_xlim(right=most * 4)  # room for the labels
    ax.set_xlabel("total uplink Bell pairs (checks, FEC and resends included)")
    ax.set_ylabel("test accuracy after the last round")
    ax.set_title("Fashion-MNIST, teleportation at F = 0.95 with FEC")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--section", choices=("digits", "digits-sweep", "fashion"), default="digits"
    )
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--plot", default=None, help="PNG path for the fashion plot")
    parser.add_argument("--replot", default=None, help="plot rows saved by a --json run")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()
    if args.section in ("digits", "digits-sweep"):
        make = digits_rows if args.section == "digits" else digits_sweep_rows
        rows = make(rounds=args.rounds or 30)
        for row in rows:
            print(json.dumps(row) if args.json else row, flush=True)
    else:
        if args.replot:
            with open(args.replot) as f:
                rows = [json.loads(line) for line in f if line.strip()]
        else:
            rows = fashion_rows(rounds=args.rounds or 10)
        if args.plot:
            plot(rows, args.plot)


if __name__ == "__main__":
    main()
