"""DP and secure aggregation on Flower: each post-processor hook on the node that owns it.

The in-process engine calls the privacy post-processors' two hooks (:mod:`qtfl.fl.privacy`)
around the uplink; on Flower they run where their party is:

* ``postprocess_one_user`` on the **client node**, between training and the uplink's
  sending end (:func:`client_update`): clipping and local DP noise from the client's own
  noise key, the pairwise masks of secure aggregation from the pair keys the node holds for
  its clients (:mod:`qtfl.fl.privacy_keys`). The round's public facts (round, sampled cohort)
  come in the train message; the cohort's weights are the clients' data sizes every node
  knows from the configuration.
* ``postprocess_server`` in the **strategy** (:func:`server_aggregate`) on the accepted
  deliveries: central DP noise from the server's own noise key; unmasking the masked sum.

Dropout recovery of secure aggregation: for every survivor ``k`` and every cohort member
``j`` whose update did not arrive, the masks ``k`` added for ``j`` do not cancel. The server
asks the node serving ``k`` for that round's pair seed (a ``query.reveal`` message,
:func:`reveal_requests`; the node answers with :func:`reveal_reply`), as the survivors
reveal them in Bonawitz et al. 2017. A seed not revealed (node gone, malformed answer)
leaves the round's sum masked: nothing is aggregated that round. As in process (pairwise
keys, no self-masks), a server that declares a client dropped although it answered could
remove that client's masks; the quantum-keyed SecAgg+ variant with self-masks and Shamir
shares, which protects against that, has its own steps (:mod:`qtfl.flower.secagg_ends`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict

from qtfl.errors import InputError
from qtfl.fl.engine import FederatedSimulation
from qtfl.fl.privacy import RoundContext, Unmask
from qtfl.flower.secagg_ends import adopt_round, is_pair_table, reply_arrays

FloatVector = npt.NDArray[np.float32]
#: Bytes of one revealed pair seed.
SEED_BYTES = 32
#: Flower message type of a reveal request.
REVEAL = "query.reveal"


def _context(
    sim: FederatedSimulation, round_: int, cohort: npt.NDArray[np.int64], **extra: Any
) -> RoundContext:
    return RoundContext(
        round=round_,
        cohort=cohort,
        cohort_weights=sim.client_sizes[cohort].astype(np.float64),
        rng=sim.rngs.get("privacy") or np.random.default_rng(0),
        **extra,
    )


def check_cohort(sim: FederatedSimulation, cohort: npt.NDArray[Any], client: int) -> None:
    """Refuse a cohort that is not distinct client ids containing ``client``."""
    ids = np.asarray(cohort)
    if (
        ids.dtype != np.int64
        or ids.ndim != 1
        or np.any(ids < 0)
        or np.any(ids >= sim.num_clients)
        or np.unique(ids).size != ids.size
        or client not in set(ids.tolist())
    ):
        raise InputError("train message: the cohort must be distinct client ids including mine")


def client_update(
    sim: FederatedSimulation,
    delta: FloatVector,
    *,
    client: int,
    round_: int,
    cohort: npt.NDArray[np.int64],
    cohort_weights: npt.NDArray[np.float64] | None = None,
    public: Any = None,
) -> FloatVector:
    """Client node: ``delta`` after every post-processor's ``postprocess_one_user``, in order.

    ``cohort_weights``: the cohort's weights (``None``: their data sizes, as in training;
    the privacy assessment's probes weigh every client 1, :func:`probe_weights`).
    ``public``: the message's arrays, which name the client's SecAgg+ neighbours when the
    scenario uses quantum-keyed secure aggregation (:mod:`qtfl.flower.secagg_ends`).
    """
    check_cohort(sim, cohort, client)
    if public is not None:
        adopt_round(sim, round_, cohort, client, public)
    context = _context(sim, round_, cohort)
    weight = float(sim.client_sizes[client])
    if cohort_weights is not None:
        context = replace(context, cohort_weights=cohort_weights)
        weight = float(cohort_weights[list(cohort.tolist()).index(client)])
    out = np.asarray(delta, np.float32)
    for post in sim.postprocessors:
        out, weight = post.postprocess_one_user(out, client=client, weight=weight, context=context)
    return np.asarray(out, np.float32)


def server_aggregate(
    sim: FederatedSimulation,
    updates: FloatVector,
    weights: npt.NDArray[np.float64],
    *,
    round_: int,
    cohort: npt.NDArray[np.int64],
    senders: npt.NDArray[np.int64],
    reveal: Callable[[Sequence[tuple[int, int]]], Mapping[tuple[int, int], bytes]],
    unmask: Unmask | None = None,
) -> tuple[FloatVector, npt.NDArray[np.float64]]:
    """Server: the accepted updates after every ``postprocess_server``, in reverse order."""
    context = _context(sim, round_, cohort, reveal=reveal, unmask=unmask)
    for post in reversed(sim.postprocessors):
        updates, weights = post.postprocess_server(
            updates, weights, clients=senders, context=context
        )
    return updates, weights


def reveal_requests(
    pairs: Sequence[tuple[int, int]], *, round_: int, node_of: Callable[[int], int | None]
) -> list[Message]:
    """One ``query.reveal`` message per node: the ``(survivor, dropped)`` pairs it serves."""
    by_node: dict[int, list[tuple[int, int]]] = {}
    for k, j in pairs:
        node = node_of(k)
        if node is not None:
            by_node.setdefault(node, []).append((int(k), int(j)))
    return [
        Message(
            RecordDict(
                {
                    "reveal": ArrayRecord({"pairs": Array(np.array(p, np.int64).reshape(-1, 2))}),
                    "qtfl": ConfigRecord({"round": round_}),
                }
            ),
            dst_node_id=node,
            message_type=REVEAL,
        )
        for node, p in sorted(by_node.items())
    ]


def reveal_reply(
    sim: FederatedSimulation, msg: Message, *, served: Callable[[int], bool]
) -> Message:
    """Client node: the round's seeds of the requested pairs whose survivor it serves."""
    round_ = int(str(msg.content.config_records["qtfl"]["round"]))
    pairs = msg.content.array_records["reveal"]["pairs"].numpy()
    if pairs.dtype != np.int64 or pairs.ndim != 2 or pairs.shape[1] != 2:
        raise InputError("reveal request: pairs must be (P, 2) int64")
    masker = next((p for p in sim.postprocessors if hasattr(p, "pair_seed")), None)
    if masker is None:
        raise InputError("reveal request: this scenario has no secure aggregation")
    keep = [(int(k), int(j)) for k, j in pairs.tolist() if served(int(k)) and k != j]
    seeds = np.zeros((len(keep), SEED_BYTES), np.uint8)
    for row, (k, j) in enumerate(keep):
        seeds[row] = np.frombuffer(masker.pair_seed(k, j, round_), np.uint8)
    arrays = {"pairs": Array(np.array(keep, np.int64).reshape(-1, 2)), "seeds": Array(seeds)}
    return Message(RecordDict({"revealed": ArrayRecord(arrays)}), reply_to=msg)


def read_reveals(replies: Iterable[Message]) -> dict[tuple[int, int], bytes]:
    """The seeds in the nodes' reveal replies; unreadable replies reveal nothing."""
    out: dict[tuple[int, int], bytes] = {}
    for reply in replies:
        arrays = reply_arrays(reply, "revealed", ("pairs", "seeds"))
        if arrays is None:
            continue
        pairs, seeds = arrays
        if not is_pair_table(pairs, seeds, dtype=np.uint8, width=SEED_BYTES):
            continue
        for (k, j), seed in zip(pairs.tolist(), seeds, strict=True):
            out.setdefault((int(k), int(j)), bytes(seed))
    return out


def probe_weights(cohort: npt.NDArray[Any], weights: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """The probe message's cohort weights, or InputError: finite, positive, one per member."""
    w = np.asarray(weights)
    if w.dtype != np.float64 or w.shape != np.asarray(cohort).shape or not np.all(w > 0):
        raise InputError("probe message: cohort_weights must be positive float64, one per client")
    if not np.isfinite(w).all():
        raise InputError("probe message: cohort_weights must be finite")
    return w


#: Name of the probe reply's record holding the scale of what the node sent.
PROBE = "probe"


def probe_record(sent: FloatVector) -> ArrayRecord:
    """Client node: the largest magnitude of the probe it sent (the teleportation header's
    scale, which the assessment gives its attackers)."""
    scale = float(np.max(np.abs(sent))) if sent.size else 0.0
    return ArrayRecord({"max_abs": Array(np.array([scale], np.float64))})


def probe_scale(reply: Message) -> float:
    """Server: the scale a probe reply reports; 1.0 when it reports none readable."""
    try:
        value = reply.content.array_records[PROBE]["max_abs"].numpy()
    except (KeyError, ValueError, TypeError):
        return 1.0
    if value.dtype != np.float64 or value.shape != (1,) or not np.isfinite(value[0]):
        return 1.0
    return float(value[0]) if value[0] >= 0 else 1.0
