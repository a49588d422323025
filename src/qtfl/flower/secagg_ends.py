"""Quantum-keyed SecAgg+ on Flower: each step of :mod:`qtfl.fl.secagg` on the party that runs it.

One round, as the protocol runs it between the ServerApp and the client nodes:

1. **Graph** (server, ``configure_train``): the server's :class:`~qtfl.fl.secagg.QuantumSecAgg`
   draws the round's neighbour graph and which edge keys the clients established (public:
   from the experiment generator, as in process, :func:`begin_round`). Each train message
   names the client's neighbours in the server's order and the Shamir threshold ``t``
   (:func:`public_arrays`).
2. **Keys, masks and shares** (client node, the channel mod): the node adopts its client's
   part of the graph (:meth:`~qtfl.fl.secagg.QuantumSecAgg.adopt`) and masks the update
   with the client's self-mask seed and its edge keys — both from keys only that client
   holds (:mod:`qtfl.fl.privacy_keys`; the edge key stands in for the key the two clients
   distil over the pairs the server swaps). It Shamir-shares the self-mask seed among the
   neighbours and encrypts each share under the edge key with that neighbour (AES-GCM;
   nonce: owner and holder ids, unique per key; associated data: the round), and sends the
   ciphertexts beside the masked update in a ``secagg`` record (:func:`share_record`). The
   server relays nothing it can read: it keeps the ciphertexts for step 3.
3. **Unmasking** (server, then the holders' nodes): for every survivor the server asks
   ``t`` surviving neighbours for their share of its seed, handing each holder's node the
   ciphertext addressed to it; for every survivor and each of its dropped neighbours it
   asks the survivor's node for their edge key. One ``query.unmask`` message per node
   (:func:`unmask_requests`); the node decrypts and answers (:func:`unmask_reply`). An
   honest holder never reveals both its share of a peer's seed and its edge key with that
   peer in one round (SecAgg+'s rule that keeps a client declared dropped although it sent
   masked: revealing both would unmask its update); the node keeps, per round, what it
   revealed and refuses the other kind. A share or key not revealed leaves the round's sum
   masked: nothing is aggregated that round.

The privacy assessment's probes (:meth:`qtfl.flower.server.ChannelStrategy.deliver`) take
the same three steps for the round after the last trained.

What the server object holds: the graph, the thresholds, the share ciphertexts and what the
nodes revealed for unmasking; never an edge key it was not given for a dropped client, a
self-mask seed or a share in the clear before unmasking (its party file holds no pair or
self key: :func:`qtfl.flower.job.write_party_secrets`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict

from qtfl.errors import InputError
from qtfl.fl.secagg import QuantumSecAgg
from qtfl.security.shamir import LIMBS, PRIME

Arrays = dict[str, npt.NDArray[Any]]
#: Reply record of a client's encrypted shares; message type of an unmask request.
SHARES = "secagg"
UNMASK = "query.unmask"
_SHARE_BYTES = 4 * LIMBS
_CIPHER_BYTES = _SHARE_BYTES + 16  # AES-GCM tag; the nonce is the ids (not sent)
_REVEALED = "qtfl-secagg-revealed"


def quantum(sim: Any) -> QuantumSecAgg | None:
    """The scenario's SecAgg+ post-processor, or None."""
    return next((p for p in sim.postprocessors if isinstance(p, QuantumSecAgg)), None)


# -- step 1: the server ------------------------------------------------------------------
def begin_round(sim: Any, round_: int, cohort: npt.NDArray[np.int64]) -> None:
    """Server: draw round ``round_``'s public graph (once; as the first client hook would)."""
    q = quantum(sim)
    if q is not None and q.round_state(round_) is None:
        q.setup(round_, cohort)


def public_arrays(sim: Any, round_: int, client: int) -> Arrays:
    """Server: the train (or probe) message's SecAgg+ arrays for ``client``."""
    q = quantum(sim)
    st = None if q is None else q.round_state(round_)
    if st is None:
        return {}
    return {
        "secagg_neighbours": np.asarray(st.neighbours.get(client, []), np.int64),
        "secagg_threshold": np.array([st.report.threshold], np.int64),
    }


# -- step 2: the client node -------------------------------------------------------------
def adopt_round(
    sim: Any, round_: int, cohort: npt.NDArray[np.int64], client: int, arrays: Any
) -> None:
    """Client node: take ``client``'s neighbours and threshold from the message ``arrays``
    (InputError when missing or not distinct cohort members other than the client)."""
    q = quantum(sim)
    if q is None:
        return
    try:
        nb = arrays["secagg_neighbours"].numpy()
        t = arrays["secagg_threshold"].numpy()
    except KeyError:
        raise InputError("message: secure aggregation needs the client's neighbours") from None
    members = set(np.asarray(cohort).tolist())
    if (
        nb.dtype != np.int64
        or nb.ndim != 1
        or t.dtype != np.int64
        or t.shape != (1,)
        or not 1 <= int(t[0]) <= len(members)  # a client with fewer keys uses min(t, degree)
        or np.unique(nb).size != nb.size
        or not set(nb.tolist()) <= members - {client}
    ):
        raise InputError("message: neighbours must be distinct cohort members, 1 <= t <= cohort")
    q.adopt(round_, cohort, client, [int(h) for h in nb.tolist()], int(t[0]))


def _nonce(owner: int, holder: int) -> bytes:
    return int(owner).to_bytes(6, "little") + int(holder).to_bytes(6, "little")


def _aad(round_: int) -> bytes:
    return f"qtfl/secagg-share/{int(round_)}".encode()


def share_record(sim: Any, round_: int, client: int) -> ArrayRecord | None:
    """Client node: ``client``'s shares of its self-mask seed, each encrypted under the
    edge key with its holder (``None`` without SecAgg+)."""
    q = quantum(sim)
    if q is None:
        return None
    st = q.round_state(round_)
    assert st is not None  # adopted before masking
    holders = st.neighbours[client]
    shares = q.client_shares(round_, client)
    out = np.zeros((len(holders), _CIPHER_BYTES), np.uint8)
    for row, h in enumerate(holders):
        plain = shares[row].astype("<u4").tobytes()
        sealed = AESGCM(q.edge_key(round_, client, h)).encrypt(
            _nonce(client, h), plain, _aad(round_)
        )
        out[row] = np.frombuffer(sealed, np.uint8)
    return ArrayRecord({"holders": Array(np.asarray(holders, np.int64)), "shares": Array(out)})


# -- step 3: the server asks, the holders answer ----------------------------------------
def read_shares(reply: Message) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]] | None:
    """Server: the ``(holders, ciphertexts)`` of a reply's ``secagg`` record, or None when it
    has none readable (the sender's seed then cannot be reconstructed: its round stays
    masked, never an exception)."""
    try:
        rec = reply.content.array_records[SHARES]
        holders, cts = rec["holders"].numpy(), rec["shares"].numpy()
    except (KeyError, ValueError, TypeError):
        return None
    if (
        holders.dtype != np.int64
        or holders.ndim != 1
        or cts.dtype != np.uint8
        or cts.shape != (holders.size, _CIPHER_BYTES)
    ):
        return None
    return holders, cts


def unmask_requests(
    share_requests: Sequence[tuple[int, int]],
    key_requests: Sequence[tuple[int, int]],
    *,
    round_: int,
    ciphertexts: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]],
    node_of: Callable[[int], int | None],
) -> list[Message]:
    """Server: one ``query.unmask`` message per node: the shares its clients hold (with the
    ciphertexts addressed to them) and the edge keys its clients reveal."""
    shares: dict[int, list[tuple[int, int, npt.NDArray[np.uint8]]]] = {}
    for owner, holder in share_requests:
        sent = ciphertexts.get(int(owner))
        node = node_of(holder)
        if sent is None or node is None:
            continue
        rows = np.flatnonzero(sent[0] == holder)
        if rows.size:
            shares.setdefault(node, []).append((int(owner), int(holder), sent[1][rows[0]]))
    keys: dict[int, list[tuple[int, int]]] = {}
    for k, j in key_requests:
        node = node_of(k)
        if node is not None:
            keys.setdefault(node, []).append((int(k), int(j)))
    out = []
    for node in sorted(set(shares) | set(keys)):
        own = shares.get(node, [])
        arrays = {
            "share_pairs": np.array([(o, h) for o, h, _ in own], np.int64).reshape(-1, 2),
            "ciphertexts": np.stack([c for *_, c in own]).astype(np.uint8)
            if own
            else np.zeros((0, _CIPHER_BYTES), np.uint8),
            "key_pairs": np.array(keys.get(node, []), np.int64).reshape(-1, 2),
        }
        content = RecordDict(
            {
                "unmask": ArrayRecord({a: Array(np.asarray(v)) for a, v in arrays.items()}),
                "qtfl": ConfigRecord({"round": round_}),
            }
        )
        out.append(Message(content, dst_node_id=node, message_type=UNMASK))
    return out


def unmask_reply(
    sim: Any, msg: Message, state: RecordDict, *, served: Callable[[int], bool]
) -> Message:
    """Client node: decrypt the shares its clients hold and reveal the edge keys asked,
    except what would unmask a peer twice (see the module docstring)."""
    q = quantum(sim)
    if q is None:
        raise InputError("unmask request: this scenario has no quantum secure aggregation")
    round_ = int(str(msg.content.config_records["qtfl"]["round"]))
    rec = msg.content.array_records["unmask"]
    share_pairs, cts = rec["share_pairs"].numpy(), rec["ciphertexts"].numpy()
    key_pairs = rec["key_pairs"].numpy()
    for pairs in (share_pairs, key_pairs):
        if pairs.dtype != np.int64 or pairs.ndim != 2 or pairs.shape[1] != 2:
            raise InputError("unmask request: pairs must be (P, 2) int64")
    if cts.dtype != np.uint8 or cts.shape != (share_pairs.shape[0], _CIPHER_BYTES):
        raise InputError("unmask request: one ciphertext per share pair")
    shared, keyed = _revealed(state, round_)
    # a (holder, peer) asked both kinds in this message: reveal neither
    both = {(h, o) for o, h in share_pairs.tolist()} & {(k, j) for k, j in key_pairs.tolist()}
    out_shares, out_pairs = [], []
    for (owner, holder), sealed in zip(share_pairs.tolist(), cts, strict=True):
        if not served(holder) or owner == holder or (holder, owner) in keyed | both:
            continue
        try:
            plain = AESGCM(q.edge_key(round_, owner, holder)).decrypt(
                _nonce(owner, holder), sealed.tobytes(), _aad(round_)
            )
        except InvalidTag:
            continue
        limbs = np.frombuffer(plain, "<u4").astype(np.int64)
        if np.any(limbs >= PRIME):
            continue
        out_pairs.append((owner, holder))
        out_shares.append(limbs)
        shared.add((holder, owner))
    key_out, key_rows = [], []
    for k, j in key_pairs.tolist():
        if not served(k) or k == j or (k, j) in shared | both:
            continue
        key_rows.append((k, j))
        key_out.append(np.frombuffer(q.edge_key(round_, k, j), np.uint8))
        keyed.add((k, j))
    _remember(state, round_, shared, keyed)
    arrays = {
        "share_pairs": np.array(out_pairs, np.int64).reshape(-1, 2),
        "shares": np.array(out_shares, np.int64).reshape(-1, LIMBS),
        "key_pairs": np.array(key_rows, np.int64).reshape(-1, 2),
        "keys": np.array(key_out, np.uint8).reshape(-1, 16),
    }
    record = ArrayRecord({a: Array(np.asarray(v)) for a, v in arrays.items()})
    return Message(RecordDict({"unmasked": record}), reply_to=msg)


def _revealed(state: RecordDict, round_: int) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """What this node revealed in ``round_``: (holder, owner) shares and (client, peer) keys."""
    rec = state.array_records.get(_REVEALED) if hasattr(state, "array_records") else None
    if rec is None or int(rec["round"].numpy()[0]) != round_:
        return set(), set()
    shares = {(int(a), int(b)) for a, b in rec["shares"].numpy().tolist()}
    keys = {(int(a), int(b)) for a, b in rec["keys"].numpy().tolist()}
    return shares, keys


def _remember(
    state: RecordDict, round_: int, shares: set[tuple[int, int]], keys: set[tuple[int, int]]
) -> None:
    state[_REVEALED] = ArrayRecord(
        {
            "round": Array(np.array([round_], np.int64)),
            "shares": Array(np.array(sorted(shares), np.int64).reshape(-1, 2)),
            "keys": Array(np.array(sorted(keys), np.int64).reshape(-1, 2)),
        }
    )


def read_unmasked(
    replies: Iterable[Message],
) -> tuple[dict[tuple[int, int], npt.NDArray[np.int64]], dict[tuple[int, int], bytes]]:
    """Server: the shares and edge keys in the nodes' unmask replies; unreadable replies
    reveal nothing."""
    shares: dict[tuple[int, int], npt.NDArray[np.int64]] = {}
    keys: dict[tuple[int, int], bytes] = {}
    for reply in replies:
        arrays = reply_arrays(reply, "unmasked", ("share_pairs", "shares", "key_pairs", "keys"))
        if arrays is None:
            continue
        sp, sv, kp, kv = arrays
        if (
            not is_pair_table(sp, sv, dtype=np.int64, width=LIMBS)
            or not is_pair_table(kp, kv, dtype=np.uint8, width=16)
            or np.any(sv < 0)
            or np.any(sv >= PRIME)
        ):
            continue
        for (o, h), v in zip(sp.tolist(), sv, strict=True):
            shares.setdefault((int(o), int(h)), v.copy())
        for (k, j), v in zip(kp.tolist(), kv, strict=True):
            keys.setdefault((int(k), int(j)), bytes(v))
    return shares, keys


def reply_arrays(
    reply: Message, record: str, names: Sequence[str]
) -> list[npt.NDArray[Any]] | None:
    """Server: the arrays ``names`` of a node's reply's ``record``, or None when the reply is
    an error or they are not all there and readable (a hostile reply reveals nothing)."""
    try:
        if reply.has_error():
            return None
        rec = reply.content.array_records[record]
        return [rec[name].numpy() for name in names]
    except (KeyError, ValueError, TypeError):
        return None


def is_pair_table(
    pairs: npt.NDArray[Any], rows: npt.NDArray[Any], *, dtype: type[np.generic], width: int
) -> bool:
    """True when ``pairs`` is a ``(P, 2)`` int64 table of node pairs and ``rows`` holds one
    ``width``-long ``dtype`` row per pair (``(P, width)``): what a node reveals per pair."""
    return (
        pairs.dtype == np.int64
        and rows.dtype == dtype
        and pairs.ndim == 2
        and pairs.shape[1:] == (2,)
        and rows.shape == (pairs.shape[0], width)
    )
