"""Verify, then teleport: the bit-level protocol every teleportation channel runs.

One attempt:

1. the link distributes ``n + k`` pairs (``n`` payload qubits, ``k`` checks so that checks
   are ``check_fraction`` of the pairs); an eavesdropper, if any, acts on them now, with her
   own randomness (:meth:`~qtfl.security.eavesdropper.Eavesdropper.plan`);
2. the two ends pick the ``k`` check positions (a uniform k-subset drawn in ``O(k)``,
   :func:`~qtfl.quantum.teleport.sample_subset`) and a random X/Z basis for each with their
   *secret* generator, measure, and compare over the authenticated classical channel;
3. the :class:`~qtfl.security.detection.QberTest` (threshold = link's expected QBER + a
   finite-size margin at false-alarm ``alpha``; optional CHSH test) accepts or aborts;
4. on accept the client Bell-measures payload qubit ``i`` with pair ``i`` and sends the two
   bits. On abort the attempt is retried on fresh pairs up to ``max_retries`` times, then the
   payload is reported as not sent.

:class:`VerifiedTeleport` returns the shared link sample's outcome (Bell bits and the
server's raw halves) so that the two ends — :class:`~qtfl.channel.teleportation.TeleportSender`
and :class:`~qtfl.channel.teleportation.TeleportReceiver` — stay separate objects.

Two generators (:mod:`qtfl.security.run_secret`). ``rng`` is the seed-keyed *noise* stream:
the attacker's plan, the pair errors, the purification cost. ``secret_rng`` is keyed by the
run secret: check positions and bases, the ends' uniform outcomes, the Bell-measurement
frame. On pairs nobody touches (no eavesdropper, or a classical tap only) the two never mix:
check ``j`` fails with the QBER of its basis, independently (from the noise stream:
Bernoulli bits at the larger of the two QBERs,
:func:`~qtfl.quantum.teleport.bernoulli_positions`, each error then kept with probability
``QBER of its basis / larger QBER``, a thinning that draws nothing more when both are
equal, as on a Werner pair), payload qubit ``i`` suffers the ``i``-th Pauli of a
directly sampled frame (:func:`~qtfl.quantum.teleport.sample_pauli_frame`), whatever
positions were checked, and the Bell frame cancels at the receiver; so verdicts, ledgers and
received bits depend on the seed only. When an eavesdropper acts on the pairs, stim samples
the joint outcome from ``secret_rng`` (her success depends on which pairs are checked), so
results are reproducible with the same secret and statistically equivalent otherwise.

Ledger per attempt: ``bell_pairs = n + k`` (aborted attempts included), ``check_pairs = k``;
over a :class:`PurifiedLink` the ``n + k`` purified pairs cost ``n + k + P`` raw pairs, with
``purification_pairs = P`` sampled per attempt (:meth:`PurifiedLink.purification_cost`);
classical bits: check positions ``k⌈log2(n+k)⌉`` + bases ``k`` + client outcomes ``k`` +
verdict ``1``, and on teleport ``2n`` Bell bits + the header; link seconds:
``(n + k) / pair_rate_hz`` (0 if the rate is unknown) + one latency per classical message
(announcement, verdict, Bell bits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from qtfl.channel.base import Ledger, Tap, Verdict
from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.quantum.noise import BellDiagonalPair
from qtfl.quantum.purification import PurificationSchedule
from qtfl.quantum.teleport import (
    bernoulli_positions,
    sample_subset,
    teleport_direct,
    uniform_bits,
)
from qtfl.security.detection import (
    METHODS,
    CheckResult,
    QberTest,
    check_count,
    chsh_lower_bound,
)
from qtfl.security.eavesdropper import (
    CheckSample,
    ClassicalTap,
    Eavesdropper,
    NoEavesdropper,
    TeleportSample,
    sample_checks,
    sample_teleport,
)
from qtfl.security.leakage import Leakage, measure_leakage

Bits = npt.NDArray[np.uint8]


class PairLink(Protocol):
    """What a channel needs from a link (``qtfl.network.FiberLink(...).compile()`` fits)."""

    @property
    def pair(self) -> BellDiagonalPair: ...
    @property
    def pair_rate_hz(self) -> float | None: ...
    @property
    def latency_s(self) -> float: ...


@dataclass(frozen=True)
class LinkSpec:
    """A link given directly by its delivered pair, heralded pair rate and classical latency."""

    pair: BellDiagonalPair
    pair_rate_hz: float | None = None
    latency_s: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.pair, BellDiagonalPair):
            raise InputError(f"pair must be a BellDiagonalPair, got {type(self.pair).__name__}")
        if self.pair_rate_hz is not None:
            require_range("pair_rate_hz", self.pair_rate_hz, low=0.0, low_open=True)
        require_range("latency_s", self.latency_s, low=0.0)


@dataclass(frozen=True)
class PurifiedLink:
    r"""A link whose pairs go through recurrence purification before any use.

    ``pair`` is the purified pair (``schedule.pair``); ``pair_rate_hz`` the raw rate divided by
    the expected cost :math:`2^k/\prod p_i`. :meth:`purification_cost` samples what ``m``
    purified pairs really cost: round ``i`` needs ``a_i = m_i + \mathrm{NB}(m_i, p_i)``
    attempts (negative binomial: failures before ``m_i`` successes), each consuming two pairs
    of round ``i-1``, so ``m_{i-1} = 2 a_i``; the raw pairs are ``m_0`` (expectation
    ``m·2^k/\prod p_i``). Each attempt announces one measurement bit from each end.

    References: Deutsch et al., PRL 77, 2818 (1996) (recurrence); Dür & Briegel, Rep. Prog.
    Phys. 70, 1381 (2007) (its cost).
    """

    raw: PairLink
    schedule: PurificationSchedule

    @property
    def pair(self) -> BellDiagonalPair:
        return self.schedule.pair

    @property
    def pair_rate_hz(self) -> float | None:
        rate = self.raw.pair_rate_hz
        return None if rate is None else rate / self.schedule.expected_pairs

    @property
    def latency_s(self) -> float:
        return float(self.raw.latency_s)

    def purification_cost(self, pairs: int, *, rng: np.random.Generator) -> tuple[int, int]:
        """``(raw pairs consumed beyond pairs, purification attempts)`` for ``pairs`` outputs."""
        m = require_int("pairs", pairs, low=0)
        attempts = 0
        for p in reversed(self.schedule.success_probabilities):  # a few rounds, not per pair
            a = m + int(rng.negative_binomial(m, p)) if m else 0
            attempts += a
            m = 2 * a
        return m - pairs, attempts


def pair_seconds(link: PairLink, pairs: int) -> float:
    """Time to deliver ``pairs`` pairs (0 when the link's rate is unknown)."""
    rate = link.pair_rate_hz
    return 0.0 if rate is None else pairs / rate


def distribution_cost(
    link: PairLink, pairs: int, *, rng: np.random.Generator
) -> tuple[int, int, float]:
    """``(purification pairs, purification attempts, seconds)`` to deliver ``pairs`` usable
    pairs: ``(0, 0, pairs / rate)`` on a plain link; over a :class:`PurifiedLink` the sampled
    extra raw pairs, their attempts, and the raw pairs' time plus one latency per round."""
    if not isinstance(link, PurifiedLink):
        return 0, 0, pair_seconds(link, pairs)
    extra, tries = link.purification_cost(pairs, rng=rng)
    seconds = pair_seconds(link.raw, pairs + extra) + link.schedule.rounds * link.latency_s
    return extra, tries, seconds


def attempt_ledger(
    link: PairLink, n_pairs: int, checks: int, attempt: int, *, rng: np.random.Generator
) -> Ledger:
    """The cost of distribution attempt ``attempt`` (1-based) of ``n_pairs`` pairs, ``checks``
    of them announced: pairs incl. purification, classical bits and link time (pair time plus
    one round trip). Draws the purification cost from ``rng`` via :func:`distribution_cost`."""
    extra, tries, seconds = distribution_cost(link, n_pairs, rng=rng)
    return Ledger(
        bell_pairs=n_pairs + extra,
        check_pairs=checks,
        purification_pairs=extra,
        classical_bits=checks * math.ceil(math.log2(n_pairs)) + 2 * checks + 1 + 2 * tries,
        link_seconds=seconds + 2 * float(link.latency_s),
        retransmissions=int(attempt > 1),
    )


@dataclass(frozen=True)
class Verification:
    """How the two ends test the pairs before teleporting.

    Args:
        check_fraction: share of distributed pairs sacrificed as checks, in ``(0, 1)``.
        alpha: false-alarm probability of the QBER test, in ``(0, 1)``.
        method: ``"exact"`` binomial critical value or ``"hoeffding"`` margin.
        chsh: also require the CHSH value implied by the Z and X checks to exceed 2.
        max_retries: fresh-pair attempts after an abort before giving up.
    """

    check_fraction: float = 0.1
    alpha: float = 0.01
    method: Literal["exact", "hoeffding"] = "exact"
    chsh: bool = False
    max_retries: int = 2

    def __post_init__(self) -> None:
        require_range(
            "check_fraction", self.check_fraction, low=0.0, high=1.0, low_open=True, high_open=True
        )
        require_range("alpha", self.alpha, low=0.0, high=1.0, low_open=True, high_open=True)
        require_choice("detection method", self.method, METHODS)
        require_int("max_retries", self.max_retries, low=0)


@dataclass(frozen=True)
class LinkSample:
    """The pairs of one attempt, as the ends and Eve see them before any measurement."""

    n_pairs: int
    check_positions: npt.NDArray[np.int64]
    check_bases: Bits
    attack: Bits = field(repr=False)

    @cached_property
    def payload_positions(self) -> npt.NDArray[np.int64]:
        """The pairs not checked, ascending (computed when first asked: only an attacker's
        plan needs them, the direct sampler on untouched pairs does not)."""
        payload = np.ones(self.n_pairs, dtype=bool)
        payload[self.check_positions] = False
        return np.flatnonzero(payload)


@dataclass(frozen=True)
class CheckOutcome:
    """The verification step of one attempt: the test result and what was made public."""

    result: CheckResult
    reason: str
    qber_x: float
    tap: Tap


@dataclass(frozen=True)
class BitTransfer:
    """Outcome of :meth:`VerifiedTeleport.run` for ``n`` payload bits.

    ``sample`` (Bell bits, the server's raw halves, Eve's guess) is ``None`` when every
    attempt aborted and the payload was never teleported.
    """

    sample: TeleportSample | None
    ledger: Ledger
    verdict: Verdict
    tap: Tap
    checks: CheckResult
    leakage: Leakage | None

    @property
    def payload_sent(self) -> bool:
        return self.sample is not None


class VerifiedTeleport:
    """The verify-then-teleport protocol over one link, with an optional attacker."""

    def __init__(
        self,
        link: PairLink,
        *,
        verification: Verification | None = None,
        eavesdropper: Eavesdropper | None = None,
    ) -> None:
        if not isinstance(getattr(link, "pair", None), BellDiagonalPair):
            raise InputError("link must provide a BellDiagonalPair as .pair (e.g. LinkSpec)")
        self.link = link
        self.verification = verification or Verification()
        self.eavesdropper = eavesdropper or NoEavesdropper()
        self.test = QberTest(
            expected_qber=min(0.5, link.pair.qber),
            alpha=self.verification.alpha,
            method=self.verification.method,
        )

    @property
    def pairs_untouched(self) -> bool:
        """True when nobody acts on the pairs (the direct Pauli-frame sampler applies)."""
        return isinstance(self.eavesdropper, NoEavesdropper | ClassicalTap)

    def distribute(
        self, n_payload: int, *, rng: np.random.Generator, secret_rng: np.random.Generator
    ) -> LinkSample:
        """Distribute pairs; Eve acts first (``rng``), then the ends choose checks secretly."""
        k = check_count(n_payload, self.verification.check_fraction)
        total = n_payload + k
        attack = self.eavesdropper.plan(total, rng=rng)
        checks = sample_subset(total, k, rng=secret_rng)
        return LinkSample(
            n_pairs=total,
            check_positions=checks,
            check_bases=secret_rng.integers(0, 2, k, dtype=np.uint8),
            attack=attack,
        )

    def measure_checks(
        self, sample: LinkSample, *, rng: np.random.Generator, secret_rng: np.random.Generator
    ) -> CheckSample:
        """Both ends' outcomes on the check pairs of ``sample`` (one joint link sample)."""
        bases = sample.check_bases
        if not self.pairs_untouched:
            codes = sample.attack[sample.check_positions]
            return sample_checks(self.link.pair, bases, codes, rng=secret_rng)
        pair = self.link.pair
        k = bases.size
        q_z, q_x = min(1.0, pair.qber_z), min(1.0, pair.qber_x)
        top = max(q_z, q_x)
        hit = bernoulli_positions(top, k, rng=rng)  # every check errs with the larger QBER
        if q_z != q_x and hit.size:  # then keep each with q_basis / top (thinning: exact)
            hit = hit[rng.random(hit.size) * top < np.array([q_z, q_x])[bases[hit]]]
        errors = np.zeros(k, np.uint8)
        errors[hit] = 1
        client = uniform_bits((k,), rng=secret_rng)
        return CheckSample(bases, client, client ^ errors, np.zeros(k, np.uint8))

    def teleport(
        self,
        sample: LinkSample,
        bits: Bits,
        *,
        rng: np.random.Generator,
        secret_rng: np.random.Generator,
    ) -> TeleportSample:
        """Teleport ``bits`` through the payload pairs of ``sample``: direct sampler on
        untouched pairs, stim (from ``secret_rng``) when an eavesdropper acts on them."""
        if not self.pairs_untouched:
            codes = sample.attack[sample.payload_positions]
            return sample_teleport(self.link.pair, bits, codes, rng=secret_rng)
        r = teleport_direct(self.link.pair, bits, noise_rng=rng, secret_rng=secret_rng)
        m1 = r.bell_bits[:, 1].copy()  # contiguous, and Eve's guess is her own array
        return TeleportSample(bell_bits=r.bell_bits, raw=r.received ^ m1, eve_guess=m1)

    def judge(self, bases: Bits, errors: Bits) -> tuple[CheckResult, str]:
        """The test on announced check outcomes: its result and ``"ok"`` or why it failed.

        ``errors`` is 1 where the two ends' announced outcomes disagree; either end can
        evaluate it (the split ends of :mod:`qtfl.channel.split` both do).
        """
        result = self.test.evaluate(int(np.count_nonzero(errors)), int(errors.size))
        z = bases == 0
        reason = "ok" if result.passed else "qber-above-threshold"
        if self.verification.chsh and result.passed:
            s = chsh_lower_bound(
                errors_z=int(errors[z].sum()),
                n_z=int(z.sum()),
                errors_x=int(errors[~z].sum()),
                n_x=int((~z).sum()),
                alpha=self.verification.alpha,
            )
            if not s > 2.0:
                reason = "chsh-not-violated"
        return result, reason

    def verify(
        self, sample: LinkSample, *, rng: np.random.Generator, secret_rng: np.random.Generator
    ) -> CheckOutcome:
        """Measure the check pairs and apply the test (plus CHSH if asked)."""
        bases = sample.check_bases
        checks = self.measure_checks(sample, rng=rng, secret_rng=secret_rng)
        err = checks.errors
        result, reason = self.judge(bases, err)
        n_x = int(np.count_nonzero(bases))  # basis codes: 1 is X
        public = np.packbits(np.concatenate([bases, checks.client]))
        return CheckOutcome(
            result=result,
            reason=reason,
            qber_x=int(np.count_nonzero(err & bases)) / n_x if n_x else result.qber,
            tap=Tap(kind="check-announcements", observed=public),
        )

    def run(
        self,
        bits: Bits,
        *,
        rng: np.random.Generator,
        secret_rng: np.random.Generator,
        header_bits: int = 0,
    ) -> BitTransfer:
        """Teleport ``bits`` (0/1) after verification; retry on fresh pairs after an abort.

        ``rng`` is the noise stream, ``secret_rng`` the ends' secret one (module notes).
        """
        n = int(bits.size)
        latency = float(self.link.latency_s)
        ledger = Ledger(payload_bits=n)
        attempts = self.verification.max_retries + 1
        for attempt in range(1, attempts + 1):
            sample = self.distribute(n, rng=rng, secret_rng=secret_rng)
            k = int(sample.check_positions.size)
            checked = self.verify(sample, rng=rng, secret_rng=secret_rng)
            result = checked.result
            ledger += attempt_ledger(self.link, sample.n_pairs, k, attempt, rng=rng)
            evidence = {"qber": result.qber, "qber_bound": result.qber_bound}
            if checked.reason != "ok":
                continue
            tele = self.teleport(sample, bits, rng=rng, secret_rng=secret_rng)
            ledger += Ledger(
                payload_qubits=n, classical_bits=2 * n + header_bits, link_seconds=latency
            )
            guess = tele.eve_guess if self.eavesdropper.taps_classical else None
            leakage = None if guess is None else measure_leakage(guess, bits, qber=checked.qber_x)
            tap = Tap(
                kind="bell-measurement-bits",
                observed=np.packbits(tele.bell_bits.reshape(-1)),
                payload_guess=guess,
                information_bits=None if leakage is None else leakage.information_bits,
            )
            verdict = Verdict.ok(**evidence, p_value=result.p_value, attempts=attempt)
            return BitTransfer(tele, ledger, verdict, tap, result, leakage)
        verdict = Verdict.abort(
            checked.reason, detected=True, **evidence, p_value=result.p_value, attempts=attempts
        )
        return BitTransfer(None, ledger, verdict, checked.tap, result, None)
