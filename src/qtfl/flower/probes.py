"""The privacy assessment's probes on Flower: each client node post-processes and sends its own.

After the last round the ``attacks:`` section (:func:`qtfl.attacks.run_privacy.
assess_simulation`) needs every client's one-example probe as its attackers would see it.
The honest probe is public to the assessment (computed from the public model and the
client's example); what the attackers see is that probe after the client's privacy hooks —
local DP noise, pairwise or SecAgg+ masks, a malicious client's attack — whose keys only
the client's node holds, and after its uplink's sending end. So the server hands each node
its client's probe with the probe round's public context, the node does the rest with its
own keys (:func:`qtfl.flower.privacy_ends.client_update`), and the server decodes the wire
as in a training round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from qtfl.attacks.run_privacy import Probes
from qtfl.channel import Delivery, Ledger, Tap, Verdict
from qtfl.fl.privacy import RoundContext
from qtfl.flower.exchange import Transfer, finish_exchanges, first_pass_information
from qtfl.flower.privacy_ends import probe_scale
from qtfl.flower.secagg_ends import begin_round, public_arrays

if TYPE_CHECKING:
    from qtfl.flower.server import ChannelStrategy


def deliver_probes(
    strategy: ChannelStrategy, grid: Grid, ctx: RoundContext, updates: list[np.ndarray]
) -> Probes:
    """Client ``k``'s probe ``updates[k]``, post-processed and sent by its node.

    The privacy assessment's exchange (:func:`qtfl.attacks.run_privacy.assess_simulation`):
    the server hands each node its client's honest probe update (a ``query`` message with
    the probe context — round, cohort, equal weights — and the receiving end's
    announcements); the node runs the privacy post-processors with its own keys (local
    DP noise, masks; :func:`qtfl.flower.privacy_ends.client_update`) and sends the result
    as the wire arrays of the real protocol; the server decodes them as in a training
    round, so the eavesdropper's tap and the server's view come from what crossed the
    wire. The node reports the largest magnitude it sent (the teleportation header's
    scale, given to the attackers). A client whose node does not answer is an aborted
    delivery (``no-answer``).
    """
    job, size, r = strategy.job, strategy.sim.layout.size, ctx.round
    strategy._grid = grid
    strategy._shares = {}
    begin_round(strategy.sim, r, np.asarray(ctx.cohort, np.int64))  # SecAgg+: public graph
    asked: dict[int, tuple[int, object]] = {}
    messages = []
    for k, u in enumerate(updates):
        node = strategy.nodes.get(k % job.num_nodes)
        if node is None:
            continue
        state, announce = strategy._ends(k).prepare(job.link_key(r, k), size)
        asked[k] = (k, state)
        probe = {
            "update": np.ascontiguousarray(u, np.float32),
            "cohort": np.asarray(ctx.cohort, np.int64),
            "cohort_weights": np.asarray(ctx.cohort_weights, np.float64),
            **public_arrays(strategy.sim, r, k),
        }
        content = RecordDict(
            {
                "probe": ArrayRecord({a: Array(np.asarray(v)) for a, v in probe.items()}),
                "announce": ArrayRecord({a: Array(v) for a, v in announce.items()}),
                "qtfl": ConfigRecord({"client": int(k), "round": r}),
            }
        )
        messages.append(Message(content, dst_node_id=node, message_type="query"))
    transfers: dict[int, Transfer] = {}
    max_abs: dict[int, float] = {}
    for reply in grid.send_and_receive(messages, timeout=job.round_timeout_s):
        strategy._keep_shares(reply, asked)
        decoded = strategy.decode_reply(r, reply, asked)
        if decoded is not None and decoded[0] not in transfers:
            k, outcome = decoded
            node, ends = strategy.nodes[k % job.num_nodes], strategy._ends(k)
            eve = first_pass_information(reply, ends)
            transfers[k] = Transfer(k, node, ends, asked[k][1], outcome, eve)
            max_abs[k] = probe_scale(reply)
    done = finish_exchanges(grid, transfers, round_=r, n_values=size, timeout_s=job.round_timeout_s)
    got = {k: d for k, (_, d) in done.items()}
    silent = Delivery(None, Ledger(), Verdict.abort("no-answer"), Tap(kind="none"))
    n = len(updates)
    return Probes([got.get(k, silent) for k in range(n)], [max_abs.get(k, 1.0) for k in range(n)])
