r"""Payloads beyond bare basis bits: QEC-protected qubits and analog (angle, amplitude) states.

The verify-then-teleport protocol (:class:`~qtfl.channel.verified.VerifiedTeleport`) checks
and accounts for pairs the same way whatever the payload; what differs is what the payload
qubits carry. :class:`FramedTeleport` runs that protocol over ``m`` payload pairs and keeps
the full Pauli error (X and Z component) teleportation put on each payload qubit, drawn
from the link's exact law (:func:`~qtfl.quantum.teleport.sample_pauli_frame`, noise
stream). From that frame:

* :func:`readout_flips` turns the physical errors into per-logical-qubit readout flips:
  without a code, a Z-basis readout flips with the X component, an X-basis readout with the
  Z component; with a QEC code (:mod:`qtfl.quantum.qec`) each block of ``code.n`` physical
  qubits is decoded by syndrome lookup and what remains is the logical flip;
* :func:`angle_counts` and :func:`amplitude_counts` sample each copy's ideal measurement
  outcome (the noise stream) and XOR in its readout flips: a Pauli channel followed by a
  computational-basis measurement acts on the outcome exactly as an independent bit flip
  (:mod:`qtfl.quantum._flip`), so the counts have the law the encodings' variance formulas
  assume, sampled here by an independent route (the teleport frame, not the encoding's own
  binomial/multinomial sampler).

Qubit layout. Angle: value-major, ``shots`` copies of value ``i`` at logical qubits
``i*S .. i*S + S - 1``. Amplitude: copy-major, copy ``c`` at ``c*(n+1) .. c*(n+1) + n``,
ancilla first, then the register from its most significant bit (the outcome-tensor order of
:mod:`qtfl.quantum._amplitude`). Logical qubit ``j`` of a code uses physical qubits
``j*code.n .. j*code.n + code.n - 1``.

Only untouched pairs are modelled (no eavesdropper, or a classical tap, whose Bell bits are
uniform): what an intercept-resend or man-in-the-middle attacker learns from an analog or
encoded payload is not modelled, so :class:`~qtfl.channel.teleportation.TeleportationChannel`
refuses that combination.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qtfl.channel.verified import LinkSample, VerifiedTeleport
from qtfl.quantum._amplitude import AmplitudeEncoding, AmplitudePayload
from qtfl.quantum._angle import AngleEncoding, AnglePayload
from qtfl.quantum.noise import BellDiagonalPair
from qtfl.quantum.qec import StabilizerCode, decode_frames, logical_pauli_channel
from qtfl.quantum.teleport import sample_pauli_frame, uniform_bits
from qtfl.security.eavesdropper import TeleportSample

Bits = npt.NDArray[np.uint8]
_BLOCK = 1 << 22  # readout outcomes drawn per vectorised block (bounds memory)


@dataclass(frozen=True)
class FramedSample(TeleportSample):
    """A :class:`TeleportSample` that also keeps each payload qubit's Z error component."""

    frame_z: Bits


class FramedTeleport(VerifiedTeleport):
    """:class:`VerifiedTeleport` whose payload step keeps the full Pauli frame.

    ``teleport(sample, bits)`` draws the Pauli error of every payload pair from the noise
    stream (exact law of the pair) and the Bell frame from the secret stream; ``raw ⊕ m1`` is
    ``bits ⊕ x`` as in the plain protocol, and :attr:`FramedSample.frame_z` holds ``z``.
    """

    def teleport(
        self,
        sample: LinkSample,
        bits: Bits,
        *,
        rng: np.random.Generator,
        secret_rng: np.random.Generator,
    ) -> TeleportSample:
        n = int(bits.size)
        frame = sample_pauli_frame(self.link.pair, n, rng=rng)
        bell = uniform_bits((n, 2), rng=secret_rng)
        bell[:, 1] ^= bits
        m1 = bell[:, 1]
        raw = bits ^ frame.x_bits() ^ m1
        return FramedSample(bell_bits=bell, raw=raw, eve_guess=m1.copy(), frame_z=frame.z_bits())


def logical_pair(pair: BellDiagonalPair, code: StabilizerCode | None) -> BellDiagonalPair:
    """The Pauli channel a logical qubit sees, as the Bell-diagonal pair that would apply it:
    ``pair`` itself without a code, else :func:`~qtfl.quantum.qec.logical_pauli_channel`."""
    if code is None:
        return pair
    p_i, p_x, p_y, p_z = logical_pauli_channel(code, pair.pauli_probabilities)
    return BellDiagonalPair((p_i, p_y, p_x, p_z))  # (A, B, C, D) = (p_I, p_Y, p_X, p_Z)


def readout_flips(sample: TeleportSample, code: StabilizerCode | None) -> tuple[Bits, Bits]:
    """``(z_readout_flip, x_readout_flip)`` per logical qubit from a :class:`FramedSample`
    of an all-zero physical payload (module notes)."""
    if not isinstance(sample, FramedSample):
        raise TypeError("readout_flips needs a FramedSample (FramedTeleport's payload step)")
    x = sample.raw ^ sample.bell_bits[:, 1]
    z = sample.frame_z
    if code is None:
        return x, z
    residual = decode_frames(code, x.reshape(-1, code.n), z.reshape(-1, code.n))
    return residual[:, 0].copy(), residual[:, 1].copy()


def angle_counts(
    encoding: AngleEncoding,
    payload: AnglePayload,
    z_flips: Bits,
    *,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """Ones among the ``S`` copies of each value: ideal Z outcomes ``Bernoulli((1-c)/2)`` XOR
    each copy's readout flip."""
    s, d = encoding.shots, payload.n_values
    p1 = encoding.one_probability(payload)
    flips = z_flips.reshape(d, s)
    counts = np.empty(d, np.int64)
    step = max(1, _BLOCK // s)
    for start in range(0, d, step):
        stop = min(d, start + step)
        ideal = rng.random((stop - start, s)) < p1[start:stop, None]
        counts[start:stop] = np.count_nonzero(ideal ^ flips[start:stop].astype(bool), axis=1)
    return counts


def amplitude_counts(
    encoding: AmplitudeEncoding,
    payload: AmplitudePayload,
    z_flips: Bits,
    x_flips: Bits,
    *,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """Outcome counts (flat index ``a*D + i``) of ``S`` copies: ideal outcomes drawn from the
    interference distribution, the ancilla (read in X, after H) flipped by its X-readout
    flip, each register qubit by its Z-readout flip."""
    n = payload.register_qubits
    width, dim = n + 1, 1 << n
    ideal = rng.choice(2 * dim, size=encoding.shots, p=encoding.outcome_distribution(payload))
    flips = z_flips.reshape(encoding.shots, width).astype(np.int64)
    flips[:, 0] = x_flips.reshape(encoding.shots, width)[:, 0]
    weights = np.int64(1) << np.arange(n, -1, -1, dtype=np.int64)  # ancilla weight 2^n = D
    noisy = ideal ^ (flips @ weights)
    return np.bincount(noisy, minlength=2 * dim).astype(np.int64)
