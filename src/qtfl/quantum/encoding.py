"""Classical model updates as qubit payloads: basis, angle and amplitude encodings.

=============  ==========================  ======================  ===============================
encoding       qubits per copy (d values)  classical header         copies for RMS error ``eps``
=============  ==========================  ======================  ===============================
basis (b bit)  ``d * b``                   float32 ``max|x|``       1 noise-free (error <= s/2);
                                                                    odd m, majority vote, with flips
angle          ``d``                       float32 ``r = max|x|``   ``r^2 / (eps^2 (1-2q)^2)``
amplitude      ``ceil(log2 d) + 1``        float64 ``||x||``        ``max_i Var_1(x_i) / eps^2``
float32        ``32 d``                    float32 ``max|x|``       1 noise-free (exact); with
                                                                    flips use FEC
=============  ==========================  ======================  ===============================

Every encoding follows the :class:`Encoding` protocol (``name``, ``header_bits``,
``payload_qubits``, ``copies_for_precision``) so a channel can cost any of them uniformly; each
has ``encode(update) -> payload`` and a decoder. The basis encoding is deterministic (its bits
go through teleportation one per qubit); the angle and amplitude encodings are statistical
(each readout draws counts from ``S`` copies and estimates the values without bias; their
variances are derived in :mod:`qtfl.quantum._angle` and :mod:`qtfl.quantum._amplitude`).

Noise enters every readout as independent per-qubit flip probabilities ``q < 1/2`` on the
measured bits — the numbers the teleport/noise layer provides (for a Bell-diagonal pair a
Z-basis readout flips with ``p_X + p_Y = pair.teleported_bit_error``); this module does not
depend on the teleport layer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final, Protocol, runtime_checkable

import numpy.typing as npt

from qtfl.errors import InputError, require_choice
from qtfl.quantum._amplitude import (
    AmplitudeEncoding,
    AmplitudePayload,
    readout_flip_probabilities,
)
from qtfl.quantum._angle import AngleEncoding, AnglePayload
from qtfl.quantum._basis import BasisEncoding, BasisPayload
from qtfl.quantum._flip import FlipProbability
from qtfl.quantum._float32 import Float32Encoding


@runtime_checkable
class Encoding(Protocol):
    """What a channel needs to know to cost an encoding, whichever it is."""

    @property
    def name(self) -> str:
        """Short name (``"basis"``, ``"angle"``, ``"amplitude"``)."""
        ...

    @property
    def header_bits(self) -> int:
        """Classical side information per payload, sent over the authenticated channel."""
        ...

    def payload_qubits(self, n_values: int) -> int:
        """Qubits that carry one copy of an update of ``n_values`` values."""
        ...

    def copies_for_precision(
        self, update: npt.ArrayLike, *, eps: float, flip_probability: FlipProbability = 0.0
    ) -> int:
        """Copies needed so every decoded value has RMS error at most ``eps``."""
        ...


ENCODINGS: Final[
    Mapping[str, type[BasisEncoding | AngleEncoding | AmplitudeEncoding | Float32Encoding]]
] = {
    "basis": BasisEncoding,
    "angle": AngleEncoding,
    "amplitude": AmplitudeEncoding,
    "float32": Float32Encoding,
}
"""Every encoding by name, in the order of :data:`qtfl.registry.ENCODINGS`."""


def make_encoding(name: str, **options: Any) -> Encoding:
    """The encoding called ``name`` with its keyword options (``bits=``, ``shots=``)."""
    cls = ENCODINGS[require_choice("encoding", name, ENCODINGS)]
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(
            f"unknown option(s) {', '.join(unknown)} for the {name} encoding; "
            f"allowed: {', '.join(allowed)}"
        )
    return cls(**options)


__all__ = [
    "ENCODINGS",
    "AmplitudeEncoding",
    "AmplitudePayload",
    "AngleEncoding",
    "AnglePayload",
    "BasisEncoding",
    "BasisPayload",
    "Encoding",
    "FlipProbability",
    "Float32Encoding",
    "make_encoding",
    "readout_flip_probabilities",
]
