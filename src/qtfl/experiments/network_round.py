r"""The server's quantum side in a run: schedule a round, dephase each client's pairs.

:class:`ServerTimeline` is what a federated round asks, once its clients are sampled (and
the drop-outs drawn): "when does each client's update arrive, and in what state are the
pairs it travels through?" It holds every client's link (its pair, heralded pair rate,
classical latency and memory coherence time), the Bell pairs one update needs on each link,
and the server's :class:`~qtfl.network.timeline.ServerResources`. :meth:`ServerTimeline.schedule`
runs :func:`~qtfl.network.timeline.schedule_round` for the round's clients and returns a
:class:`ScheduledRound`:

* each client's queueing wait, service time, delivery time and straggler flag (delivered
  after the deadline: its update is not aggregated);
* the round's makespan and the server's utilisation;
* the pair each client's update is teleported through *this round*: its link's pair with
  both halves dephased while the batch waits in memory. The client's half decays with the
  client's :math:`T_2^{c}`, the server's half with the server's :math:`T_2^{s}` over the
  same wait, so the coherence factor is :math:`e^{-w/T_2^{c}} e^{-w/T_2^{s}} = e^{-w/T_2}`
  with :math:`1/T_2 = 1/T_2^{c} + 1/T_2^{s}`; averaged over the batch (pairs heralded
  uniformly over the service time ``D``, used at its end) that is
  :math:`\frac{T_2}{D}(1 - e^{-D/T_2})` (:func:`~qtfl.network.timeline.mean_coherence`), one
  Bell-diagonal pair dephased for the effective wait. Its Z-basis error is unchanged, its
  X-basis error grows: the checks (and the threshold the server sets from the pair it knows
  it holds) see the dephasing of that round.

The channel of the round is built by the caller's ``make_uplink(client, link)`` from the
dephased :class:`~qtfl.channel.verified.LinkSpec`, so the FL engine keeps seeing only
Channels. Pairs per update are the channel's nominal count (payload or FEC codeword bits plus
check pairs, :func:`nominal_pairs`): retries after a failed check and FEC retransmissions
are in the delivery's ledger but not in the timeline.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from qtfl.channel import Channel
from qtfl.channel.verified import LinkSpec, PairLink
from qtfl.errors import InputError
from qtfl.network.timeline import RoundTimeline, ServerResources, schedule_round

FloatArray = npt.NDArray[np.float64]
#: Per-client columns a scheduled round adds to a round's record (in the uplink order).
NETWORK_CLIENT_FIELDS: tuple[str, ...] = (
    "wait_seconds",
    "service_seconds",
    "delivered_at_seconds",
    "fidelity_used",
    "straggler",
)


def combined_t2(client_t2_s: npt.ArrayLike, server_t2_s: float | None) -> FloatArray:
    r""":math:`1/(1/T_2^{c} + 1/T_2^{s})` per client (``inf``: both memories perfect)."""
    c = np.asarray(client_t2_s, dtype=np.float64)
    s = math.inf if server_t2_s is None else float(server_t2_s)
    with np.errstate(divide="ignore"):
        rate = 1.0 / c + 1.0 / s
        return np.where(rate > 0, 1.0 / np.where(rate > 0, rate, 1.0), math.inf)


def batch_coherence(service_s: npt.ArrayLike, t2_s: npt.ArrayLike) -> FloatArray:
    r"""Per client :math:`\frac{T_2}{D}(1 - e^{-D/T_2})` (1 for ``D = 0`` or ``T_2 = \infty``)."""
    d = np.asarray(service_s, dtype=np.float64)
    t2 = np.broadcast_to(np.asarray(t2_s, dtype=np.float64), d.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(np.isinf(t2), 0.0, d / t2)
        return np.where(x > 1e-12, -np.expm1(-x) / np.where(x > 0, x, 1.0), 1.0 - x / 2.0)


def nominal_pairs(channel: Channel, num_values: int) -> int:
    """Bell pairs one update of ``num_values`` float32 values uses on ``channel``'s link.

    A :class:`~qtfl.channel.teleportation.TeleportationChannel`: the encoded bits (FEC
    codewords when it has a code) plus the check pairs, without retries or retransmissions.

    Raises:
        InputError: for any other channel (the server's timeline schedules teleportation).
    """
    from qtfl.channel.teleportation import TeleportationChannel
    from qtfl.security.detection import check_count

    if not isinstance(channel, TeleportationChannel):
        raise InputError(
            f"network.server schedules teleported updates; this uplink is {channel.name!r} "
            "(use kind teleport)"
        )
    bits = int(channel.sender.encode(np.zeros(num_values, np.float32)).bit_array().size)
    if channel.codec is not None:
        bits = int(channel.codec.layout(bits).channel_bits)
    frac = channel.protocol.verification.check_fraction
    return bits + check_count(bits, frac)


@dataclass(frozen=True)
class ScheduledRound:
    """One round's schedule (arrays in the order of :attr:`clients`).

    Attributes:
        clients: the scheduled client ids.
        timeline: the discrete-event result (:class:`~qtfl.network.timeline.RoundTimeline`).
        links: the pair each client's update travels through this round (dephased).
        resources: the server's channels, policy, memory and deadline.
    """

    clients: npt.NDArray[np.int64]
    timeline: RoundTimeline
    links: tuple[LinkSpec, ...]
    resources: ServerResources
    make_uplink: Callable[[int, PairLink], Channel]
    coherence: FloatArray | None = None

    def link_parameter(self, client: int) -> float:
        """The coherence factor of the client's pairs this round (1: undephased): what the
        client's own end needs, with its link, to rebuild this round's uplink
        (:meth:`ServerTimeline.round_uplink`). Public: a sample parameter, no secret."""
        i = self._index(client)
        return 1.0 if self.coherence is None else float(self.coherence[i])

    def _index(self, client: int) -> int:
        pos = int(np.searchsorted(self.clients, client))
        if pos >= self.clients.size or int(self.clients[pos]) != client:
            raise InputError(f"client {client} was not scheduled this round")
        return pos

    def uplink(self, client: int) -> Channel:
        """The client's uplink Channel for this round, over its dephased pairs."""
        return self.make_uplink(client, self.links[self._index(client)])

    def late(self, client: int) -> bool:
        """Whether the client's update arrives after the deadline (a straggler)."""
        return bool(self.timeline.stragglers[self._index(client)])

    def client_fields(self, client: int) -> dict[str, Any]:
        """The client's :data:`NETWORK_CLIENT_FIELDS` and its ``link_seconds`` this round."""
        i, tl = self._index(client), self.timeline
        return {
            "wait_seconds": float(tl.start_s[i]),
            "service_seconds": float(tl.service_s[i]),
            "delivered_at_seconds": float(tl.delivered_at_s[i]),
            "fidelity_used": float(self.links[i].pair.fidelity),
            "straggler": bool(tl.stragglers[i]),
            "link_seconds": float(tl.delivered_at_s[i] - tl.start_s[i]),
        }

    def round_fields(self) -> dict[str, Any]:
        """``makespan_seconds``, ``stragglers``, ``utilisation``, ``channels``, ``policy``."""
        tl, res = self.timeline, self.resources
        return {
            "makespan_seconds": tl.makespan_s,
            "stragglers": int(tl.stragglers.sum()),
            "utilisation": tl.utilisation,
            "channels": res.channels,
            "policy": res.policy,
            "deadline_seconds": res.deadline_s,
            "scheduled": int(self.clients.size),
        }


class ServerTimeline:
    """Every client's link and the server's resources; schedules each round (module docs).

    Args:
        links: one :class:`~qtfl.channel.verified.PairLink` per client (its pair as
            delivered, before waiting in memory; a known ``pair_rate_hz``).
        pairs: Bell pairs one update needs on each client's link (:func:`nominal_pairs`).
        client_t2_s: each client's memory coherence time (``inf``: perfect).
        pair_rate_hz: the rate of the pairs ``pairs`` counts, when it is not the links'
            own (purified pairs: the purified rate); default the links' ``pair_rate_hz``.
        resources: the server's channels, policy, memory and deadline.
        make_uplink: builds a client's uplink Channel over a given link.
    """

    def __init__(
        self,
        *,
        links: Sequence[PairLink],
        pairs: npt.ArrayLike,
        client_t2_s: npt.ArrayLike,
        pair_rate_hz: npt.ArrayLike | None = None,
        resources: ServerResources,
        make_uplink: Callable[[int, PairLink], Channel],
    ) -> None:
        n = len(links)
        rates = [link.pair_rate_hz for link in links] if pair_rate_hz is None else None
        if rates is None:
            rates = np.broadcast_to(np.asarray(pair_rate_hz, dtype=np.float64), (n,)).tolist()
        missing = [k for k, r in enumerate(rates) if r is None]
        if missing:
            raise InputError(
                f"network.server schedules pairs in time, but client {missing[0]}'s link has "
                "no pair rate; give source_rate_hz (preset or fiber) or pair_rate_hz"
            )
        self.links = list(links)
        self.rate_hz = np.array(rates, dtype=np.float64)
        self.latency_s = np.array([link.latency_s for link in links], dtype=np.float64)
        self.fidelity = np.array([link.pair.fidelity for link in links], dtype=np.float64)
        self.pairs = np.broadcast_to(np.asarray(pairs, dtype=np.float64), (n,)).copy()
        t2 = np.broadcast_to(np.asarray(client_t2_s, dtype=np.float64), (n,))
        self.t2_s = combined_t2(t2, resources.memory_t2_s)
        self.resources = resources
        self.make_uplink = make_uplink

    def schedule(self, clients: npt.ArrayLike, *, rng: np.random.Generator) -> ScheduledRound:
        """Schedule ``clients`` (ascending ids) on the server's channels for one round."""
        ids = np.asarray(clients, dtype=np.int64).reshape(-1)
        tl = schedule_round(
            pairs=self.pairs[ids],
            pair_rate_hz=self.rate_hz[ids],
            fidelity=self.fidelity[ids],
            latency_s=self.latency_s[ids],
            resources=self.resources,
            rng=rng,
        )
        t2 = self.t2_s[ids]
        coherence = batch_coherence(tl.service_s, t2)
        links = [self.round_link(k, float(coherence[i])) for i, k in enumerate(ids.tolist())]
        return ScheduledRound(
            ids, tl, tuple(links), self.resources, self.make_uplink, coherence=coherence
        )

    def round_link(self, client: int, coherence: float) -> LinkSpec:
        """The client's link with its pairs dephased to ``coherence`` (1: as delivered)."""
        base = self.links[client]
        pair = base.pair
        if coherence < 1.0:
            # one half dephased with coherence c: p = (1 - c) / 2 (BellDiagonalPair.dephase)
            pair = pair.dephase(wait_s=-math.log(max(coherence, 1e-300)), t2_s=1.0, halves=1)
        return LinkSpec(pair, base.pair_rate_hz, base.latency_s)

    def round_uplink(self, client: int, parameter: float) -> Channel:
        """The client's uplink of a round whose schedule gave it ``parameter``
        (:meth:`ScheduledRound.link_parameter`): how the client's own end, told that number,
        builds the channel the server's schedule built."""
        return self.make_uplink(client, self.round_link(client, parameter))
