"""One round of federated learning, written once for both engines.

A round has a **plan** the server draws before anyone trains and a **tally** it keeps while
the deliveries come back; :class:`~qtfl.fl.engine.FederatedSimulation` (in process) and the
Flower strategy (:mod:`qtfl.flower.server`) run the same steps on them:

1. :func:`draw_round` — which clients are sampled (``max(1, round(fraction * n))``
   distinct, sorted) and which of them drop out (they receive the model, never answer);
   one draw from the sampling stream and one from the dropout stream;
2. per chunk of sampled clients, :meth:`~qtfl.fl.engine.FederatedSimulation.cohorts` sends
   the global model down each client's downlink (:meth:`RoundTally.add_downlink`) and
   yields a :class:`Cohort`: the clients that will train, what each starts from, and their
   mini-batch plan;
3. every uplink delivery that comes back enters :meth:`RoundTally.add_uplink`, in sampled
   order; a client whose Flower node does not answer enters
   :meth:`RoundTally.add_unanswered` instead;
4. :meth:`RoundTally.metrics` turns the tally into the round's :class:`RoundMetrics`.

Counting rules (both engines): ``aborted`` counts deliveries, down or up, whose verdict was
not accepted, ``detected`` those flagged as eavesdropping; ``answered`` counts uplink
deliveries and ``aggregated`` the accepted ones; ``dropped`` is the dropout draw plus the
clients that did not answer. A client's downlink and uplink are sequential and clients run
in parallel, so the round's ``link_seconds`` is the maximum over clients of their seconds
and ``link_seconds_total`` the sum.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from qtfl.channel import Delivery, Ledger
from qtfl.fl.client import BatchPlan

#: Ledger fields recorded per client and round (:attr:`RoundMetrics.clients`).
CLIENT_LEDGER_FIELDS: tuple[str, ...] = (
    "bell_pairs",
    "payload_qubits",
    "check_pairs",
    "purification_pairs",
    "classical_bits",
    "link_seconds",
)
CLIENT_FIELDS: tuple[str, ...] = (
    "client",
    "accepted",
    "detected",
    "reason",
    "qber",
    "qber_bound",
    "eve_information_bits",
    *CLIENT_LEDGER_FIELDS,
)
LEDGER_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Ledger))


@dataclass(frozen=True)
class RoundMetrics:
    """What happened in one round (one line of ``metrics.jsonl``).

    ``accuracy`` and ``loss`` (test set, mean cross-entropy) are ``None`` in rounds without
    evaluation; for regression (``LocalTraining.loss == "mse"``) ``accuracy`` holds the
    task metric R² and ``loss`` the mean squared error (:meth:`FederatedSimulation.evaluate`).
    ``answered`` clients trained and sent an update; ``aborted`` counts
    deliveries (down or up) whose verdict was not accepted, ``detected`` those flagged as
    eavesdropping; ``aggregated`` updates entered the strategy. ``wall_seconds`` is the
    round's computer time, ``train_seconds`` the part spent in local training. ``clients``
    holds the uplink deliveries column-wise (:data:`CLIENT_FIELDS`: client id, verdict and
    ledger per delivery, in the order sent). ``unanswered_clients``: the clients that were
    asked to train but whose node never answered (Flower: node gone, failed or too slow;
    counted in ``dropped``; always empty in process). ``network`` (only with a
    :class:`~qtfl.fl.engine.RoundScheduler`) is the schedule's round record:
    ``makespan_seconds``, ``stragglers``, ``utilisation``...; then ``clients`` also holds
    the schedule's per-client columns and ``link_seconds`` is the slowest downlink plus the
    makespan.
    """

    round: int
    accuracy: float | None
    loss: float | None
    sampled: int
    dropped: int
    answered: int
    aborted: int
    detected: int
    aggregated: int
    uplink: dict[str, float] = field(default_factory=dict)
    downlink: dict[str, float] = field(default_factory=dict)
    link_seconds: float = 0.0
    link_seconds_total: float = 0.0
    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    clients: dict[str, list[Any]] = field(default_factory=dict)
    unanswered_clients: list[int] = field(default_factory=list)
    network: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain mapping for JSON (``network`` only when the round was scheduled)."""
        raw = dataclasses.asdict(self)
        if raw["network"] is None:
            del raw["network"]
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RoundMetrics:
        """Inverse of :meth:`as_dict`."""
        return cls(**raw)


@dataclass(frozen=True)
class RoundPlan:
    """Who takes part in round ``round``, drawn before anyone trains.

    Attributes:
        round: the round number (1-based).
        sampled: the sampled client ids, sorted (``int64 (m,)``).
        dropped: per sampled client, whether it drops out (``bool (m,)``).
        started: ``time.perf_counter()`` when the round began (its wall time).
    """

    round: int
    sampled: npt.NDArray[np.int64]
    dropped: npt.NDArray[np.bool_]
    started: float

    @property
    def size(self) -> int:
        """Number of sampled clients."""
        return int(self.sampled.size)


@dataclass(frozen=True)
class Cohort:
    """One chunk's training clients: who, from which parameters, on which batches.

    Attributes:
        slots: positions in :attr:`RoundPlan.sampled` (ascending).
        clients: the client ids, ``plan.sampled[slots]``.
        start: ``(len(slots), P)`` float32: what each client's downlink delivered (a view
            of a reused buffer, valid until the next cohort is drawn).
        batches: the clients' mini-batch plan, rows in the order of ``clients``.
    """

    slots: npt.NDArray[np.int64]
    clients: npt.NDArray[np.int64]
    start: npt.NDArray[np.float32]
    batches: BatchPlan


def draw_round(
    r: int,
    *,
    num_clients: int,
    fraction: float,
    dropout_probability: float,
    sampling: np.random.Generator,
    dropout: np.random.Generator,
) -> RoundPlan:
    """Sample round ``r``'s clients and their dropouts (one draw from each stream)."""
    started = time.perf_counter()
    m = max(1, min(num_clients, round(fraction * num_clients)))
    sampled = np.sort(sampling.choice(num_clients, size=m, replace=False))
    dropped = dropout.random(m) < dropout_probability
    return RoundPlan(round=r, sampled=sampled, dropped=dropped, started=started)


class LedgerSum:
    """Field-by-field running sum of Ledgers without building one Ledger per addition."""

    def __init__(self) -> None:
        self.values: dict[str, float] = dict.fromkeys(LEDGER_FIELDS, 0)

    def add(self, ledger: Ledger) -> None:
        """Add every field of ``ledger``."""
        for name in LEDGER_FIELDS:
            self.values[name] += getattr(ledger, name)

    def as_dict(self) -> dict[str, float]:
        """The sum as :meth:`Ledger.as_dict` gives it."""
        return Ledger(**self.values).as_dict()  # type: ignore[arg-type]


class RoundTally:
    """What came back in one round: ledger sums, per-client records, counts, link seconds.

    Fill it with :meth:`add_downlink`, :meth:`add_uplink` (in sampled order) and
    :meth:`add_unanswered`; read it with :meth:`metrics`. ``train_seconds`` is the local
    training time the engine measured (0 where clients train elsewhere).
    """

    def __init__(self, plan: RoundPlan) -> None:
        self.plan = plan
        self.uplink = LedgerSum()
        self.downlink = LedgerSum()
        self.client_seconds = np.zeros(plan.size)
        self.downlink_seconds = np.zeros(plan.size)
        self.late_updates = 0
        self.aborted = 0
        self.detected = 0
        self.answered = 0
        self.accepted = 0
        self.train_seconds = 0.0
        self.unanswered: list[int] = []
        self.clients: dict[str, list[Any]] = {name: [] for name in CLIENT_FIELDS}

    def add_downlink(self, slot: int, delivery: Delivery) -> bool:
        """Count sampled client ``slot``'s downlink; True when it was accepted."""
        self.downlink.add(delivery.ledger)
        self.client_seconds[slot] += delivery.ledger.link_seconds
        self.downlink_seconds[slot] = delivery.ledger.link_seconds
        return self._verdict(delivery)

    def add_uplink(
        self,
        slot: int,
        client: int,
        delivery: Delivery,
        *,
        scheduled: dict[str, Any] | None = None,
        late: bool = False,
    ) -> bool:
        """Count and record client ``client``'s (at ``slot``) uplink; True when it is to be
        aggregated (accepted, and not ``late``: a straggler is counted, not aggregated).

        ``scheduled``: the network schedule's per-client columns; its ``link_seconds``
        replaces the ledger's (queueing excluded: from its first pair to its delivery).
        """
        self.answered += 1
        self.uplink.add(delivery.ledger)
        v, led, cols = delivery.verdict, delivery.ledger, self.clients
        cols["client"].append(client)
        cols["accepted"].append(v.accepted)
        cols["detected"].append(v.detected)
        cols["reason"].append(v.reason)
        cols["qber"].append(v.qber)
        cols["qber_bound"].append(v.qber_bound)
        cols["eve_information_bits"].append(delivery.tap.information_bits)
        for name in CLIENT_LEDGER_FIELDS:
            cols[name].append(getattr(led, name))
        if scheduled is None:
            self.client_seconds[slot] += delivery.ledger.link_seconds
        else:
            for name, value in scheduled.items():
                if name == "link_seconds":
                    cols[name][-1] = value
                else:
                    cols.setdefault(name, []).append(value)
            self.client_seconds[slot] += float(scheduled["link_seconds"])
        if late and v.accepted:
            self.late_updates += 1  # arrived after the deadline: counted, not aggregated
            return False
        return self._verdict(delivery, uplink=True)

    def add_unanswered(self, client: int) -> None:
        """Client ``client`` was to train but its node never answered (counted as dropped)."""
        self.unanswered.append(int(client))

    def _verdict(self, delivery: Delivery, *, uplink: bool = False) -> bool:
        if delivery.verdict.accepted:
            self.accepted += int(uplink)
            return True
        self.aborted += 1
        self.detected += int(delivery.verdict.detected)
        return False

    def metrics(
        self,
        *,
        accuracy: float | None,
        loss: float | None,
        network: dict[str, Any] | None = None,
    ) -> RoundMetrics:
        """The round's record (its wall time measured from the plan's start to now);
        ``aggregated`` is the number of accepted uplinks. ``network``: the schedule's round
        record; the round's link time is then the slowest downlink plus its makespan."""
        plan = self.plan
        if network is not None:
            network = {
                **network,
                "late_updates": self.late_updates,
                "downlink_seconds": float(self.downlink_seconds.max(initial=0.0)),
            }
        return RoundMetrics(
            round=plan.round,
            accuracy=accuracy,
            loss=loss,
            sampled=plan.size,
            dropped=int(plan.dropped.sum()) + len(self.unanswered),
            answered=self.answered,
            aborted=self.aborted,
            detected=self.detected,
            aggregated=self.accepted,
            uplink=self.uplink.as_dict(),
            downlink=self.downlink.as_dict(),
            link_seconds=(
                float(self.client_seconds.max(initial=0.0))
                if network is None
                else network["downlink_seconds"] + network["makespan_seconds"]
            ),
            link_seconds_total=float(self.client_seconds.sum()),
            wall_seconds=time.perf_counter() - plan.started,
            train_seconds=self.train_seconds,
            clients=self.clients,
            unanswered_clients=sorted(self.unanswered),
            network=network,
        )
