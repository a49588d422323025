"""The ClientApp: local training (the engine's code) and a mod holding the channel's sending end.

A ``train`` message carries the client id, the start parameters the downlink delivered, the
client's mini-batch plan for the round, the round's sampled cohort, how the server recorded
the client's last delivery, and the receiving end's announcements; with a network schedule
also ``link_parameter``, the coherence of the client's pairs this round (:func:`round_uplink`).
The handler trains with the same function the in-process engine picks
(:mod:`qtfl.fl.batched_mlp`, ``train_vmap`` or ``train_loop``) and replies with the plain
update; :func:`channel_mod`, wrapped around every handler, turns that update into what
leaves the node, in the in-process order:

1. the privacy post-processors' client hooks (:func:`qtfl.flower.privacy_ends.client_update`:
   clipping, local DP noise, secure-aggregation masks — from this node's own keys);
2. the uplink's sending end (:mod:`qtfl.flower.ends`), with compression and its
   error-feedback residual kept on this node (:mod:`qtfl.flower.compression_ends`,
   :mod:`qtfl.flower.node_state`).

A colluding ALIE client's node answers its ``train`` message with its honest update for the
colluders' relay, and its ``train.collude`` message (the pool of its chunk's colluders) with
the ALIE update, which the mod then sends like a trained one (:mod:`qtfl.flower.collusion`).

A ``train.uplink`` message is a further request of the uplink's receiving end within the
round (teleportation with FEC asks again for the blocks that failed): the node answers it
from the update it kept when it first replied (:mod:`qtfl.flower.exchange`).

A ``query`` message asks the node for its ``partition-id``; a ``query.reveal`` message asks
for the mask seeds its clients share with dropped clients (:mod:`qtfl.flower.privacy_ends`);
a ``query.unmask`` message for SecAgg+'s shares and edge keys (:mod:`qtfl.flower.secagg_ends`).
A ``query`` carrying a ``probe`` update (the privacy assessment after the last round,
:meth:`qtfl.flower.server.ChannelStrategy.deliver`) is answered with that update, which the
mod passes through the privacy post-processors with this node's own keys (the probe's
cohort and equal weights come in the message) and sends through the uplink's sending end
like a trained one, without touching a compressor's stored residual. The reply adds the
scale of what was sent (``probe`` record) and, on a tapped link, the simulated
eavesdropper's record with her guess (:mod:`qtfl.flower.taps`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

from qtfl.channel import Channel
from qtfl.errors import InputError
from qtfl.fl.batched_mlp import train_batched_mlp
from qtfl.fl.client import BatchPlan, train_loop, train_vmap
from qtfl.fl.engine import FederatedSimulation
from qtfl.flower.collusion import alie_from_pool, collude_reply, colluder_of
from qtfl.flower.compression_ends import CompressedEnds
from qtfl.flower.ends import Arrays, UplinkEnds, uplink_ends
from qtfl.flower.exchange import answer_request, keep_update, kept_link_parameter
from qtfl.flower.job import FlowerJob, build_node, node_partition, node_party
from qtfl.flower.node_state import LastDelivery, ResidualStore
from qtfl.flower.privacy_ends import (
    PROBE,
    client_update,
    probe_record,
    probe_weights,
    reveal_reply,
)
from qtfl.flower.secagg_ends import SHARES, share_record, unmask_reply
from qtfl.flower.taps import EVE, eve_record

JobSource = Callable[[Context], FlowerJob]
Mod = Callable[[Message, Context, Callable[[Message, Context], Message]], Message]


def job_from_context(context: Context) -> FlowerJob:
    """The job of a deployed run (from its run config), with this node's secrets directory."""
    return FlowerJob.from_run_config(context.run_config).on_node(context.node_config)


def channel_mod(job_of: JobSource) -> Callable[[Message, Context, Callable], Message]:
    """A Flower mod: the outgoing ``update`` becomes the uplink sending end's wire arrays."""

    def mod(msg: Message, context: Context, call_next: Callable) -> Message:
        reply = call_next(msg, context)
        if reply.has_error() or "update" not in reply.content.array_records:
            return reply
        job = job_of(context)
        meta = msg.content.config_records["qtfl"]
        client, round_ = int(str(meta["client"])), int(str(meta["round"]))
        party = node_party(context.node_config)
        sim = build_node(job.to_json(), party)
        delta = reply.content.array_records["update"]["delta"].numpy()
        if msg.metadata.message_type == "train" and colluder_of(sim, client):
            return collude_reply(msg, client=client, round_=round_, honest=delta)  # to the relay
        announced = {k: v.numpy() for k, v in msg.content.array_records["announce"].items()}
        if "probe" in msg.content.array_records:  # the privacy assessment's probe
            probe = msg.content.array_records["probe"]
            if sim.postprocessors:  # masks and local noise from this node's own keys
                cohort = probe["cohort"].numpy()
                weights = probe_weights(cohort, probe["cohort_weights"].numpy())
                delta = client_update(sim, delta, client=client, round_=round_, cohort=cohort,
                                      cohort_weights=weights, public=probe)  # fmt: skip
            ends, key = uplink_ends(sim.uplink(client)), job.link_key(round_, client)
            if isinstance(ends, CompressedEnds):  # a fresh residual: the probe is no round
                wire, _, _, kept = ends.send_with_state(delta, key, announced, None)
            else:
                wire, kept = ends.send(delta, key, announced), delta
            if ends.multi_step:  # FEC resends, QKD-OTP's dialogue: answered from this
                keep_update(context, client, round_, kept)
            eve = eve_record(ends, kept, key, announced, with_guess=True)
            reply = _wire_reply(msg, wire, client, round_, eve=eve)
            reply.content[PROBE] = probe_record(delta)
            _add_shares(reply, sim, round_, client)
            return reply
        if sim.postprocessors:
            train = msg.content.array_records["train"]
            delta = client_update(sim, delta, client=client, round_=round_,
                                  cohort=train["cohort"].numpy(), public=train)  # fmt: skip
        last = LastDelivery(int(str(meta["last_round"])), bool(meta["last_accepted"]))
        parameter = float(str(meta["link_parameter"])) if "link_parameter" in meta else None
        ends = uplink_ends(round_uplink(sim, client, parameter))
        wire, kept = send_update(job, party, ends, delta, client, round_, announced, last)
        if ends.multi_step:  # the receiving end may ask again within the round
            keep_update(context, client, round_, kept, link_parameter=parameter)
        eve = eve_record(ends, kept, job.link_key(round_, client), announced)
        reply = _wire_reply(msg, wire, client, round_, eve=eve)
        _add_shares(reply, sim, round_, client)
        return reply

    return mod


def round_uplink(sim: FederatedSimulation, client: int, parameter: float | None) -> Channel:
    """The client's uplink this round: with a network schedule's ``parameter`` (the coherence
    of its pairs, told in the train message) the channel over its pairs as they are this
    round (:meth:`qtfl.fl.engine.RoundScheduler.round_uplink`), else its usual one."""
    if parameter is None:
        return sim.uplink(client)
    if sim.network is None:
        raise InputError("a link parameter was sent, but this scenario has no network.server")
    if not 0.0 < parameter <= 1.0:  # a coherence factor; anything else is no honest server's
        raise InputError(f"link_parameter must be a coherence in (0, 1], got {parameter}")
    return sim.network.round_uplink(client, parameter)


def _add_shares(reply: Message, sim: object, round_: int, client: int) -> None:
    """SecAgg+: the client's encrypted shares of its self-mask seed, beside its update."""
    shares = share_record(sim, round_, client)
    if shares is not None:
        reply.content[SHARES] = shares


def _wire_reply(
    msg: Message, wire: Arrays, client: int, round_: int, *, eve: Arrays | None = None
) -> Message:
    """The reply: the sending end's wire arrays and, beside them, the tap record of the
    eavesdropper this node simulates (:mod:`qtfl.flower.taps`; never decoded)."""
    content = RecordDict(
        {
            "wire": ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in wire.items()}),
            "qtfl": ConfigRecord({"client": client, "round": round_}),
        }
    )
    if eve:
        content[EVE] = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in eve.items()})
    return Message(content, reply_to=msg)


def send_update(
    job: FlowerJob,
    party: str,
    ends: UplinkEnds,
    update: np.ndarray,
    client: int,
    round_: int,
    announced: Arrays,
    last: LastDelivery,
) -> tuple[Arrays, np.ndarray]:
    """The sending end's wire arrays and what the node keeps for further requests (the
    update, or the compressed values); a compressor's residual stays on this node."""
    key = job.link_key(round_, client)
    if not isinstance(ends, CompressedEnds):
        return ends.send(update, key, announced), update
    if not ends.stateful:
        wire, _, _, values = ends.send_with_state(update, key, announced, None)
        return wire, values
    if job.state_dir is None:
        raise InputError("compression with error feedback on Flower needs the job's state_dir")
    store = ResidualStore(job.state_dir, party, job.scenario)
    before = store.current(client, round_=round_, last=last)
    wire, accepted, rejected, values = ends.send_with_state(update, key, announced, before)
    store.record(client, round_=round_, before=before, accepted=accepted, rejected=rejected)
    return wire, values


def train(msg: Message, context: Context, job: FlowerJob) -> Message:
    """Train one client from the delivered start parameters on its batch plan."""
    torch.set_num_threads(1)
    sim = build_node(job.to_json(), node_party(context.node_config))
    arrays = msg.content.array_records["train"]
    start = torch.from_numpy(arrays["start"].numpy().astype(np.float32)[None, :].copy())
    plan = BatchPlan(
        indices=torch.from_numpy(arrays["indices"].numpy().astype(np.int64)[None]),
        mask=torch.from_numpy(arrays["mask"].numpy().astype(bool)[None]),
        active=torch.from_numpy(np.asarray(arrays["mask"].numpy().astype(bool).any(axis=-1))[None]),
    )
    fn = {"bmm": train_batched_mlp, "vmap": train_vmap, "loop": train_loop}[sim.backend]
    delta = fn(sim.model, sim.layout, start, sim.x_train, sim.y_train, plan, sim.training)
    update = ArrayRecord({"delta": Array(delta[0].detach().numpy().astype(np.float32))})
    return Message(RecordDict({"update": update}), reply_to=msg)


def make_client_app(
    job_of: JobSource = job_from_context, *, mods: Sequence[Mod] = ()
) -> ClientApp:
    """The ClientApp; ``job_of`` finds the job (run config when deployed, fixed in simulation
    or chosen per message, :mod:`qtfl.flower.simulation`); ``mods`` run before the channel's."""
    app = ClientApp(mods=[*mods, channel_mod(job_of)])

    @app.train()
    def _train(msg: Message, context: Context) -> Message:
        return train(msg, context, job_of(context))

    @app.train("uplink")
    def _uplink(msg: Message, context: Context) -> Message:
        job = job_of(context)
        sim = build_node(job.to_json(), node_party(context.node_config))
        round_ = int(str(msg.content.config_records["qtfl"]["round"]))

        def ends_of(k: int) -> tuple[UplinkEnds, object]:
            parameter = kept_link_parameter(context, k, round_)
            return uplink_ends(round_uplink(sim, k, parameter)), job.link_key(round_, k)

        return answer_request(msg, context, ends_of)

    @app.train("collude")
    def _collude(msg: Message, context: Context) -> Message:
        job = job_of(context)
        sim = build_node(job.to_json(), node_party(context.node_config))
        client = int(str(msg.content.config_records["qtfl"]["client"]))
        delta = alie_from_pool(sim, msg, client=client)  # the channel mod sends it
        return Message(RecordDict({"update": ArrayRecord({"delta": Array(delta)})}), reply_to=msg)

    @app.query()
    def _query(msg: Message, context: Context) -> Message:
        if "probe" in msg.content.array_records:  # the channel mod sends it as wire arrays
            update = ArrayRecord({"delta": msg.content.array_records["probe"]["update"]})
            return Message(RecordDict({"update": update}), reply_to=msg)
        part = node_partition(context.node_config)
        return Message(RecordDict({"node": ConfigRecord({"partition-id": part})}), reply_to=msg)

    @app.query("unmask")
    def _unmask(msg: Message, context: Context) -> Message:
        job = job_of(context)
        part = node_partition(context.node_config)
        sim = build_node(job.to_json(), node_party(context.node_config))
        return unmask_reply(
            sim, msg, context.state, served=lambda k: k % job.num_nodes == part
        )

    @app.query("reveal")
    def _reveal(msg: Message, context: Context) -> Message:
        job = job_of(context)
        part = node_partition(context.node_config)
        sim = build_node(job.to_json(), node_party(context.node_config))
        return reveal_reply(sim, msg, served=lambda k: k % job.num_nodes == part)

    return app
