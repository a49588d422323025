r"""The cheapest way to deliver teleported payload bits intact: FEC, purification, or both.

For a link whose pairs have state ``pair`` and a target residual bit error rate, the
optimizer costs every plan in Bell pairs per delivered payload bit and picks the cheapest:

* **raw** — teleport as is: residual ``p = pair.teleported_bit_error``, 1 pair per bit;
* **purification** — ``k`` recurrence rounds (:func:`qtfl.quantum.purification.purify`):
  residual ``p_k`` of the purified pair, cost ``c_k = 2^k/\prod p_i`` input pairs per bit;
* **fec** — the highest-rate LDPC code that corrects BSC(p)
  (:func:`qtfl.channel.fec.select_code`) with CRC-32 and selective retransmission:
  cost :math:`\frac{n}{k-32}\cdot\frac{1}{1-q}`
  with ``q`` the block failure probability per attempt;
* **both** — ``k`` rounds, then FEC at ``p_k``:
  cost :math:`c_k \cdot \frac{n}{k-32}\cdot\frac{1}{1-q}`.

FEC residual. Every code is used only up to the error rate at which it was measured to fail
at most :data:`BLOCK_FAILURE_BOUND` = 1% of blocks, so ``q <= 0.01`` and the cost above with
``q = 0.01`` is an upper bound. A block is undelivered after ``r`` resends with probability
``q^(r+1)``, and a wrong block passes BP and CRC-32 only if the CRC misses it (``2^-32``
for a random error pattern), so the residual bit error rate (wrong or undelivered bits per
payload bit) is at most :math:`q^{r+1} + q\,2^{-32}`.

Purification alone reaches a low residual only through many rounds, each doubling the pair
cost; FEC reaches ``~1e-12`` at a constant factor ``1/rate`` — which wins depends on F and
the target, and the table of all plans (:attr:`IntegrityPlan.candidates`) shows the
trade-off.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from qtfl import registry
from qtfl.channel.crc import CRC_BITS
from qtfl.channel.fec import FEC_CODES, BitArray, FecCodec, LdpcCode, resolve_code
from qtfl.channel.ldpc_decoder import warm_up as warm_up_decoder
from qtfl.channel.retransmission import deliver_with_retransmission
from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.network.cost import LinkReport
from qtfl.quantum.noise import BellDiagonalPair, WernerPair
from qtfl.quantum.purification import PROTOCOLS, Protocol, purify

Method = Literal["raw", "purification", "fec", "both"]
#: Block failure probability per attempt below which every code is used (its calibration).
BLOCK_FAILURE_BOUND: Final = 0.01


@dataclass(frozen=True)
class IntegrityOption:
    """One way to deliver payload bits, and what it costs.

    Attributes:
        method: ``raw``, ``purification``, ``fec`` or ``both``.
        rounds: purification rounds (0 for raw and fec).
        code: FEC code name, or ``None``.
        fidelity: fidelity of the pairs the payload is teleported through.
        channel_bit_error_rate: flip probability of a teleported bit on those pairs.
        residual_bit_error_rate: wrong or undelivered payload bits per payload bit (bound).
        pairs_per_payload_bit: Bell pairs per delivered payload bit (upper bound for FEC).
    """

    method: Method
    rounds: int
    code: str | None
    fidelity: float
    channel_bit_error_rate: float
    residual_bit_error_rate: float
    pairs_per_payload_bit: float


@dataclass(frozen=True)
class IntegrityPlan:
    """The cheapest option meeting the target, and every option considered."""

    best: IntegrityOption
    candidates: tuple[IntegrityOption, ...]
    target_bit_error_rate: float


def fec_residual_bound(*, max_retransmissions: int) -> float:
    """Residual bit error rate bound of FEC + CRC-32 + ``r`` resends: ``q^(r+1) + q 2^-32``."""
    r = require_int("max_retransmissions", max_retransmissions, low=0, high=1000)
    q = BLOCK_FAILURE_BOUND
    return q ** (r + 1) + q * 2.0**-CRC_BITS


def fec_pairs_per_payload_bit(code: LdpcCode) -> float:
    """Channel bits per payload bit for ``code`` with resends: ``n/(k-32)/(1-q)``, q <= 1%.

    For a payload of many blocks. The last block is shortened (its padding is not sent) but
    still carries a full block's parity, so a payload of ``m`` bits costs at most
    ``(n - k + 32)`` channel bits more than ``m·n/(k-32)``: noticeable only below a few blocks.
    """
    return code.n / (code.k - CRC_BITS) / (1.0 - BLOCK_FAILURE_BOUND)


def plan_integrity(
    pair: BellDiagonalPair,
    *,
    target_bit_error_rate: float = 1e-6,
    protocol: Protocol = "dejmps",
    max_rounds: int = registry.DEFAULT_MAX_PURIFICATION_ROUNDS,
    max_retransmissions: int = 8,
) -> IntegrityPlan:
    """The cheapest of {raw, purification, FEC, both} reaching ``target_bit_error_rate``.

    Raises :class:`InputError` when no plan within ``max_rounds`` reaches the target.
    """
    target = require_range("target bit error rate", target_bit_error_rate, low=0.0, high=0.5,
                           low_open=True)  # fmt: skip
    require_choice("protocol", protocol, PROTOCOLS)
    rounds = require_int("max_rounds", max_rounds, low=0, high=20)
    fec_residual = fec_residual_bound(max_retransmissions=max_retransmissions)
    options: list[IntegrityOption] = []
    for k in range(rounds + 1):
        schedule = purify(pair, rounds=k, protocol=protocol)
        p = schedule.pair.teleported_bit_error
        cost = schedule.expected_pairs
        method: Method = "raw" if k == 0 else "purification"
        options.append(IntegrityOption(method, k, None, schedule.fidelity, p, p, cost))
        usable = [c for c in FEC_CODES.values() if c.max_bit_error_rate >= p]
        if usable:
            code = max(usable, key=lambda c: c.rate)
            options.append(
                IntegrityOption(
                    "fec" if k == 0 else "both",
                    k,
                    code.name,
                    schedule.fidelity,
                    p,
                    fec_residual,
                    cost * fec_pairs_per_payload_bit(code),
                )
            )
    feasible = [o for o in options if o.residual_bit_error_rate <= target]
    if not feasible:
        best_residual = min(o.residual_bit_error_rate for o in options)
        raise InputError(
            f"no plan reaches residual bit error rate {target:g} from fidelity "
            f"{pair.fidelity:.4g} within max_rounds={rounds} (best {best_residual:.3g}); "
            "allow more purification rounds or retransmissions"
        )
    best = min(feasible, key=lambda o: (o.pairs_per_payload_bit, o.rounds))
    if not math.isfinite(best.pairs_per_payload_bit):  # pragma: no cover - purify guards this
        raise InputError("purification never succeeds for this pair")
    return IntegrityPlan(best, tuple(options), target)


def teleport_fec_summary(
    *, bits: int, fidelity: float, fec: str, seed: int, max_retransmissions: int = 8
) -> dict[str, Any]:
    """Teleport ``bits`` random payload bits through Werner pairs with ``fec``.

    ``fec`` is ``none``, ``auto`` or a code name (:data:`qtfl.channel.fec.FEC_CHOICES`).
    Reports what arrived: ``residual_bit_error_rate`` (payload bits wrong or in a block
    that never decoded, over all payload bits) and ``pairs_per_payload_bit`` (every pair
    used, resends included, over the payload bits); the library behind
    ``qtfl teleport --fec``. ``seconds`` times the transfer; the decoder's one-time JIT
    compile or cache load is ``decoder_first_call_seconds``, like the teleporter's compile
    outside the timer.
    """
    from qtfl.quantum.teleport import sample_pauli_frame

    n = require_int("bits", bits, low=1, high=100_000_000)
    pair = WernerPair(fidelity)
    p = pair.teleported_bit_error
    codec = FecCodec.for_link(fec, bit_error_rate=p)
    rng = np.random.default_rng(require_int("seed", seed, low=0))
    payload = rng.integers(0, 2, n, dtype=np.uint8)

    def teleport(x: BitArray, g: np.random.Generator) -> BitArray:
        # untouched pairs: the received bit is x XOR the X part of a direct Pauli frame
        flipped: BitArray = x ^ sample_pauli_frame(pair, x.size, rng=g).x_bits()
        return flipped

    first_call = 0.0 if codec is None else warm_up_decoder()  # one-time, reported apart
    start = time.perf_counter()
    if codec is None:
        received, pairs, resent, unresolved, name, rate = teleport(payload, rng), n, 0, 0, None, 1.0
        bad = received != payload
    else:
        out = deliver_with_retransmission(
            codec, payload, teleport, rng=rng, max_retransmissions=max_retransmissions
        )
        pairs, resent, unresolved = (
            out.channel_bits,
            out.retransmitted_blocks,
            out.residual_failures,
        )
        name, rate = codec.code.name, codec.code.rate
        bad = (out.bits != payload) | out.failed_bit_mask()
    seconds = time.perf_counter() - start
    return {
        "payload_bits": n,
        "fidelity": pair.fidelity,
        "channel_bit_error_rate": p,
        "fec": name or "none",
        "code_rate": rate,
        "bell_pairs": pairs,
        "retransmitted_blocks": resent,
        "undelivered_blocks": unresolved,
        "residual_bit_error_rate": float(np.count_nonzero(bad) / n),
        "pairs_per_payload_bit": pairs / n,
        "seed": seed,
        "seconds": seconds,
        "decoder_first_call_seconds": first_call,
    }


def link_fec_summary(
    report: LinkReport, *, fec: str, max_retransmissions: int = 8
) -> dict[str, Any]:
    """``report`` (``qtfl link``) plus what FEC makes of its pairs: the library behind
    ``qtfl link --fec``.

    Adds ``fec``, ``code_rate``, ``residual_bit_error_rate`` (bound ``q^(r+1) + q 2^-32``
    with FEC; the raw bit error without) and ``pairs_per_payload_bit``: the report's pairs
    per teleported qubit (checks and purification included) times the code's
    ``n/(k-32)/(1-q)`` (an upper bound, ``q <= 1%``). The teleported bit error is taken as
    the delivered pairs' QBER — exact for Werner pairs; purified (non-Werner) pairs can
    differ slightly between the Z-basis error and the X/Z-average QBER.
    """
    p = report.purified_qber if report.purified_qber is not None else report.expected_qber
    per_qubit = report.pairs_per_update / report.payload_qubits
    code = resolve_code(fec, bit_error_rate=min(p, 0.5))
    extra: dict[str, Any] = {"fec": "none", "code_rate": 1.0, "residual_bit_error_rate": p,
                             "pairs_per_payload_bit": per_qubit}  # fmt: skip
    if code is not None:
        extra = {
            "fec": code.name,
            "code_rate": code.rate,
            "residual_bit_error_rate": fec_residual_bound(max_retransmissions=max_retransmissions),
            "pairs_per_payload_bit": per_qubit * fec_pairs_per_payload_bit(code),
        }
    return {**report.as_dict(), **extra}


def plan_summary(
    *,
    fidelity: float,
    target_bit_error_rate: float = 1e-6,
    max_rounds: int = registry.DEFAULT_MAX_PURIFICATION_ROUNDS,
) -> dict[str, Any]:
    """The cheapest plan for Werner pairs of ``fidelity`` as a flat mapping, with every
    candidate as ``"method[+rounds]/code": pairs per payload bit`` (``None`` when it misses
    the target): the library behind ``qtfl integrity``."""
    plan = plan_integrity(
        WernerPair(fidelity), target_bit_error_rate=target_bit_error_rate, max_rounds=max_rounds
    )
    best = plan.best
    options = {
        f"{o.method}{'+' + str(o.rounds) if o.rounds else ''}/{o.code or '-'}": (
            o.pairs_per_payload_bit if o.residual_bit_error_rate <= plan.target_bit_error_rate
            else None
        )
        for o in plan.candidates
    }  # fmt: skip
    return {
        "fidelity": fidelity,
        "target_bit_error_rate": plan.target_bit_error_rate,
        "method": best.method,
        "purification_rounds": best.rounds,
        "fec": best.code or "none",
        "teleport_fidelity": best.fidelity,
        "channel_bit_error_rate": best.channel_bit_error_rate,
        "residual_bit_error_rate": best.residual_bit_error_rate,
        "pairs_per_payload_bit": best.pairs_per_payload_bit,
        "candidates": options,
    }
