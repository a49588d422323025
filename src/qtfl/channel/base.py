"""The Channel contract: everything between a client's update and what the server receives.

One call, ``Channel.send(update, *, rng) -> Delivery``. Classical plaintext, classical AEAD,
teleportation and a QKD-keyed one-time pad are all Channels, so the FL engine never branches
on which one it uses, and attacks read only what an attacker on that channel would see
(:attr:`Delivery.tap`).

A Delivery carries

* ``received`` — the float32 vector the receiving end decoded (``None`` when not delivered);
* ``ledger`` — what the transfer cost (:class:`Ledger`, additive with ``+``);
* ``verdict`` — accepted, or aborted and why (:class:`Verdict`);
* ``tap`` — what an eavesdropper observed on the wire (:class:`Tap`).
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from qtfl.updates import FloatVector, validate_update


@dataclass(frozen=True)
class Ledger:
    """Resources one or more transfers consumed. Ledgers add field by field with ``+``.

    Attributes:
        payload_bits: classical bits of the update as handed to the channel's encoder.
        payload_qubits: qubits that carried payload (teleported); 0 for classical channels.
        bell_pairs: Bell pairs consumed in total — payload, checks and purification included.
        check_pairs: Bell pairs sacrificed to estimate the QBER.
        purification_pairs: Bell pairs consumed by entanglement purification.
        classical_bits: bits sent over the classical channel (ciphertext, Bell-measurement
            results, basis announcements, error-correction syndromes...).
        link_seconds: time the link was busy for this transfer (sequential transfers add).
        retransmissions: payload blocks or whole attempts sent again after a failure.
    """

    payload_bits: int = 0
    payload_qubits: int = 0
    bell_pairs: int = 0
    check_pairs: int = 0
    purification_pairs: int = 0
    classical_bits: int = 0
    link_seconds: float = 0.0
    retransmissions: int = 0

    def __post_init__(self) -> None:
        for name in _LEDGER_FIELDS:
            if getattr(self, name) < 0:
                raise ValueError(f"Ledger.{name} must be >= 0, got {getattr(self, name)}")

    def __add__(self, other: Ledger) -> Ledger:
        if not isinstance(other, Ledger):
            return NotImplemented
        return Ledger(**{n: getattr(self, n) + getattr(other, n) for n in _LEDGER_FIELDS})

    def as_dict(self) -> dict[str, float]:
        """Plain mapping for JSON output."""
        return dataclasses.asdict(self)


_LEDGER_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Ledger))


@dataclass(frozen=True)
class Verdict:
    """Whether the receiving end accepted a transfer, and the evidence for it.

    Attributes:
        accepted: True when ``Delivery.received`` holds the decoded update.
        reason: short machine-readable reason (``"ok"``, ``"qber-above-threshold"``...).
        detected: True when the checks flagged an eavesdropper (or a link too noisy to trust).
        qber: estimated quantum bit error rate on the check pairs, when checks ran.
        qber_bound: the abort threshold the estimate was compared with.
        p_value: probability of a QBER estimate at least this large on an honest link.
        attempts: how many times the transfer was tried (retries on fresh pairs included).
    """

    accepted: bool
    reason: str = "ok"
    detected: bool = False
    qber: float | None = None
    qber_bound: float | None = None
    p_value: float | None = None
    attempts: int = 1

    @classmethod
    def ok(cls, **evidence: float | int | None) -> Verdict:
        """An accepted transfer, with optional evidence (``qber=...``, ``attempts=...``)."""
        return cls(accepted=True, reason="ok", **evidence)  # type: ignore[arg-type]

    @classmethod
    def abort(
        cls, reason: str, *, detected: bool = False, **evidence: float | int | None
    ) -> Verdict:
        """A transfer whose payload must not be aggregated."""
        return cls(accepted=False, reason=reason, detected=detected, **evidence)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Tap:
    """What an eavesdropper on this channel observed.

    Attributes:
        kind: what the observation is (``"plaintext"``, ``"ciphertext"``,
            ``"bell-measurement-bits"``, ``"intercept-resend"``...).
        observed: the raw observation as bytes (``uint8``), exactly what crossed the wire.
        payload_guess: the attacker's own guess of every payload bit (``uint8`` 0/1), when the
            attack yields one; used to measure leakage. ``None`` when there is no guess.
        information_bits: what that guess is worth, measured against the true bits:
            ``n (1 - h(agreement))`` (:func:`qtfl.security.leakage.measure_leakage`), summed
            over the transfers of this delivery; ``None`` when there is no guess.
    """

    kind: str
    observed: npt.NDArray[np.uint8] = field(default_factory=lambda: np.zeros(0, np.uint8))
    payload_guess: npt.NDArray[np.uint8] | None = None
    information_bits: float | None = None


@dataclass(frozen=True)
class Delivery:
    """The outcome of one :meth:`Channel.send`."""

    received: FloatVector | None
    ledger: Ledger
    verdict: Verdict
    tap: Tap

    def __post_init__(self) -> None:
        if self.verdict.accepted != (self.received is not None):
            raise ValueError("Delivery.received must be set exactly when the verdict is accepted")

    @property
    def delivered(self) -> bool:
        """True when the receiving end holds an update to aggregate."""
        return self.verdict.accepted


class Channel(abc.ABC):
    """A way for one update to travel from a sender to a receiver.

    Subclasses implement :meth:`_send` on an already validated float32 vector; callers use
    :meth:`send`. A channel never mutates the update it is given, and for a given
    ``numpy.random.Generator`` state its Delivery is reproducible.
    """

    name: ClassVar[str] = "channel"
    #: False for channels whose wire carries fresh secrets from the OS CSPRNG (ephemeral
    #: keys, nonces): their ``tap`` differs on every send even for the same generator state,
    #: while ``received``, ``ledger`` and ``verdict`` stay reproducible.
    wire_reproducible: ClassVar[bool] = True

    def send(self, update: npt.ArrayLike, *, rng: np.random.Generator) -> Delivery:
        """Transmit ``update`` and return what arrived, what it cost and what leaked."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return self._send(validate_update(update), rng=rng)

    @abc.abstractmethod
    def _send(self, update: FloatVector, *, rng: np.random.Generator) -> Delivery:
        """Transmit a validated 1-D float32 vector."""

    def state_dict(self) -> dict[str, npt.NDArray[np.float32]]:
        """State a channel carries from one send to the next (e.g. a client's
        error-feedback residual), for checkpoints; stateless channels have none."""
        return {}

    def load_state_dict(self, state: dict[str, npt.NDArray[np.float32]]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if state:
            raise ValueError(f"{type(self).__name__} is stateless, got state {sorted(state)}")
