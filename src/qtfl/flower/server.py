"""The ServerApp and its strategy wrapper: the in-process engine's round, with clients on Flower.

:class:`ChannelStrategy` is a Flower :class:`~flwr.serverapp.strategy.Strategy` around a
qtfl :class:`~qtfl.fl.strategies.Strategy`. ``configure_train`` runs the engine's round
protocol (:mod:`qtfl.fl.rounds`, on a :class:`~qtfl.fl.engine.FederatedSimulation` built
from the same config and seed): client sampling, dropouts, the downlink (whole, on the
server: the global model is public to every client), the mini-batch plan, and for each
training client the uplink receiving end's announcements. ``aggregate_train`` decodes every
reply with the uplink's receiving end, rejects aborted deliveries, aggregates the accepted
ones in the engine's order with the qtfl strategy, and evaluates like the engine.

Uplink link samples are keyed by ``(seed, scenario, round, client)`` for the noise and by the
link secret for the secret parts (each end derives its half alone; the server holds the run
secret, a client node only its clients' link keys); the in-process runner keys them the
same way, so runs agree bit for bit. A
client whose node does not answer within the round timeout (or fails) counts as dropped.

Network. With a ``network.server`` section the strategy asks the simulation for the round's
schedule right after the plan (:meth:`~qtfl.fl.engine.FederatedSimulation.schedule_round`,
the same network stream as in process), builds each scheduled client's receiving end over its
pairs as dephased this round, and tells the client node the coherence of its pairs in the
train message (``link_parameter``: a public number of the link sample, no secret), from which
the node rebuilds the same channel with its own keys. Stragglers (delivered after the
deadline) are tallied and not aggregated; the schedule's fields go into the round's record.

Resume: with a checkpoint path the ServerApp saves the simulation's state
(:func:`qtfl.fl.checkpoint.save_checkpoint`, tagged with the configuration hash) after every
round, and when that file already exists it restores it first and runs only the remaining
rounds, numbered on from the checkpoint. Every server-side random stream is in the
checkpoint; a client node's only state across rounds, its error-feedback residuals, lives
in the node's own files (:mod:`qtfl.flower.node_state`) keyed by round, so a resumed run
equals an uninterrupted one.

Deployed runs name the registered SuperNode ids in the run config (``node-ids``, partition
order); the strategy then addresses those nodes only, whatever else connects.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import Strategy as FlowerStrategy
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from qtfl.channel import Delivery
from qtfl.errors import InputError
from qtfl.fl.checkpoint import load_checkpoint, save_checkpoint
from qtfl.fl.engine import FederatedSimulation, RoundSchedule
from qtfl.fl.privacy import Reveal, RoundContext, Unmask
from qtfl.fl.rounds import RoundMetrics, RoundTally
from qtfl.flower.collusion import colluder_of, relay_colluders
from qtfl.flower.ends import FollowUp, UplinkEnds, uplink_ends
from qtfl.flower.exchange import Transfer, finish_exchanges, first_pass_information
from qtfl.flower.interrupt import StoppableGrid
from qtfl.flower.job import FlowerJob, build_simulation_for, privacy_path, secagg_path
from qtfl.flower.node_state import last_delivery
from qtfl.flower.privacy_ends import read_reveals, reveal_requests, server_aggregate
from qtfl.flower.secagg_ends import (
    begin_round,
    public_arrays,
    read_shares,
    read_unmasked,
    unmask_requests,
)
from qtfl.flower.taps import EVE, attach_eve_record

if TYPE_CHECKING:
    from qtfl.attacks.run_privacy import Probes

log = logging.getLogger("flwr")  # Flower streams its logger to `flwr run --stream`


@dataclass
class _Pending:
    """The round in flight between ``configure_train`` and ``aggregate_train``."""

    tally: RoundTally
    asked: dict[int, tuple[int, object]]  # client -> (slot in the plan, receiving end state)
    chunks: list[tuple[list[int], int]]  # per chunk: its clients asked, how many train in it
    trains: dict[int, tuple[int, RecordDict]]  # ALIE colluder -> (node, train message)
    schedule: RoundSchedule | None = None  # the network's schedule of the round


class ChannelStrategy(FlowerStrategy):
    """Flower strategy whose replies pass the uplink's receiving end before aggregation.

    A round is the engine's round protocol (:mod:`qtfl.fl.rounds`): ``configure_train``
    draws the plan and sends each cohort's clients their start and batch plan;
    ``aggregate_train`` decodes the replies (:meth:`decode_reply`), tallies them in sampled
    order and closes the round with the engine's ``finish_round``.
    """

    def __init__(
        self,
        job: FlowerJob,
        sim: FederatedSimulation,
        nodes: dict[int, int],
        *,
        checkpoint: Path | None = None,
    ) -> None:
        self.job = job
        self.sim = sim
        self.nodes = nodes  # slot -> node id
        self.ends: dict[int, UplinkEnds] = {}
        self.history: list[RoundMetrics] = sim.history  # restored rounds included
        self.checkpoint = checkpoint
        self.round_offset = sim.round  # Flower counts from 1 again after a resume
        self._pending: _Pending | None = None
        self._grid: Grid | None = None  # kept for further uplink exchanges within a round
        # SecAgg+: each client's encrypted shares of the round in flight (holders, ciphertexts)
        self._shares: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._round_ends: dict[int, UplinkEnds] = {}  # this round's scheduled uplinks

    def _ends(self, client: int) -> UplinkEnds:
        if client in self._round_ends:
            return self._round_ends[client]
        if client not in self.ends:
            self.ends[client] = uplink_ends(self.sim.uplink(client))
        return self.ends[client]

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        sim, job = self.sim, self.job
        self._grid = grid
        plan = sim.begin_round()
        schedule = sim.schedule_round(plan)  # the network's timeline (None without one)
        self._round_ends = {}
        r = plan.round
        tally = RoundTally(plan)
        online = set(grid.get_node_ids())
        messages: list[Message] = []
        asked: dict[int, tuple[int, object]] = {}
        chunks: list[tuple[list[int], int]] = []
        trains: dict[int, tuple[int, RecordDict]] = {}
        self._shares = {}
        for cohort in sim.cohorts(plan, tally):
            begin_round(sim, r, plan.sampled.astype(np.int64))  # SecAgg+: the public graph
            chunks.append((cohort.clients.tolist(), int(cohort.clients.size)))
            pairs = zip(cohort.slots.tolist(), cohort.clients.tolist(), strict=True)
            for row, (j, k) in enumerate(pairs):
                node = self.nodes.get(k % job.num_nodes)
                if node is None or node not in online:
                    tally.add_unanswered(k)  # its node is gone: it cannot answer
                    continue
                link: dict[str, float] = {}
                if schedule is not None:  # its pairs as dephased while waiting this round
                    self._round_ends[k] = uplink_ends(schedule.uplink(k))
                    link["link_parameter"] = schedule.link_parameter(k)
                state, announce = self._ends(k).prepare(job.link_key(r, k), sim.layout.size)
                asked[k] = (j, state)
                train = {
                    "start": cohort.start[row],
                    "indices": cohort.batches.indices[row].numpy(),
                    "mask": cohort.batches.mask[row].numpy().astype(np.uint8),
                    "cohort": plan.sampled.astype(np.int64),  # public: the privacy hooks use it
                    **public_arrays(sim, r, k),
                }
                last = last_delivery(self.history, k)  # error feedback's acknowledgement
                content = RecordDict(
                    {
                        "train": ArrayRecord(
                            {a: Array(np.ascontiguousarray(v)) for a, v in train.items()}
                        ),
                        "announce": ArrayRecord({a: Array(v) for a, v in announce.items()}),
                        "qtfl": ConfigRecord(
                            {
                                "client": int(k),
                                "round": r,
                                "last_round": last.round,
                                "last_accepted": last.accepted,
                                **link,
                            }
                        ),
                    }
                )
                messages.append(Message(content, dst_node_id=node, message_type="train"))
                if colluder_of(sim, k):  # an ALIE colluder: its train message goes again
                    trains[k] = (node, content)
        self._pending = _Pending(
            tally=tally, asked=asked, chunks=chunks, trains=trains, schedule=schedule
        )
        return messages

    def decode_reply(
        self, r: int, reply: Message, asked: dict[int, tuple[int, object]]
    ) -> tuple[int, Delivery | FollowUp] | None:
        """One reply as ``(client, outcome)``, or None when it is no readable answer; the
        outcome is a Delivery or a further request (multi-step channels,
        :func:`qtfl.flower.exchange.finish_exchanges`).

        ``asked``: client -> (slot, receiving end state) of the clients asked this round.
        A node error, a reply without wire arrays or an unreadable one counts as no answer;
        a readable reply that is not what the channel's sending end produces is a rejected
        delivery (:meth:`qtfl.flower.ends.UplinkEnds.decode`).
        """
        if reply.has_error() or "wire" not in reply.content.array_records:
            log.warning(
                "round %d: a node failed: %s",
                r,
                reply.error if reply.has_error() else "no wire",
            )
            return None
        try:  # a hostile node may send anything: unreadable replies count as no answer
            k = int(str(reply.content.config_records["qtfl"]["client"]))
            wire = {a: v.numpy() for a, v in reply.content.array_records["wire"].items()}
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("round %d: an unreadable reply was ignored (%s)", r, type(exc).__name__)
            return None
        if k not in asked:
            return None  # not asked this round
        _, state = asked[k]
        ends = self._ends(k)
        outcome = ends.step(wire, state, n_values=self.sim.layout.size)
        records = reply.content.array_records
        if isinstance(outcome, Delivery) and not ends.multi_step and EVE in records:
            try:  # after decoding, and never decoded: a simulation record (qtfl.flower.taps)
                eve = {a: v.numpy() for a, v in records[EVE].items()}  # FEC: per pass, later
                outcome = attach_eve_record(outcome, eve)
            except (KeyError, ValueError, TypeError):
                pass
        return k, outcome

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        sim, pending = self.sim, self._pending
        assert pending is not None
        tally = pending.tally
        r = tally.plan.round
        transfers: dict[int, Transfer] = {}  # slot -> transfer in progress
        assert self._grid is not None
        relayed = relay_colluders(
            self._grid, replies, sim=sim, asked=pending.asked, chunks=pending.chunks,
            trains=pending.trains, timeout_s=self.job.round_timeout_s,
        )  # fmt: skip
        for reply in relayed:
            self._keep_shares(reply, pending.asked)
            decoded = self.decode_reply(r, reply, pending.asked)
            if decoded is None:
                continue
            k, outcome = decoded
            j, state = pending.asked[k]
            if j in transfers:
                continue  # a second reply for the same client: ignored
            node, ends = self.nodes[k % self.job.num_nodes], self._ends(k)
            eve = first_pass_information(reply, ends)
            transfers[j] = Transfer(k, node, ends, state, outcome, eve)
        deliveries = finish_exchanges(
            self._grid, transfers, round_=r, n_values=sim.layout.size,
            timeout_s=self.job.round_timeout_s,
        )  # fmt: skip
        missing = sorted(k for k, (j, _) in pending.asked.items() if j not in deliveries)
        for k in missing:
            tally.add_unanswered(k)
        if missing:
            log.warning(
                "round %d: %d of %d clients did not answer within %g s (node gone or failed): "
                "clients %s; aggregating the other %d",
                r, len(missing), len(pending.asked), self.job.round_timeout_s, missing,
                len(deliveries),
            )  # fmt: skip
        accepted, weights, senders = [], [], []
        schedule = pending.schedule
        for j in sorted(deliveries):  # the engine's order: sampled order
            k, d = deliveries[j]
            scheduled, late = None, False
            if schedule is not None:  # a straggler is counted, not aggregated
                scheduled, late = schedule.client_fields(k), schedule.late(k)
            if tally.add_uplink(j, k, d, scheduled=scheduled, late=late):
                accepted.append(d.received)
                weights.append(float(sim.client_sizes[k]))
                senders.append(k)
        size = sim.layout.size
        updates = np.asarray(accepted, dtype=np.float32).reshape(len(accepted), size)
        agg_weights = np.asarray(weights, dtype=np.float64)
        if sim.postprocessors:  # central DP noise, unmasking (qtfl.flower.privacy_ends)
            updates, agg_weights = server_aggregate(
                sim, updates, agg_weights, round_=r, cohort=tally.plan.sampled.astype(np.int64),
                senders=np.asarray(senders, np.int64), reveal=self._reveal(r),
                unmask=self._unmask(r),
            )  # fmt: skip
        network = None if schedule is None else schedule.round_fields()
        record = sim.finish_round(tally, updates, agg_weights, network=network)
        self._pending = None
        self._round_ends = {}
        self.history.append(record)
        if self.checkpoint is not None:
            save_checkpoint(self.checkpoint, sim.state(), config_hash=self.job.config.config_hash())
        metrics = MetricRecord({"aggregated": len(accepted), "aborted": tally.aborted})
        return ArrayRecord({"params": Array(sim.global_params)}), metrics

    def _keep_shares(self, reply: Message, asked: dict[int, tuple[int, object]]) -> None:
        """SecAgg+: keep the encrypted shares a client sent (for its holders, later)."""
        shares = read_shares(reply)
        if shares is None:
            return
        try:
            k = int(str(reply.content.config_records["qtfl"]["client"]))
        except (KeyError, ValueError, TypeError):
            return
        if k in asked and k not in self._shares:
            self._shares[k] = shares

    def _unmask(self, r: int) -> Unmask:
        """SecAgg+: ask the holders' nodes for shares and the survivors' for edge keys."""

        def unmask(
            share_requests: Sequence[tuple[int, int]], key_requests: Sequence[tuple[int, int]]
        ) -> tuple[dict[tuple[int, int], np.ndarray], dict[tuple[int, int], bytes]]:
            messages = unmask_requests(
                share_requests, key_requests, round_=r, ciphertexts=self._shares,
                node_of=lambda k: self.nodes.get(k % self.job.num_nodes),
            )  # fmt: skip
            if not messages or self._grid is None:
                return {}, {}
            replies = self._grid.send_and_receive(messages, timeout=self.job.round_timeout_s)
            return read_unmasked(replies)

        return unmask

    def _reveal(self, r: int) -> Reveal:
        """Ask the survivors' nodes for the round's pair seeds with dropped clients."""

        def reveal(pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
            messages = reveal_requests(
                pairs, round_=r, node_of=lambda k: self.nodes.get(k % self.job.num_nodes)
            )
            if not messages or self._grid is None:
                return {}
            replies = self._grid.send_and_receive(messages, timeout=self.job.round_timeout_s)
            return read_reveals(replies)

        return reveal

    def deliver(self, grid: Grid, ctx: RoundContext, updates: list[np.ndarray]) -> Probes:
        """The privacy assessment's probes, post-processed and sent by the client nodes
        (:func:`qtfl.flower.probes.deliver_probes`)."""
        from qtfl.flower.probes import deliver_probes

        return deliver_probes(self, grid, ctx, updates)

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return []  # evaluated on the server, like the in-process engine

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        return None

    def summary(self) -> None:
        log.info("qtfl ChannelStrategy: scenario %s", self.job.scenario)


def discover_nodes(grid: Grid, job: FlowerJob, node_ids: tuple[int, ...] = ()) -> dict[int, int]:
    """Wait for the SuperNodes; slot ``i`` serves clients ``k`` with ``k % num_nodes == i``.

    With ``node_ids`` (registered ids, partition order) slot ``i`` is ``node_ids[i]`` and no
    other node is ever addressed. Without, slot ``i`` is the node whose ``partition-id`` is
    ``i``: each node holds only the link secrets of the clients of its partition
    (:mod:`qtfl.flower.job`), so the server asks every node its ``partition-id`` (a ``query``
    message) rather than trusting the order of node ids. Every train message names its client.
    """
    deadline = time.monotonic() + job.node_timeout_s
    wanted = job.num_nodes
    if node_ids and len(node_ids) < wanted:
        raise InputError(f"{len(node_ids)} registered SuperNodes for {wanted} slots")
    while True:
        online = set(grid.get_node_ids())
        if node_ids:
            ready = [i for i in node_ids[:wanted] if i in online]
            if len(ready) >= wanted:
                return dict(enumerate(ready))
        else:
            ready = sorted(online)
            if len(ready) >= wanted:
                ids = ready
                break
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {len(ready)} of {wanted} SuperNodes connected "
                f"within {job.node_timeout_s:g} s"
            )
        time.sleep(0.2)
    queries = [Message(RecordDict(), dst_node_id=i, message_type="query") for i in ids]
    slots: dict[int, int] = {}
    # the first message to a node pays its ClientApp's cold start: allow a round's time too
    wait_s = job.node_timeout_s + job.round_timeout_s
    for reply in grid.send_and_receive(queries, timeout=wait_s):
        if reply.has_error() or "node" not in reply.content.config_records:
            continue
        part = int(str(reply.content.config_records["node"]["partition-id"]))
        if 0 <= part < job.num_nodes:
            slots.setdefault(part, int(reply.metadata.src_node_id))
    missing = [i for i in range(job.num_nodes) if i not in slots]
    if missing:
        raise RuntimeError(f"no SuperNode answered for partition-id {missing} within {wait_s:g} s")
    return slots


def resume_from(sim: FederatedSimulation, job: FlowerJob, checkpoint: Path | None) -> None:
    """Restore ``sim`` from ``checkpoint`` if it exists (refusing another configuration)."""
    if checkpoint is None or not checkpoint.is_file():
        return
    state, their_hash = load_checkpoint(checkpoint)
    if their_hash != job.config.config_hash():
        raise InputError(
            f"checkpoint {checkpoint} was written by a different configuration; "
            "resume with the original configuration or choose a new --out"
        )
    sim.restore(state)


def serve(
    grid: Grid,
    job: FlowerJob,
    *,
    checkpoint: Path | None = None,
    node_ids: tuple[int, ...] = (),
) -> list[RoundMetrics]:
    """Run every round of ``job`` on ``grid`` and write the result next to ``job.result_path``.

    ``checkpoint``: saved after every round; restored first if present (``--resume``).
    ``node_ids``: the registered SuperNodes to address (see :func:`discover_nodes`).
    """
    sim = build_simulation_for(job)  # fresh: a cached one may have run rounds already
    resume_from(sim, job, checkpoint)
    remaining = sim.settings.rounds - sim.round
    strategy = ChannelStrategy(job, sim, {}, checkpoint=checkpoint)
    attacks = job.config.attacks is not None
    if remaining > 0 or attacks:
        strategy.nodes = discover_nodes(grid, job, node_ids)
    if remaining > 0:
        strategy.start(
            grid,
            ArrayRecord({"params": Array(sim.global_params)}),
            num_rounds=remaining,
            timeout=job.round_timeout_s,
        )
    out = Path(job.result_path)
    for post in sim.postprocessors:  # SecAgg+: its training rounds, before the probes' one
        report = getattr(post, "summary", None)
        if callable(report):
            _write_json(secagg_path(out), report())
    if attacks:
        from qtfl.experiments.runner import scenario_privacy

        privacy = scenario_privacy(
            job.config,
            job.resolved,
            sim,
            deliver=lambda ctx, updates: strategy.deliver(grid, ctx, updates),
            reveal=strategy._reveal(sim.round + 1),
            unmask=strategy._unmask(sim.round + 1),
        )
        _write_json(privacy_path(out), privacy)
    np.save(out.with_suffix(".npy"), sim.global_params)
    _write_json(out, [r.as_dict() for r in strategy.history])
    return strategy.history


def _write_json(path: Path, value: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    tmp.replace(path)


def make_server_app(
    job: FlowerJob | None = None,
    *,
    checkpoint: Path | None = None,
    stop: threading.Event | None = None,
) -> ServerApp:
    """The ServerApp; without ``job`` it reads job, checkpoint and node ids from the run config.

    Deployed runs' run config: ``job-file``, ``checkpoint-file`` (``""``: none) and
    ``node-ids`` (space-separated registered ids in partition order; ``""``: any node).
    ``stop``: set it to end the ServerApp's waits at once (an interrupted simulation).
    Deployed (no ``job``), replies are pulled every 0.1 s
    (:class:`~qtfl.flower.interrupt.StoppableGrid`), not every 3 s as Flower's grid does.
    """
    app = ServerApp()

    @app.main()
    def _main(grid: Grid, context: Context) -> None:
        # one BLAS and torch thread, as the in-process runner: OpenBLAS's threaded float32
        # gemv (FedAvg's weighted mean) rounds some columns differently from one thread
        torch.set_num_threads(1)
        with threadpool_limits(limits=1):
            _serve_app(grid, context)

    def _serve_app(grid: Grid, context: Context) -> None:
        if stop is not None:
            grid = StoppableGrid(grid, stop)
        elif job is None:  # deployed: Flower's grid waits a fixed 3 s between pulls for
            grid = StoppableGrid(grid, threading.Event())  # replies; this one 0.1 s
        if job is not None:
            serve(grid, job, checkpoint=checkpoint)
            return
        config = context.run_config
        path = str(config.get("checkpoint-file", "") or "")
        ids = tuple(int(x) for x in str(config.get("node-ids", "") or "").split())
        serve(
            grid,
            FlowerJob.from_run_config(config),
            checkpoint=Path(path) if path else None,
            node_ids=ids,
        )

    return app
