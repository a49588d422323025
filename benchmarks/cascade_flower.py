"""QKD-OTP with Cascade split as on Flower: messages per update and time against in process.

Run ``python benchmarks/cascade_flower.py --json`` (the digits MLP's 4,810 values at 16 bits,
5 transfers per fidelity). Both ends run in this process exactly as the ServerApp and a
client node run them (the Flower transport aside); each transfer's ledger is checked equal
to :meth:`QkdOtpChannel.send`. Prints the client's replies per update (its train reply,
one answer per Cascade parity query, the closing ciphertext) and median wall-clock times.
Figures, not pass/fail tests.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from qtfl.channel.qkd import QkdOtpChannel, QkdSettings
from qtfl.channel.split import LinkKey
from qtfl.channel.verified import LinkSpec
from qtfl.flower.ends import FollowUp, uplink_ends
from qtfl.present.units import human_seconds
from qtfl.quantum.noise import WernerPair
from qtfl.security.run_secret import LinkSecret


def run(*, n_values: int, transfers: int, fidelities: list[float]) -> list[dict[str, Any]]:
    update = np.random.default_rng(0).normal(0, 0.05, n_values).astype(np.float32)
    rows = []
    for fidelity in fidelities:
        channel = QkdOtpChannel(
            LinkSpec(WernerPair(fidelity)), bits=16, secret=LinkSecret(bytes(32)),
            settings=QkdSettings(reconciliation="cascade"),
        )  # fmt: skip
        ends = uplink_ends(channel)
        replies, split_s, inprocess_s, blocks = [], [], [], []
        for client in range(transfers):
            key = LinkKey(seed=1, scenario="cascade-bench", round=1, client=client)
            start = time.perf_counter()
            state, announced = ends.prepare(key, update.size)
            out = ends.step(ends.send(update, key, announced), state, n_values=update.size)
            n = 1
            while isinstance(out, FollowUp):
                out = ends.step(ends.answer(update, key, out.request), state, n_values=update.size)
                n += 1
            split_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            ref = channel.send(update, rng=key.rng())
            inprocess_s.append(time.perf_counter() - start)
            if out.ledger != ref.ledger or out.verdict != ref.verdict:
                raise AssertionError("split and in-process transfers differ")
            replies.append(n)
            blocks.append(out.verdict.attempts)
        rows.append(
            {"fidelity": fidelity, "replies": replies, "key_blocks": blocks,
             "split_s": float(np.median(split_s)), "inprocess_s": float(np.median(inprocess_s))}
        )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=4810)
    parser.add_argument("--transfers", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = run(n_values=args.values, transfers=args.transfers, fidelities=[0.97, 0.95, 0.93])
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(
            f"F = {r['fidelity']}: replies {r['replies']} (key blocks {r['key_blocks']}); "
            f"split {human_seconds(r['split_s'])}, in process {human_seconds(r['inprocess_s'])}"
        )


if __name__ == "__main__":
    main()
