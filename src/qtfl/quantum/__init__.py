"""Quantum physics of one link: pair states, encodings, teleportation (stim), purification.

The Qiskit reference simulation (:mod:`qtfl.quantum.reference`, :mod:`qtfl.quantum.device`)
needs the ``qtfl[qiskit]`` extra and is not imported here.
"""

from qtfl.quantum.encoding import (
    AmplitudeEncoding,
    AngleEncoding,
    BasisEncoding,
    BasisPayload,
    Encoding,
    make_encoding,
)
from qtfl.quantum.noise import BellDiagonalPair, WernerPair
from qtfl.quantum.purification import PurificationSchedule, bbpssw, dejmps, purify, purify_until
from qtfl.quantum.teleport import Teleporter, TeleportResult, compile_teleporter

__all__ = [
    "AmplitudeEncoding",
    "AngleEncoding",
    "BasisEncoding",
    "BasisPayload",
    "BellDiagonalPair",
    "Encoding",
    "PurificationSchedule",
    "TeleportResult",
    "Teleporter",
    "WernerPair",
    "bbpssw",
    "compile_teleporter",
    "dejmps",
    "make_encoding",
    "purify",
    "purify_until",
]
