"""Further uplink exchanges within a round: the server's requests and the clients' answers.

Some channels' receiving ends need more than the client's first reply (teleportation with
FEC asks again for the blocks that failed, :mod:`qtfl.channel.split_fec`). After the train
replies are in, :func:`finish_exchanges` sends every outstanding request of the round in one
batch (``message_type = "train.uplink"``, one message per client, to the client's node),
steps each client's receiving end with the answer, and repeats until every transfer ended in
a Delivery. The ClientApp answers with :func:`answer_request` from the update it kept on its
node (:func:`keep_update`, in the node's ``Context.state``): the node trains once per round.

A client that does not answer a request (node gone, timeout) gets a rejected delivery
(``no-answer-to-request``, not ``detected``) whose ledger holds the passes already made
(:meth:`~qtfl.flower.ends.UplinkEnds.abandon`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid

from qtfl.channel import Delivery
from qtfl.flower.ends import Arrays, FollowUp, UplinkEnds
from qtfl.flower.taps import (
    EVE,
    answer_with_record,
    attach_information,
    pass_information,
)

log = logging.getLogger("flwr")

#: Message type of a further request (a ClientApp ``train`` function named ``uplink``).
REQUEST_TYPE = "train.uplink"
_KEPT = "qtfl-uplink-{client}"


@dataclass
class Transfer:
    """One client's uplink transfer in progress on the server."""

    client: int
    node: int
    ends: UplinkEnds
    state: object
    outcome: Delivery | FollowUp
    #: Eve's information per pass so far, from the sending node's tap records (FEC;
    #: :mod:`qtfl.flower.taps`), summed into the final delivery's tap.
    eve: list[float] = field(default_factory=list)


def finish_exchanges(
    grid: Grid,
    transfers: dict[int, Transfer],
    *,
    round_: int,
    n_values: int,
    timeout_s: float,
) -> dict[int, tuple[int, Delivery]]:
    """Run every transfer's further requests to the end; ``{slot: (client, Delivery)}``."""
    while True:
        waiting = {j: t for j, t in transfers.items() if isinstance(t.outcome, FollowUp)}
        if not waiting:
            break
        by_client = {t.client: j for j, t in waiting.items()}
        messages = [_request(t, round_) for t in waiting.values()]
        answered: set[int] = set()
        for reply in grid.send_and_receive(messages, timeout=timeout_s):
            try:  # a hostile node may send anything: unreadable replies count as no answer
                if reply.has_error():
                    raise ValueError(str(reply.error))
                k = int(str(reply.content.config_records["qtfl"]["client"]))
                wire = {a: v.numpy() for a, v in reply.content.array_records["wire"].items()}
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("round %d: a request's answer was unusable (%s)", round_, exc)
                continue
            j = by_client.get(k)
            if j is None or j in answered:
                continue  # not asked, or a second answer
            answered.add(j)
            t = transfers[j]
            t.outcome = t.ends.step(wire, t.state, n_values=n_values)
            info = pass_information(_record(reply, EVE))
            if info is not None:
                t.eve.append(info)
        for j in set(waiting) - answered:
            t = transfers[j]
            t.outcome = t.ends.abandon(t.state)
    out: dict[int, tuple[int, Delivery]] = {}
    for j, t in transfers.items():
        assert isinstance(t.outcome, Delivery)
        out[j] = (t.client, attach_information(t.outcome, t.eve))
    return out


def _record(reply: Message, name: str) -> dict[str, np.ndarray] | None:
    """A reply's array record as arrays (None if absent or unreadable)."""
    try:
        if name not in reply.content.array_records:
            return None
        return {a: v.numpy() for a, v in reply.content.array_records[name].items()}
    except (KeyError, ValueError, TypeError):
        return None


def first_pass_information(reply: Message, ends: UplinkEnds) -> list[float]:
    """Eve's information of a multi-pass transfer's first pass, from its train reply."""
    info = pass_information(_record(reply, EVE)) if ends.multi_step else None
    return [] if info is None else [info]


def _request(t: Transfer, round_: int) -> Message:
    assert isinstance(t.outcome, FollowUp)
    content = RecordDict(
        {
            "request": ArrayRecord(
                {a: Array(np.ascontiguousarray(v)) for a, v in t.outcome.request.items()}
            ),
            "qtfl": ConfigRecord({"client": t.client, "round": round_}),
        }
    )
    return Message(content, dst_node_id=t.node, message_type=REQUEST_TYPE)


def keep_update(
    context: Context,
    client: int,
    round_: int,
    update: np.ndarray,
    *,
    link_parameter: float | None = None,
) -> None:
    """Keep ``client``'s update of ``round_`` on its node for further requests, with the
    round's link parameter the train message gave (a network schedule's; ``None``: none)."""
    arrays = {"update": Array(np.ascontiguousarray(update, dtype=np.float32)),
              "round": Array(np.array([round_], np.int64))}  # fmt: skip
    if link_parameter is not None:
        arrays["link_parameter"] = Array(np.array([link_parameter], np.float64))
    context.state[_KEPT.format(client=client)] = ArrayRecord(arrays)


def kept_link_parameter(context: Context, client: int, round_: int) -> float | None:
    """The link parameter kept with ``client``'s update of ``round_`` (``None``: none)."""
    kept_update(context, client, round_)  # KeyError if nothing is kept for that round
    record = context.state.array_records[_KEPT.format(client=client)]
    if "link_parameter" not in record:
        return None
    return float(record["link_parameter"].numpy()[0])


def kept_update(context: Context, client: int, round_: int) -> np.ndarray:
    """The update kept for ``client`` in ``round_`` (KeyError if none)."""
    record = context.state.array_records[_KEPT.format(client=client)]
    if int(record["round"].numpy()[0]) != round_:
        raise KeyError(f"no update of client {client} kept for round {round_}")
    return record["update"].numpy()


def answer_request(
    msg: Message, context: Context, ends_of: Callable[[int], tuple[UplinkEnds, object]]
) -> Message:
    """ClientApp side: answer a further request from the kept update.

    ``ends_of(client)`` gives the client's uplink ends and its link key for the round.
    """
    meta = msg.content.config_records["qtfl"]
    client, round_ = int(str(meta["client"])), int(str(meta["round"]))
    request: Arrays = {k: v.numpy() for k, v in msg.content.array_records["request"].items()}
    ends, key = ends_of(client)
    update = kept_update(context, client, round_)
    wire, eve = answer_with_record(ends, update, key, request)  # type: ignore[arg-type]
    content = RecordDict(
        {
            "wire": ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in wire.items()}),
            "qtfl": ConfigRecord({"client": client, "round": round_}),
        }
    )
    if eve:  # the simulated eavesdropper's record of this pass, beside the wire
        content[EVE] = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in eve.items()})
    return Message(content, reply_to=msg)
