r"""Quantum error correction for payloads that are not basis states: stabilizer codes on stim.

Angle- and amplitude-encoded payloads are arbitrary qubit states, so a classical code on
measured bits cannot protect them; a quantum code must. This module simulates the 3-qubit
bit-flip and phase-flip codes, Shor's 9-qubit code and the [[5,1,3]] perfect code at
circuit level with stim and gives their exact logical error probabilities.

Noise model ("code capacity"): encoding, syndrome extraction and decoding are perfect; each
data qubit independently suffers ``x`` (X with p), ``z`` (Z with p) or ``depolarizing``
(X, Y, Z each p/3) noise once, between encoding and syndrome extraction — the Pauli channel a
teleportation through a Werner pair applies (``p = 1 - F`` for depolarizing).

The circuit (one stim shot = one protected qubit, vectorised over shots):

1. a reference qubit ``R`` (index ``n``) and the ``n`` data qubits are prepared in the state
   stabilised by the code's stabilizers, ``X_L X_R`` and ``Z_L Z_R`` (the logical qubit
   maximally entangled with R; circuit from ``stim.Tableau.from_stabilizers``);
2. noise on every data qubit;
3. each stabilizer is measured with its own ancilla (``|+>``, controlled Paulis, ``H``, ``M``);
4. ``X_L X_R`` and ``Z_L Z_R`` are measured (``MPP``).

Decoding is a lookup table (most likely error per syndrome, fewest non-identity Paulis under
the noise model). The correction is applied in the Pauli frame: it flips the recorded
``X_L X_R`` (``Z_L Z_R``) outcome when it anticommutes with ``Z_L`` (``X_L``). A logical
error — any of ``X_L``, ``Y_L``, ``Z_L`` left after correction — is a flip of either outcome;
``1 - P_L`` is the entanglement fidelity of the corrected channel.

Closed forms. The 3-qubit bit-flip code under ``x`` noise (and the phase-flip code under
``z`` noise) fails when 2 or 3 of the qubits flip: :math:`P_L = 3p^2 - 2p^3`. For every code
and noise model :func:`exact_logical_error` sums the probability of every one of the
:math:`4^n` Pauli errors the decoder gets wrong:
:math:`P_L = \sum_w A_w (p/3)^w (1-p)^{n-w}` for depolarizing noise (:math:`A_w` from
:func:`failure_counts`); a distance-3 code has :math:`A_0 = A_1 = 0`, so
:math:`P_L = A_2 (p/3)^2 + O(p^3)`.

References: Shor, PRA 52, R2493 (1995); Laflamme, Miquel, Paz & Zurek, PRL 77, 198 (1996)
and Bennett, DiVincenzo, Smolin & Wootters, PRA 54, 3824 (1996) ([[5,1,3]]); Nielsen &
Chuang §10.1-10.5; Gottesman, PhD thesis, Caltech (1997) (stabilizer formalism).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import stim

from qtfl import registry
from qtfl.errors import InputError, require_choice, require_int, require_range

NoiseModel = Literal["x", "z", "depolarizing"]
NOISE_MODELS: Final = ("x", "z", "depolarizing")
_NOISE_GATE: Final = {"x": "X_ERROR", "z": "Z_ERROR", "depolarizing": "DEPOLARIZE1"}
Bits = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class StabilizerCode:
    """An ``[[n, 1, d]]`` stabilizer code: generators and logical operators as Pauli strings.

    Strings use ``I``/``X``/``Y``/``Z`` (or ``_`` for I), one letter per data qubit.
    """

    name: str
    stabilizers: tuple[str, ...]
    logical_x: str
    logical_z: str
    distance: int

    @property
    def n(self) -> int:
        """Number of data qubits."""
        return len(self.logical_z)


CODES: Final[dict[str, StabilizerCode]] = {
    c.name: c
    for c in (
        StabilizerCode("bit-flip", ("ZZI", "IZZ"), "XXX", "ZII", 1),
        StabilizerCode("phase-flip", ("XXI", "IXX"), "XII", "ZZZ", 1),
        StabilizerCode(
            "shor",
            ("ZZIIIIIII", "IZZIIIIII", "IIIZZIIII", "IIIIZZIII", "IIIIIIZZI", "IIIIIIIZZ",
             "XXXXXXIII", "IIIXXXXXX"),
            "ZZZZZZZZZ",
            "XXXXXXXXX",
            3,
        ),
        StabilizerCode("five-qubit", ("XZZXI", "IXZZX", "XIXZZ", "ZXIXZ"), "XXXXX", "ZZZZZ", 3),
    )
}  # fmt: skip


def _symplectic(paulis: tuple[str, ...] | list[str]) -> tuple[Bits, Bits]:
    """``(x, z)`` bit matrices of Pauli strings (Y = both)."""
    letters = np.array([list(p.replace("_", "I")) for p in paulis])
    return ((letters == "X") | (letters == "Y")).astype(np.uint8), (
        (letters == "Z") | (letters == "Y")
    ).astype(np.uint8)


def _anticommute(ex: Bits, ez: Bits, px: Bits, pz: Bits) -> Bits:
    """1 where the rows of ``(ex, ez)`` anticommute with each row of ``(px, pz)``."""
    return ((ex.astype(np.int64) @ pz.T + ez.astype(np.int64) @ px.T) & 1).astype(np.uint8)


@functools.lru_cache(maxsize=16)
def _all_errors(code: StabilizerCode, noise: NoiseModel) -> tuple[Bits, Bits, Bits]:
    """Every Pauli error the noise model can produce: ``(x, z, weight)``, lowest weight first."""
    kinds = {"x": (0, 1), "z": (0, 3), "depolarizing": (0, 1, 2, 3)}[noise]  # I X Y Z codes
    grid = np.array(np.meshgrid(*[kinds] * code.n, indexing="ij")).reshape(code.n, -1).T
    x = ((grid == 1) | (grid == 2)).astype(np.uint8)
    z = ((grid == 2) | (grid == 3)).astype(np.uint8)
    weight = (grid != 0).sum(axis=1).astype(np.uint8)
    order = np.argsort(weight, kind="stable")
    return x[order], z[order], weight[order]


def _syndrome_index(ex: Bits, ez: Bits, code: StabilizerCode) -> npt.NDArray[np.int64]:
    sx, sz = _symplectic(code.stabilizers)
    bits = _anticommute(ex, ez, sx, sz)
    return bits.astype(np.int64) @ (1 << np.arange(bits.shape[1], dtype=np.int64))


@functools.lru_cache(maxsize=16)
def decoder_table(code: StabilizerCode, noise: NoiseModel) -> Bits:
    """Lookup decoder: per syndrome integer, the logical flips ``(flip_xx, flip_zz)`` its
    correction causes. The correction is the lowest-weight error of that syndrome."""
    ex, ez, _ = _all_errors(code, noise)
    syn = _syndrome_index(ex, ez, code)
    table = np.zeros((1 << len(code.stabilizers), 2), np.uint8)
    seen, first = np.unique(syn, return_index=True)
    table[seen] = _logical_flips(ex[first], ez[first], code)
    return table


def _logical_flips(ex: Bits, ez: Bits, code: StabilizerCode) -> Bits:
    """``(flip of X_L X_R, flip of Z_L Z_R)`` caused by each error row."""
    lx, lz = _symplectic([code.logical_x, code.logical_z])
    return _anticommute(ex, ez, lx, lz)  # column 0: anticommutes with X_L; 1: with Z_L


@functools.lru_cache(maxsize=16)
def _residuals(code: StabilizerCode, noise: NoiseModel) -> tuple[Bits, Bits]:
    """``(weight, residual)`` for every error of the noise model after table decoding;
    ``residual[:, 0]`` flips the X-readout of the logical qubit, ``[:, 1]`` the Z-readout."""
    ex, ez, weight = _all_errors(code, noise)
    correction = decoder_table(code, noise)[_syndrome_index(ex, ez, code)]
    residual: Bits = np.bitwise_xor(_logical_flips(ex, ez, code), correction)
    return weight, residual


def _weighted_sum(code: StabilizerCode, noise: NoiseModel, p: float, mask: Bits) -> float:
    """``sum_w A_w q^w (1-p)^(n-w)`` over the errors selected by ``mask``."""
    weight, _ = _residuals(code, noise)
    counts = np.bincount(weight[mask == 1], minlength=code.n + 1)
    q = p / 3.0 if noise == "depolarizing" else p
    w = np.arange(code.n + 1)
    return float(np.sum(counts * q**w * (1.0 - p) ** (code.n - w)))


def failure_counts(code: StabilizerCode | str, noise: NoiseModel) -> npt.NDArray[np.int64]:
    """``A_w``: how many weight-``w`` errors of the noise model the decoder turns into a
    logical error, for ``w = 0..n``."""
    c = get_code(code)
    weight, residual = _residuals(c, require_choice("noise", noise, NOISE_MODELS))
    failed = residual.any(axis=1)
    return np.bincount(weight[failed], minlength=c.n + 1).astype(np.int64)


def exact_logical_error(code: StabilizerCode | str, *, noise: NoiseModel, p: float) -> float:
    r"""Exact logical error probability :math:`\sum_w A_w\, q^w (1-p)^{n-w}`, where
    ``q = p`` for ``x``/``z`` noise and ``p/3`` for depolarizing."""
    c = get_code(code)
    pp = require_range("p", p, low=0.0, high=1.0)
    _, residual = _residuals(c, require_choice("noise", noise, NOISE_MODELS))
    return _weighted_sum(c, noise, pp, np.any(residual, axis=1).astype(np.uint8))


def exact_readout_flip(
    code: StabilizerCode | str, *, noise: NoiseModel, p: float, basis: Literal["Z", "X"] = "Z"
) -> float:
    """Exact probability that measuring the corrected logical qubit in ``basis`` gives the
    wrong outcome: a residual ``X_L`` or ``Y_L`` for a Z readout, ``Z_L`` or ``Y_L`` for X.

    This is the flip probability ``q`` a statistically read-out payload (the angle
    encoding's Z readout) sees through the code, in place of the physical ``p_X + p_Y``.
    """
    c = get_code(code)
    pp = require_range("p", p, low=0.0, high=1.0)
    column = {"X": 0, "Z": 1}[require_choice("basis", basis, ("Z", "X"))]
    _, residual = _residuals(c, require_choice("noise", noise, NOISE_MODELS))
    return _weighted_sum(c, noise, pp, np.asarray(residual[:, column], dtype=np.uint8))


def get_code(code: StabilizerCode | str) -> StabilizerCode:
    """A :class:`StabilizerCode` or the name of one in :data:`CODES`."""
    if isinstance(code, StabilizerCode):
        return code
    return CODES[require_choice("QEC code", code, tuple(CODES))]


def memory_circuit(code: StabilizerCode | str, *, noise: NoiseModel, p: float) -> stim.Circuit:
    """The stim circuit of one protected qubit: encode with R, noise, syndrome, logical MPPs.

    Qubits ``0..n-1`` are data, ``n`` is the reference R, ``n+1..`` the syndrome ancillas.
    Record: one bit per stabilizer, then ``X_L X_R``, then ``Z_L Z_R``.
    """
    c = get_code(code)
    pp = require_range("p", p, low=0.0, high=1.0)
    gate = _NOISE_GATE[require_choice("noise", noise, NOISE_MODELS)]
    n, data = c.n, range(c.n)
    stabs = [stim.PauliString(s + "I") for s in c.stabilizers]
    stabs += [stim.PauliString(c.logical_x + "X"), stim.PauliString(c.logical_z + "Z")]
    circuit = stim.Tableau.from_stabilizers(stabs).to_circuit("elimination")
    circuit.append(gate, data, pp)
    for i, stab in enumerate(c.stabilizers):
        anc = n + 1 + i
        circuit.append("H", [anc])
        for q, letter in enumerate(stab):
            if letter in "XYZ":
                circuit.append(f"C{letter}", [anc, q])
        circuit.append("H", [anc])
        circuit.append("M", [anc])
    for logical, r in ((c.logical_x, "X"), (c.logical_z, "Z")):
        targets = [
            stim.target_pauli(q, letter) for q, letter in enumerate(logical) if letter != "I"
        ]
        product: list[stim.GateTarget] = []
        for t in [*targets, stim.target_pauli(n, r)]:
            if product:
                product.append(stim.target_combiner())
            product.append(t)
        circuit.append("MPP", product)
    return circuit


def simulate_logical_flips(
    code: StabilizerCode | str, *, noise: NoiseModel, p: float, shots: int, seed: int
) -> npt.NDArray[np.uint8]:
    """Per shot, ``(X-readout flipped, Z-readout flipped)`` after lookup decoding (stim).

    ``seed`` fixes stim's sampler (reproducible on one machine and stim version).
    """
    c = get_code(code)
    n_shots = require_int("shots", shots, low=1)
    sampler = memory_circuit(c, noise=noise, p=p).compile_sampler(seed=seed)
    rec = sampler.sample(n_shots).astype(np.uint8)
    r = len(c.stabilizers)
    syndrome = rec[:, :r].astype(np.int64) @ (1 << np.arange(r, dtype=np.int64))
    flips: npt.NDArray[np.uint8] = rec[:, r : r + 2] ^ decoder_table(c, noise)[syndrome]
    return flips


def simulate_logical_error(
    code: StabilizerCode | str, *, noise: NoiseModel, p: float, shots: int, seed: int
) -> float:
    """Fraction of ``shots`` with a logical error after lookup decoding (stim sampling)."""
    flips = simulate_logical_flips(code, noise=noise, p=p, shots=shots, seed=seed)
    return float(flips.any(axis=1).mean())


def teleport_logical_error(code: StabilizerCode | str, *, fidelity: float) -> float:
    """Exact logical error of ``code`` when each data qubit is teleported through a Werner
    pair of ``fidelity``: depolarizing noise with ``p = 1 - F`` (X, Y, Z each (1-F)/3)."""
    f = require_range("fidelity", fidelity, low=0.25, high=1.0)
    if get_code(code).distance < 3:
        raise InputError(
            f"QEC code {get_code(code).name!r} corrects only one Pauli type; teleportation "
            "noise is depolarizing: use 'shor' or 'five-qubit'"
        )
    return exact_logical_error(code, noise="depolarizing", p=1.0 - f)


QEC_CHOICES: Final[tuple[str, ...]] = registry.QEC_CODES
"""Names a teleport channel's ``qec`` option accepts: no code, or one of :data:`CODES`."""

_PAULI_INDEX: Final = np.array([[0, 3], [1, 2]], np.int64)  # [x, z] -> (I, X, Y, Z) index


def logical_pauli_channel(
    code: StabilizerCode | str, pauli_probabilities: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    r"""The logical Pauli channel ``(p_I, p_X, p_Y, p_Z)`` of ``code`` after lookup decoding
    when every data qubit suffers the Pauli channel ``pauli_probabilities`` independently
    (teleportation through a Bell-diagonal pair: ``pair.pauli_probabilities``).

    Exact: the sum over all :math:`4^n` data errors ``E`` of
    :math:`\prod_j p_{E_j}`, grouped by the logical Pauli the decoder leaves. The decoder is
    the depolarizing lookup table (:func:`decoder_table`, fewest non-identity Paulis per
    syndrome). For a Werner pair ``p_X + p_Y`` of the result equals
    :func:`exact_readout_flip` with ``noise="depolarizing"``, ``p = 1 - F``.
    """
    c = get_code(code)
    p = np.asarray(pauli_probabilities, dtype=np.float64)
    if p.shape != (4,) or (p < 0).any() or not np.isclose(p.sum(), 1.0):
        raise InputError(f"pauli_probabilities must be 4 numbers >= 0 summing to 1, got {p}")
    ex, ez, _ = _all_errors(c, "depolarizing")
    prob = np.prod(p[_PAULI_INDEX[ex, ez]], axis=1)
    _, residual = _residuals(c, "depolarizing")
    index = _PAULI_INDEX[residual[:, 1], residual[:, 0]]  # (flip of Z_L Z_R, of X_L X_R)
    out = np.bincount(index, weights=prob, minlength=4).astype(np.float64)
    return out / out.sum()


def decode_frames(code: StabilizerCode | str, x: Bits, z: Bits) -> Bits:
    """Residual logical flips after lookup decoding of sampled data-qubit Pauli errors.

    Args:
        code: the code (or its name).
        x, z: ``(m, n)`` 0/1 X and Z components of the error on each data qubit of ``m``
            protected qubits (a :class:`~qtfl.quantum.teleport.PauliFrame` reshaped).

    Returns:
        ``(m, 2)``: column 0 is 1 where a Z-basis readout of the logical qubit is flipped
        (residual ``X_L`` or ``Y_L``), column 1 where an X-basis readout is (``Z_L`` or
        ``Y_L``). Vectorised over ``m``; the same table :func:`logical_pauli_channel` sums.
    """
    c = get_code(code)
    ex, ez = np.asarray(x, np.uint8), np.asarray(z, np.uint8)
    if ex.ndim != 2 or ex.shape != ez.shape or ex.shape[1] != c.n:
        raise InputError(f"x and z must both have shape (m, {c.n}), got {ex.shape}, {ez.shape}")
    correction = decoder_table(c, "depolarizing")[_syndrome_index(ex, ez, c)]
    residual: Bits = np.bitwise_xor(_logical_flips(ex, ez, c), correction)
    return np.ascontiguousarray(residual[:, ::-1])
