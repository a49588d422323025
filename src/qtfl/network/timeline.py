r"""The server's quantum side as a finite resource: a discrete-event timeline of one round.

Each client of a round asks its link for ``pairs`` Bell pairs (payload, checks,
purification). The server has ``channels`` entanglement-generation channels (detectors and
memory slots): one channel serves one client at a time, so with fewer channels than clients
the server must schedule them. A client's pairs are heralded one by one at its heralded rate
:math:`\eta R` (independent exponential gaps, so its service time is
:math:`\mathrm{Gamma}(n, 1/(\eta R))`, or exactly :math:`n / (\eta R)` with
``stochastic=False``); the classical correction then flies for ``latency_s``.

Verify-then-teleport holds every pair in memory until the last one is heralded (the checks
are drawn from the whole batch), so a pair heralded at ``t`` waits ``end - t``. Pairs
heralded uniformly over a service time ``D`` have the mean coherence factor

.. math:: \overline{e^{-w/T_2}} = \frac{T_2}{D}\big(1 - e^{-D/T_2}\big),

and since dephasing is linear in its flip probability the batch behaves as one Bell-diagonal
pair dephased for the *effective* wait :math:`w_{eff} = -T_2 \ln \overline{e^{-w/T_2}}`
(:meth:`qtfl.quantum.noise.BellDiagonalPair.dephase`). Pure dephasing leaves Z-basis payload
bits alone and raises the X-basis error rate — so long waits show up in the checks, which is
where they should.

Policies (the order in which waiting clients get a free channel):

* ``round-robin`` — client order (the order clients were sampled);
* ``shortest-job-first`` — fewest expected seconds first (minimises the mean completion
  time on one channel; Smith's rule);
* ``fidelity-aware`` — lowest link fidelity first, so the pairs most fragile to waiting
  are served before the queue builds up.

List scheduling is exact for this model: each channel takes the next client in policy order
when it frees (a binary heap of channel-free times). Closed forms the tests check: one
channel and identical deterministic jobs give makespan = the sum of service times;
``channels >= clients`` gives the maximum.

References: Graham, "Bounds on multiprocessing timing anomalies", SIAM J. Appl. Math. 17
(1969) (list scheduling); Smith, Naval Res. Logist. Q. 3 (1956) (shortest processing time
first).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from qtfl.errors import InputError, require_choice, require_int, require_range

POLICIES: Final = ("round-robin", "shortest-job-first", "fidelity-aware")
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ServerResources:
    """The server's entanglement-generation channels and how it schedules them.

    Attributes:
        channels: channels (detector / memory slots) serving clients at once, ``K >= 1``.
        policy: one of :data:`POLICIES`.
        memory_t2_s: coherence time of the memories holding pairs (``None``: perfect).
        deadline_s: round deadline; clients delivered later are stragglers (``None``: none).
        stochastic: heralding times drawn at random (True) or at their mean (False).
    """

    channels: int = 1
    policy: str = "round-robin"
    memory_t2_s: float | None = None
    deadline_s: float | None = None
    stochastic: bool = True

    def __post_init__(self) -> None:
        require_int("network.channels", self.channels, low=1, high=1_000_000)
        require_choice("network.policy", self.policy, POLICIES)
        if self.memory_t2_s is not None:
            require_range("network.memory_t2_s", self.memory_t2_s, low=0.0, low_open=True)
        if self.deadline_s is not None:
            require_range("network.deadline_s", self.deadline_s, low=0.0, low_open=True)


@dataclass(frozen=True)
class RoundTimeline:
    """One round on the server's channels; per-client arrays are in the jobs' order.

    Attributes:
        start_s: when each client's pair generation began (its queueing wait before it).
        end_s: when its last pair was heralded.
        delivered_at_s: ``end_s + latency_s``: when the server holds its update.
        service_s: ``end_s - start_s``.
        memory_wait_s: effective memory wait of its pairs (module docstring).
        coherence: mean coherence factor of its pairs when used.
        stragglers: delivered after the deadline.
        makespan_s: the round's last delivery.
        utilisation: busy channel-seconds over ``channels * makespan``.
        events: discrete events processed (two per client: start and end).
    """

    start_s: FloatArray
    end_s: FloatArray
    delivered_at_s: FloatArray
    service_s: FloatArray
    memory_wait_s: FloatArray
    coherence: FloatArray
    stragglers: npt.NDArray[np.bool_]
    makespan_s: float
    utilisation: float
    events: int

    @property
    def wait_s(self) -> FloatArray:
        """Queueing wait of each client before its first pair."""
        return self.start_s


def mean_coherence(service_s: npt.ArrayLike, t2_s: float | None) -> FloatArray:
    r""":math:`\frac{T_2}{D}(1 - e^{-D/T_2})` (1 for ``D = 0`` or a perfect memory)."""
    d = np.asarray(service_s, dtype=np.float64)
    if t2_s is None or math.isinf(t2_s):
        return np.ones_like(d)
    x = d / t2_s
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(x > 1e-12, -np.expm1(-x) / x, 1.0 - x / 2.0)
    return out


def effective_wait(service_s: npt.ArrayLike, t2_s: float | None) -> FloatArray:
    r""":math:`-T_2 \ln \overline{e^{-w/T_2}}`: the single wait with the batch's coherence."""
    c = mean_coherence(service_s, t2_s)
    if t2_s is None or math.isinf(t2_s):
        return np.zeros_like(c)
    return -t2_s * np.log(c)


def schedule_round(
    *,
    pairs: npt.ArrayLike,
    pair_rate_hz: npt.ArrayLike,
    resources: ServerResources,
    fidelity: npt.ArrayLike | None = None,
    latency_s: npt.ArrayLike = 0.0,
    rng: np.random.Generator | None = None,
) -> RoundTimeline:
    """Schedule one round's clients on the server's channels (see the module docstring).

    Args:
        pairs: Bell pairs each client needs, ``(N,)``.
        pair_rate_hz: each client's heralded pair rate, ``(N,)`` or a scalar.
        resources: channels, policy, memory, deadline.
        fidelity: each link's pair fidelity (for ``fidelity-aware``), ``(N,)``.
        latency_s: each client's classical latency after its last pair.
        rng: draws the heralding times when ``resources.stochastic`` (the experiment seed's).
    """
    n_pairs = np.asarray(pairs, dtype=np.float64).reshape(-1)
    n = n_pairs.size
    if n == 0:
        raise InputError("a round needs at least one client")
    if np.any(n_pairs < 0) or not np.all(np.isfinite(n_pairs)):
        raise InputError("pairs must be finite and >= 0")
    rate = np.broadcast_to(np.asarray(pair_rate_hz, dtype=np.float64), (n,))
    if np.any(~(rate > 0)) or not np.all(np.isfinite(rate)):
        raise InputError("pair_rate_hz must be finite and > 0 for every client")
    latency = np.broadcast_to(np.asarray(latency_s, dtype=np.float64), (n,))
    if resources.stochastic:
        if rng is None:
            raise InputError("stochastic heralding needs an rng")
        service = np.where(n_pairs > 0, rng.gamma(np.maximum(n_pairs, 1.0), 1.0 / rate), 0.0)
    else:
        service = n_pairs / rate
    order = _order(resources.policy, n_pairs / rate, fidelity, n)
    start = np.empty(n)
    k = min(resources.channels, n)
    if k >= n:
        start[:] = 0.0
    elif k == 1:
        ordered = service[order]
        start[order] = np.concatenate([[0.0], np.cumsum(ordered)[:-1]])
    else:
        free = [0.0] * k  # a heap of channel-free times; every channel starts free
        times = service[order].tolist()
        starts = [0.0] * n
        replace = heapq.heapreplace
        for i, s in enumerate(times):  # the earliest-free channel takes the next client
            t = free[0]
            starts[i] = t
            replace(free, t + s)
        start[order] = starts
    end = start + service
    delivered = end + latency
    makespan = float(delivered.max())
    busy = float(service.sum())
    utilisation = busy / (resources.channels * makespan) if makespan > 0 else 0.0
    deadline = resources.deadline_s
    stragglers = (
        np.zeros(n, dtype=bool) if deadline is None else delivered > deadline
    )
    return RoundTimeline(
        start_s=start,
        end_s=end,
        delivered_at_s=delivered,
        service_s=service,
        memory_wait_s=effective_wait(service, resources.memory_t2_s),
        coherence=mean_coherence(service, resources.memory_t2_s),
        stragglers=stragglers,
        makespan_s=makespan,
        utilisation=utilisation,
        events=2 * n,
    )


def _order(
    policy: str, expected_s: FloatArray, fidelity: npt.ArrayLike | None, n: int
) -> npt.NDArray[np.int64]:
    if policy == "round-robin":
        return np.arange(n, dtype=np.int64)
    if policy == "shortest-job-first":
        return np.argsort(expected_s, kind="stable").astype(np.int64)
    if fidelity is None:
        raise InputError("the fidelity-aware policy needs each link's fidelity")
    f = np.broadcast_to(np.asarray(fidelity, dtype=np.float64), (n,))
    return np.argsort(f, kind="stable").astype(np.int64)
