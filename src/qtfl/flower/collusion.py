"""ALIE on Flower: the colluders' side channel, relayed by the server, modelled as such.

"A little is enough" (Baruch, Baruch & Goldberg, NeurIPS 2019) assumes the malicious clients
collude: each computes its honest (benign) update, they pool them, and each sends
:math:`\\mu - z\\sigma` of the pool (:mod:`qtfl.attacks.poisoning`). In process the engine
hands the post-processor each chunk of freshly trained updates (``postprocess_cohort``), so
the colluders of a chunk see one another's honest updates. On Flower the colluders may sit
on different SuperNodes, and nodes have no channel to each other; the threat model grants
the colluders a side channel, and the only path between nodes is through the SuperLink. So
the side channel is modelled explicitly, as a relay in the ServerApp process that the
strategy never reads:

1. a colluding client's node trains as usual, but instead of sending through its uplink it
   answers the train message with its honest update (a ``collude`` record, no wire arrays:
   :func:`collude_reply`);
2. the relay pools, per chunk of the round (the engine's ``client_chunk`` sampled clients;
   the default chunk of 128 holds the whole round of most configurations), the honest
   updates of the colluders that answered (the configuration's colluders only: a node
   cannot pose an honest client as one), in sampled order, and sends each of them a
   ``train.collude`` message: its original train message plus the pool and the number of
   clients training in the chunk (:func:`pool_messages`);
3. the node computes ALIE from the pool exactly as the in-process post-processor does
   (:meth:`qtfl.attacks.poisoning.ModelPoisoning.alie_from_pool`) and sends the result through
   the privacy hooks and its uplink's sending end like any trained update.

The side channel's traffic is the attackers' and is not counted in any Ledger (as in
process, where the pooling is free). The server process carries the pooled updates only to
relay them: they are not decoded, aggregated, logged or written, and the strategy's round
records see only what the colluders then send through their uplinks. A colluder whose node
does not answer the relay counts as not answering the round; one whose honest update did
not arrive is not in the pool (in process every colluder that trained is).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from qtfl.errors import InputError

#: Record of a colluder's first reply (its honest update, for the relay).
COLLUDE = "collude"
#: Message type of the relay's pool message (a ClientApp ``train`` function ``collude``).
POOL_TYPE = "train.collude"
#: Record of the pool in a relay message.
POOL = "pool"


def colluder_of(sim: Any, client: int) -> bool:
    """True when ``client`` is an ALIE colluder of ``sim``'s scenario."""
    return any(getattr(p, "colludes", lambda _k: False)(client) for p in sim.postprocessors)


def collude_reply(msg: Message, *, client: int, round_: int, honest: np.ndarray) -> Message:
    """Client node: the colluder's honest update, sent to the relay instead of its uplink."""
    content = RecordDict(
        {
            COLLUDE: ArrayRecord({"honest": Array(np.ascontiguousarray(honest, dtype=np.float32))}),
            "qtfl": ConfigRecord({"client": client, "round": round_}),
        }
    )
    return Message(content, reply_to=msg)


def read_collusion(reply: Message, *, n_values: int) -> tuple[int, np.ndarray] | None:
    """Relay: ``(client, honest update)`` of a colluder's reply, or None if it is none or
    unreadable (a finite float32 vector of the model's size)."""
    try:
        if reply.has_error() or COLLUDE not in reply.content.array_records:
            return None
        k = int(str(reply.content.config_records["qtfl"]["client"]))
        row = reply.content.array_records[COLLUDE]["honest"].numpy()
    except (KeyError, ValueError, TypeError):
        return None
    if row.dtype != np.float32 or row.shape != (n_values,) or not np.isfinite(row).all():
        return None
    return k, row


def pool_messages(
    honest: Mapping[int, np.ndarray],
    *,
    chunks: Iterable[tuple[list[int], int]],
    trains: Mapping[int, tuple[int, RecordDict]],
) -> list[Message]:
    """Relay: one ``train.collude`` message per colluder that answered.

    ``chunks``: ``(clients in sampled order, clients training in the chunk)`` per chunk;
    ``trains``: client -> (node id, its train message content) of the round.
    """
    out = []
    for clients, size in chunks:
        members = [k for k in clients if k in honest]
        if not members:
            continue
        pool = {
            "rows": np.stack([honest[k] for k in members]).astype(np.float32),
            "clients": np.asarray(members, np.int64),
            "cohort_size": np.array([size], np.int64),
        }
        for k in members:
            node, train = trains[k]
            content = RecordDict(dict(train.items()))
            content[POOL] = ArrayRecord({a: Array(np.asarray(v)) for a, v in pool.items()})
            out.append(Message(content, dst_node_id=node, message_type=POOL_TYPE))
    return out


def alie_from_pool(sim: Any, msg: Message, *, client: int) -> npt.NDArray[np.float32]:
    """Client node: the colluder's ALIE update from the relayed pool (InputError for a
    client that does not collude: an honest client never sends ALIE)."""
    if not colluder_of(sim, client):
        raise InputError(f"collude message: client {client} is no ALIE colluder")
    rec = msg.content.array_records[POOL]
    rows, members = rec["rows"].numpy(), rec["clients"].numpy()
    size = rec["cohort_size"].numpy()
    if (
        rows.dtype != np.float32
        or rows.ndim != 2
        or rows.shape[1] != sim.layout.size
        or members.dtype != np.int64
        or members.shape != (rows.shape[0],)
        or size.dtype != np.int64
        or size.shape != (1,)
        or not rows.shape[0] <= int(size[0]) <= sim.num_clients
        or client not in set(members.tolist())
    ):
        raise InputError("collude message: a pool of float32 rows, their clients and the size")
    poisoner = next(p for p in sim.postprocessors if hasattr(p, "alie_from_pool"))
    out: npt.NDArray[np.float32] = poisoner.alie_from_pool(
        rows, clients=members, cohort_size=int(size[0]), client=client
    )
    return out


def relay_colluders(
    grid: Grid,
    replies: Iterable[Message],
    *,
    sim: Any,
    asked: Mapping[int, object],
    chunks: Iterable[tuple[list[int], int]],
    trains: Mapping[int, tuple[int, RecordDict]],
    timeout_s: float,
) -> list[Message]:
    """Relay: the round's replies with the colluders' side channel run.

    A colluder's first reply is its honest update; the relay pools those of the
    configuration's colluders asked this round per chunk (:func:`pool_messages`), sends each
    its pool and returns, in place of those replies, the colluders' answers: their ALIE
    updates through the uplink. The pooled updates are dropped when this returns.
    """
    out: list[Message] = []
    honest: dict[int, np.ndarray] = {}
    for reply in replies:
        got = read_collusion(reply, n_values=sim.layout.size)
        if got is None:
            out.append(reply)
        elif got[0] in asked and got[0] not in honest and colluder_of(sim, got[0]):
            honest[got[0]] = got[1]
    if honest:
        messages = pool_messages(honest, chunks=chunks, trains=trains)
        out += grid.send_and_receive(messages, timeout=timeout_s)
    return out
