"""In-process federated simulation: sample, send down, train, send up, aggregate, evaluate.

One round of :class:`FederatedSimulation`:

1. sample ``max(1, round(fraction * num_clients))`` distinct clients;
2. draw which sampled clients drop out (they receive the model but never answer);
3. send the global parameters to every sampled client through its downlink
   :class:`~qtfl.channel.Channel`; a client whose downlink is aborted cannot train;
4. the remaining clients train locally from what they received, vectorised over clients
   when the model allows (:mod:`qtfl.fl.batched_mlp`, ``vmap`` in :mod:`qtfl.fl.client`);
5. each update travels through the client's uplink Channel — a chunk's uplinks in worker
   processes when a :class:`~qtfl.fl.parallel.ChannelPool` is given and they are keyed per
   client and slow enough, else in this process with their FEC blocks decoded together
   (:mod:`qtfl.channel.batched`), with the same Deliveries either way; only accepted
   Deliveries are aggregated, aborted ones are counted (and ``detected`` ones too);
6. the :class:`~qtfl.fl.strategies.Strategy` turns the accepted updates into the next
   global model;
7. every ``eval_every`` rounds (and after the last) the global model is evaluated on the
   test set.

Steps 1-3 and the counting are the round protocol of :mod:`qtfl.fl.rounds`
(:meth:`FederatedSimulation.begin_round`, :meth:`~FederatedSimulation.cohorts`,
:class:`~qtfl.fl.rounds.RoundTally`, :meth:`~FederatedSimulation.finish_round`), which the
Flower strategy runs too, with the training and the uplink on client nodes.

The engine never looks at what kind of channel it holds. Link time: a client's downlink and
uplink are sequential, clients run in parallel, so a round's ``link_seconds`` is the maximum
over clients of (downlink + uplink) seconds; ``link_seconds_total`` is the sum. With a
``network`` scheduler (:class:`RoundScheduler`) the server serves the uplinks on finite
resources instead: the round's ``link_seconds`` is the slowest downlink plus the schedule's
makespan.

Randomness: one integer seed is split with :class:`numpy.random.SeedSequence` into
independent streams (:data:`STREAMS`): client sampling, dropouts, batch shuffling, uplink and
downlink channels, and the model's initial weights. Their states are part of
:meth:`FederatedSimulation.state`, so a restored simulation continues bit-identically.
``channel_seed`` (optional) draws the uplink and downlink streams from another seed, so runs
that compare channels share sampling, batches and initial model but not channel randomness.

Per-client record: every round keeps, per uplink delivery, the client, the verdict
(``accepted``, ``detected``, ``reason``, ``qber``, ``qber_bound``) and the delivery's ledger
(:data:`CLIENT_LEDGER_FIELDS`) as columns in :attr:`RoundMetrics.clients` — one list per
field, appended in the uplink loop (no per-client objects are kept).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from qtfl.channel import Channel, Delivery
from qtfl.channel.batched import send_batched
from qtfl.errors import InputError, require_choice, require_int, require_range
from qtfl.fl.batched_mlp import supports_batched_mlp, train_batched_mlp
from qtfl.fl.checkpoint import SimulationState
from qtfl.fl.client import (
    BatchPlan,
    LocalTraining,
    ParamLayout,
    load_flat,
    plan_batches,
    train_loop,
    train_vmap,
    vmappable,
)
from qtfl.fl.parallel import ChannelPool, SendJob
from qtfl.fl.privacy import Postprocessor, RoundContext
from qtfl.fl.rounds import (
    CLIENT_FIELDS,
    CLIENT_LEDGER_FIELDS,
    Cohort,
    RoundMetrics,
    RoundPlan,
    RoundTally,
    draw_round,
)
from qtfl.fl.strategies import Strategy

STREAMS: tuple[str, ...] = (
    "sampling",
    "dropout",
    "batches",
    "uplink",
    "downlink",
    "model",
    "privacy",
    "network",
)
__all__ = [
    "BACKENDS",
    "CHANNEL_STREAMS",
    "CLIENT_FIELDS",
    "CLIENT_LEDGER_FIELDS",
    "STREAMS",
    "FederatedSimulation",
    "RoundMetrics",
    "SimulationSettings",
    "model_seed",
    "seed_streams",
]
BACKENDS: tuple[str, ...] = ("auto", "bmm", "vmap", "loop")
CHANNEL_STREAMS: tuple[str, ...] = ("uplink", "downlink")
ChannelSource = Channel | Sequence[Channel] | Callable[[int], Channel]


class RoundSchedule(Protocol):
    """One round's schedule of the server's finite resources (see :class:`RoundScheduler`)."""

    def uplink(self, client: int) -> Channel:
        """The client's uplink Channel for this round."""

    def late(self, client: int) -> bool:
        """Whether the client's update arrives after the round's deadline (not aggregated)."""

    def client_fields(self, client: int) -> dict[str, Any]:
        """Per-client columns of the round's record (``link_seconds`` replaces the ledger's)."""

    def round_fields(self) -> dict[str, Any]:
        """The round's ``network`` record; ``makespan_seconds`` is the uplink's link time."""

    def link_parameter(self, client: int) -> float:
        """The public number the client's own end needs to rebuild its uplink of this round
        (:meth:`RoundScheduler.round_uplink`; a Flower client node is told it)."""


class RoundScheduler(Protocol):
    """Schedules each round's answering clients on shared resources (the engine's only hook
    for them; :class:`qtfl.experiments.network_round.ServerTimeline` is the quantum server's)."""

    def schedule(
        self, clients: npt.NDArray[np.int64], *, rng: np.random.Generator
    ) -> RoundSchedule:
        """The round of ``clients`` (ascending ids), drawing from the ``"network"`` stream."""

    def round_uplink(self, client: int, parameter: float) -> Channel:
        """The client's uplink of a round whose schedule gave it ``parameter``."""


def seed_streams(seed: int) -> dict[str, np.random.SeedSequence]:
    """Independent seed sequences for every named stream of :data:`STREAMS`."""
    children = np.random.SeedSequence(require_int("seed", seed, low=0)).spawn(len(STREAMS))
    return dict(zip(STREAMS, children, strict=True))


def model_seed(seed: int) -> int:
    """The integer seed of the model's initial weights for run seed ``seed``."""
    return int(seed_streams(seed)["model"].generate_state(1, dtype=np.uint32)[0])


@dataclass(frozen=True)
class SimulationSettings:
    """Orchestration options of :class:`FederatedSimulation` (training options apart).

    Attributes:
        rounds: total rounds of the run (the last one is always evaluated).
        fraction: share of clients sampled per round, in (0, 1].
        dropout_probability: chance that a sampled client never answers, in [0, 1).
        eval_every: evaluate the global model every this many rounds.
        backend: how clients train (:mod:`qtfl.fl.client`, :mod:`qtfl.fl.batched_mlp`):
            ``"bmm"`` (Linear/ReLU models with SGD), ``"vmap"`` (models without buffers or
            dropout), ``"loop"`` (anything), or ``"auto"``: the first that fits.
        client_chunk: clients trained together in one vmap batch (bounds memory).
    """

    rounds: int
    fraction: float = 1.0
    dropout_probability: float = 0.0
    eval_every: int = 1
    backend: Literal["auto", "bmm", "vmap", "loop"] = "auto"
    client_chunk: int = 128

    def __post_init__(self) -> None:
        require_int("training.rounds", self.rounds, low=1)
        require_range("training.fraction", self.fraction, low=0.0, high=1.0, low_open=True)
        require_range(
            "training.dropout_probability",
            self.dropout_probability,
            low=0.0,
            high=1.0,
            high_open=True,
        )
        require_int("evaluation.every", self.eval_every, low=1)
        require_choice("backend", self.backend, BACKENDS)
        require_int("client_chunk", self.client_chunk, low=1)


def _as_factory(source: ChannelSource, num_clients: int, what: str) -> Callable[[int], Channel]:
    if isinstance(source, Channel):
        return lambda _k: source
    if isinstance(source, Sequence):
        if len(source) != num_clients:
            raise InputError(
                f"{what} needs one channel per client ({num_clients}), got {len(source)}"
            )
        return lambda k: source[k]
    return source


class FederatedSimulation:
    """A federated training run held in memory; call :meth:`run_round` until done.

    Args:
        model: the torch module whose parameters are the global model (its current values
            are the initial weights); reused for every client, never copied per client.
        x_train, y_train: training examples ``(N, ...)`` float32 and labels ``(N,)`` int64.
        x_test, y_test: evaluation set.
        client_indices: per client, the indices of its training examples (disjoint).
        strategy: server aggregation.
        uplink, downlink: a Channel for everyone, one per client, or ``client -> Channel``.
        training: local training options; the proximal coefficient used is the larger of
            ``training.proximal_mu`` and the strategy's ``proximal_mu`` (FedProx).
        settings: rounds, sampling, dropouts, evaluation, backend.
        seed: the run's seed; every random stream is derived from it.
        channel_seed: if given, the uplink and downlink streams come from this seed instead.
        uplink_rng: if given, client ``k``'s uplink in round ``r`` (1-based) draws from
            ``uplink_rng(r, k)`` instead of the sequential uplink stream: a keyed stream gives
            the same link sample in any process and order, which is how the Flower engines
            draw it (:class:`qtfl.channel.split.LinkKey`), so their runs match this one.
        postprocessors: privacy post-processors (:mod:`qtfl.fl.privacy`), pfl-research
            style: ``postprocess_one_user`` on each update before its uplink, in order, and
            ``postprocess_server`` on the accepted updates before the strategy, in reverse
            order. They draw from their own ``"privacy"`` stream (created only when given).
        channel_pool: worker processes for the clients' uplink sends (:mod:`qtfl.fl.
            parallel`); used only with ``uplink_rng`` (keyed streams) and only once sending
            is slow enough (its ``min_batch_seconds``). Results are bit-identical
            with or without it, for any number of workers. The caller owns (closes) it.
        network: schedules each round's answering (sampled, not dropped) clients on the
            server's finite resources (:class:`RoundScheduler`); the schedule supplies their
            uplink Channels for the round, and clients it marks late are stragglers: counted,
            not aggregated. Draws from its own ``"network"`` stream (created only when given).
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        x_train: npt.NDArray[np.float32],
        y_train: npt.NDArray[np.int64],
        x_test: npt.NDArray[np.float32],
        y_test: npt.NDArray[np.int64],
        client_indices: Sequence[npt.NDArray[np.int64]],
        strategy: Strategy,
        uplink: ChannelSource,
        downlink: ChannelSource,
        training: LocalTraining,
        settings: SimulationSettings,
        seed: int,
        channel_seed: int | None = None,
        uplink_rng: Callable[[int, int], np.random.Generator] | None = None,
        postprocessors: Sequence[Postprocessor] = (),
        channel_pool: ChannelPool | None = None,
        network: RoundScheduler | None = None,
    ) -> None:
        self.model = model
        self.network = network
        self.channel_pool = channel_pool
        self._parallel_uplinks = False
        self.postprocessors = list(postprocessors)
        self.layout = ParamLayout(model)
        self.num_clients = require_int("num_clients", len(client_indices), low=1)
        self.client_indices = [np.asarray(ix, dtype=np.int64) for ix in client_indices]
        self.client_sizes = np.array([len(ix) for ix in self.client_indices], dtype=np.int64)
        if np.any(self.client_sizes == 0):
            raise InputError("every client needs at least one training example")
        self.x_train = torch.from_numpy(np.ascontiguousarray(x_train))
        self.y_train = torch.from_numpy(np.ascontiguousarray(y_train))
        self.x_test = torch.from_numpy(np.ascontiguousarray(x_test))
        self.y_test = torch.from_numpy(np.ascontiguousarray(y_test))
        self.strategy = strategy
        mu = max(training.proximal_mu, strategy.proximal_mu)
        self.training = dataclasses.replace(training, proximal_mu=mu)
        self.settings = settings
        self.uplink = _as_factory(uplink, self.num_clients, "uplink")
        self.downlink = _as_factory(downlink, self.num_clients, "downlink")
        backend = settings.backend
        if backend == "auto":
            if supports_batched_mlp(model, self.training):
                backend = "bmm"
            else:
                backend = "vmap" if vmappable(model) else "loop"
        elif backend == "bmm" and not supports_batched_mlp(model, self.training):
            raise InputError(
                "backend 'bmm' needs a Linear/ReLU model trained with sgd; use 'vmap' or 'loop'"
            )
        elif backend == "vmap" and not vmappable(model):
            raise InputError("backend 'vmap' needs a model without buffers or dropout; use 'loop'")
        self.backend = backend
        streams = seed_streams(seed)
        if channel_seed is not None:
            own = seed_streams(channel_seed)
            streams.update({name: own[name] for name in CHANNEL_STREAMS})
        self.rngs = {
            name: np.random.Generator(np.random.PCG64(ss))
            for name, ss in streams.items()
            if name != "model"
            and (name != "privacy" or self.postprocessors)
            and (name != "network" or network is not None)
        }
        self.uplink_rng = uplink_rng
        self.round = 0
        self.global_params = self.layout.flatten(model).numpy().astype(np.float32)
        self.history: list[RoundMetrics] = []
        self._buffers: dict[str, npt.NDArray[np.float32]] = {}

    # -- one round -------------------------------------------------------------------------
    def begin_round(self) -> RoundPlan:
        """Draw the next round's plan: sampled clients and dropouts (:func:`draw_round`)."""
        if self.round >= self.settings.rounds:
            raise RuntimeError(f"all {self.settings.rounds} rounds are done")
        return draw_round(
            self.round + 1,
            num_clients=self.num_clients,
            fraction=self.settings.fraction,
            dropout_probability=self.settings.dropout_probability,
            sampling=self.rngs["sampling"],
            dropout=self.rngs["dropout"],
        )

    def schedule_round(self, plan: RoundPlan) -> RoundSchedule | None:
        """The network's schedule of ``plan``'s clients that do not drop out (``None``
        without a network, or when all drop out); one draw from the ``"network"`` stream.
        Both engines call it right after :meth:`begin_round`."""
        if self.network is None or plan.dropped.all():
            return None
        return self.network.schedule(plan.sampled[~plan.dropped], rng=self.rngs["network"])

    def cohorts(self, plan: RoundPlan, tally: RoundTally) -> Iterator[Cohort]:
        """Send the global model down to each chunk of ``plan`` and yield who trains.

        Per chunk of ``settings.client_chunk`` sampled clients: every downlink (in sampled
        order, counted in ``tally``); the clients whose downlink was accepted and who do not
        drop out start from what they received; their mini-batch plan comes from the
        batches stream. Draw each cohort fully before the next (``start`` is reused).
        """
        sampled, chunk = plan.sampled, self.settings.client_chunk
        for c0 in range(0, plan.size, chunk):
            start = self._buffer("start", min(chunk, plan.size))
            trainers: list[int] = []
            for j in range(c0, min(c0 + chunk, plan.size)):
                d = self.downlink(int(sampled[j])).send(
                    self.global_params, rng=self.rngs["downlink"]
                )
                if tally.add_downlink(j, d) and not plan.dropped[j]:
                    start[len(trainers)] = d.received
                    trainers.append(j)
            if not trainers:
                continue
            slots = np.asarray(trainers, dtype=np.int64)
            clients = sampled[slots]
            batches = plan_batches(
                [self.client_indices[k] for k in clients],
                epochs=self.training.local_epochs,
                batch_size=self.training.batch_size,
                rng=self.rngs["batches"],
            )
            yield Cohort(
                slots=slots, clients=clients, start=start[: len(trainers)], batches=batches
            )

    def run_round(self) -> RoundMetrics:
        """Run the next round and return its metrics (also appended to :attr:`history`)."""
        plan = self.begin_round()
        tally = RoundTally(plan)
        r, m = plan.round, plan.size
        schedule = self.schedule_round(plan)
        keyed = self.uplink_rng
        n_acc = 0
        accepted = self._buffer("accepted", m)
        weights = np.empty(m, dtype=np.float64)
        senders = np.empty(m, dtype=np.int64)
        context = self._round_context(r, plan.sampled)
        for cohort in self.cohorts(plan, tally):
            clients = cohort.clients
            t_train = time.perf_counter()
            deltas = self._train(cohort.start, cohort.batches)
            tally.train_seconds += time.perf_counter() - t_train
            for post in self.postprocessors:  # colluding clients see their chunk (ALIE)
                cohort_hook = getattr(post, "postprocess_cohort", None)
                if cohort_hook is not None:
                    deltas = cohort_hook(deltas, clients=clients, context=context)
            jobs: list[SendJob] = []
            client_weights: list[float] = []
            for k, delta in zip(clients.tolist(), deltas, strict=True):
                weight = float(self.client_sizes[k])
                for post in self.postprocessors:
                    delta, weight = post.postprocess_one_user(
                        delta, client=k, weight=weight, context=context
                    )
                rng = self.rngs["uplink"] if keyed is None else keyed(r, k)
                uplink = self.uplink(k) if schedule is None else schedule.uplink(k)
                jobs.append((uplink, delta, rng))
                client_weights.append(weight)
            sent = self._send_uplinks(jobs, keyed=keyed is not None)
            for j, k, weight, d in zip(
                cohort.slots.tolist(), clients.tolist(), client_weights, sent, strict=True
            ):
                scheduled = late = None
                if schedule is not None:
                    scheduled, late = schedule.client_fields(k), schedule.late(k)
                if tally.add_uplink(j, k, d, scheduled=scheduled, late=bool(late)):
                    accepted[n_acc] = d.received
                    weights[n_acc] = weight
                    senders[n_acc] = k
                    n_acc += 1

        updates, agg_weights = accepted[:n_acc], weights[:n_acc]
        for post in reversed(self.postprocessors):
            updates, agg_weights = post.postprocess_server(
                updates, agg_weights, clients=senders[:n_acc], context=context
            )
        network = None if schedule is None else schedule.round_fields()
        record = self.finish_round(tally, updates, agg_weights, network=network)
        self.history.append(record)
        return record

    def finish_round(
        self,
        tally: RoundTally,
        updates: npt.NDArray[np.float32],
        weights: npt.NDArray[np.float64],
        *,
        network: dict[str, Any] | None = None,
    ) -> RoundMetrics:
        """Close the tallied round: aggregate ``updates``, evaluate when due, build its record.

        Shared by :meth:`run_round` and the Flower server strategy, so both engines step the
        model, decide when to evaluate and fill :class:`RoundMetrics` the same way. The
        caller keeps the record in its history. ``network``: the schedule's round record
        (:meth:`RoundTally.metrics`).
        """
        r = tally.plan.round
        self.global_params = self.strategy.step(self.global_params, updates, weights).astype(
            np.float32, copy=False
        )
        self.round = r
        acc = loss = None
        if r % self.settings.eval_every == 0 or r == self.settings.rounds:
            acc, loss = self.evaluate()
        return tally.metrics(accuracy=acc, loss=loss, network=network)

    def _send_uplinks(self, jobs: list[SendJob], *, keyed: bool) -> list[Delivery]:
        """Send a chunk's updates, in worker processes when that pays (module docstring).

        In this process keyed uplinks (no shared Generator) are sent side by side with
        their FEC blocks decoded together (:func:`~qtfl.channel.batched.send_batched`: the
        same Deliveries, one decoder call for the chunk instead of one per client). Only
        keyed uplinks (one Generator per client and round) may go to the pool: the
        sequential stream must be drawn in client order. Sends stay in this process until
        one chunk's sequential sends took the pool's ``min_batch_seconds`` (cheap channels
        such as plaintext stay here); from then on this simulation uses the pool. Either way
        the Deliveries are the same.
        """
        pool = self.channel_pool
        if self._parallel_uplinks and pool is not None:
            return pool.send_all(jobs)
        t0 = time.perf_counter()
        sent = send_batched(jobs)
        self._parallel_uplinks = (
            keyed
            and pool is not None
            and pool.workers > 1
            and time.perf_counter() - t0 >= pool.min_batch_seconds
        )
        return sent

    def _round_context(self, r: int, sampled: npt.NDArray[np.int64]) -> RoundContext:
        """The public facts of round ``r`` the post-processors see."""
        return RoundContext(
            round=r,
            cohort=sampled,
            cohort_weights=self.client_sizes[sampled].astype(np.float64),
            rng=self.rngs.get("privacy") or np.random.default_rng(0),
        )

    def _buffer(self, name: str, rows: int) -> npt.NDArray[np.float32]:
        """A reused ``(>= rows, P)`` float32 work buffer (pfl-style: no per-round allocation)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape[0] < rows:
            buf = np.empty((rows, self.layout.size), dtype=np.float32)
            self._buffers[name] = buf
        return buf[:rows]

    def _train(self, start: npt.NDArray[np.float32], plan: BatchPlan) -> npt.NDArray[np.float32]:
        out = torch.from_numpy(self._buffer("deltas", start.shape[0]))
        fn = {"bmm": train_batched_mlp, "vmap": train_vmap, "loop": train_loop}[self.backend]
        deltas = fn(
            self.model,
            self.layout,
            torch.from_numpy(start),
            self.x_train,
            self.y_train,
            plan,
            self.training,
            out=out,
        )
        return deltas.detach().numpy()

    def evaluate(self, *, batch_size: int = 8192) -> tuple[float, float]:
        """Test metric and mean loss of the current global model.

        Classification: accuracy and mean cross-entropy. Regression (training loss
        ``"mse"``): the coefficient of determination
        :math:`R^2 = 1 - \\sum (y - \\hat y)^2 / \\sum (y - \\bar y)^2` (sums over examples
        and outputs, :math:`\\bar y` the test set's per-output mean) and the mean squared
        error (averaged over outputs and examples).
        """
        params = self.layout.unflatten(torch.from_numpy(self.global_params))
        regression = self.training.loss == "mse"
        correct = 0
        loss_sum = 0.0
        self.model.eval()
        with torch.no_grad():
            for i in range(0, len(self.y_test), batch_size):
                xb, yb = self.x_test[i : i + batch_size], self.y_test[i : i + batch_size]
                out = functional_call(self.model, params, (xb,))
                if regression:
                    loss_sum += float((out - yb).square().mean(dim=-1).sum())
                    continue
                loss_sum += float(F.cross_entropy(out, yb, reduction="sum"))
                correct += int((out.argmax(dim=1) == yb).sum())
        self.model.train()
        total = max(1, len(self.y_test))
        if regression:
            sst = float((self.y_test - self.y_test.mean(dim=0)).square().sum())
            sse = loss_sum * self.y_test.shape[-1]
            return (1.0 - sse / sst if sst > 0 else 0.0), loss_sum / total
        return correct / total, loss_sum / total

    # -- state -----------------------------------------------------------------------------
    def state(self) -> SimulationState:
        """Everything needed to continue this simulation bit-identically."""
        return SimulationState(
            round=self.round,
            global_params=self.global_params.copy(),
            strategy_state=self.strategy.state_dict(),
            rng_states={name: dict(g.bit_generator.state) for name, g in self.rngs.items()},
            metrics=tuple(m.as_dict() for m in self.history),
            channel_states={
                f"{direction}/{k}/{name}": value
                for direction, factory in (("uplink", self.uplink), ("downlink", self.downlink))
                for k in range(self.num_clients)
                for name, value in factory(k).state_dict().items()
            },
            postprocessor_states=tuple(
                post.state_json() if hasattr(post, "state_json") else {}
                for post in self.postprocessors
            ),
        )

    def restore(self, state: SimulationState) -> None:
        """Continue from ``state`` (from :meth:`state` of an identically built simulation)."""
        if state.global_params.shape != (self.layout.size,):
            raise InputError(
                f"checkpoint holds {state.global_params.shape[0]} parameters, "
                f"the model has {self.layout.size}"
            )
        self.round = state.round
        self.global_params = state.global_params.astype(np.float32, copy=True)
        self.strategy.load_state_dict(dict(state.strategy_state))
        for name, g in self.rngs.items():
            g.bit_generator.state = state.rng_states[name]
        self.history = [RoundMetrics.from_dict(dict(m)) for m in state.metrics]
        channel_states: dict[tuple[str, int], dict[str, npt.NDArray[np.float32]]] = {}
        for key, value in state.channel_states.items():
            direction, client, name = key.split("/", 2)
            channel_states.setdefault((direction, int(client)), {})[name] = value
        for direction, factory in (("uplink", self.uplink), ("downlink", self.downlink)):
            for k in range(self.num_clients):
                factory(k).load_state_dict(channel_states.get((direction, k), {}))
        for post, saved in zip(self.postprocessors, state.postprocessor_states, strict=False):
            if saved and hasattr(post, "load_state_json"):
                post.load_state_json(saved)
        load_flat(list(self.model.parameters()), torch.from_numpy(self.global_params))

    def final_model(self) -> nn.Module:
        """The reused model object loaded with the current global parameters."""
        load_flat(list(self.model.parameters()), torch.from_numpy(self.global_params))
        return self.model
