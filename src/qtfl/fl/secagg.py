r"""Quantum-keyed secure aggregation with dropout tolerance (SecAgg+ over swapped pairs).

The protocol of Bell, Bonawitz, Gascón, Lepoint & Raykova, "Secure single-server aggregation
with (poly)logarithmic overhead", CCS 2020 (SecAgg+), with its pairwise Diffie-Hellman
agreements replaced by keys the clients distil from entanglement the server's node swaps
(:mod:`qtfl.security.relay_keys`): the server relays pairs but learns no key, and a relay that
measures instead of swapping is caught by the two clients' checks. One round, for the
sampled cohort of ``n`` clients:

1. **Graph.** The server draws a random ``k``-regular neighbour graph (a Harary graph on a
   random ordering of the cohort — public, from the experiment generator); ``k`` is the
   smallest even degree for which, with a fraction ``dropout_tolerance`` of clients dropping
   independently, the chance that some client keeps fewer than ``t = ⌈threshold · k⌉``
   surviving neighbours is below ``failure_probability`` (:func:`neighbours_needed`). That
   chance per client is a binomial tail that falls exponentially in ``k``, so ``k`` grows like
   ``log n`` — the paper's polylogarithmic overhead.
2. **Keys.** Every edge distils a 128-bit key over swapped pairs; an edge whose checks fail is
   dropped from the graph (the two clients simply do not mask with each other). A client left
   with no key refuses to send (it would be exposed).
3. **Shares.** Each client draws a self-mask seed ``b_i`` (CSPRNG) and Shamir-shares it among
   its neighbours with threshold ``t`` (:mod:`qtfl.security.shamir`), each share sent
   encrypted under the key of that edge (12-byte nonce + 16-byte tag, as AES-GCM).
4. **Masked input.** Client ``i`` sends
   :math:`y_i = x_i + \mathrm{PRG}(b_i) + \sum_{j \in N(i), j > i} \mathrm{PRG}(k_{ij})
   - \sum_{j \in N(i), j < i} \mathrm{PRG}(k_{ij}) \bmod 2^{24}`, where ``x_i`` is the
   fixed-point code of its weighted update (:class:`qtfl.fl.privacy.SecureAggregation`'s
   encoding) and PRG is AES-128-CTR keyed by the seed.
5. **Unmasking.** For every survivor the server collects ``t`` shares of ``b_i`` from its
   surviving neighbours and removes ``PRG(b_i)``; for every dropped client each surviving
   neighbour reveals their edge key and the server removes that mask. A client declared
   dropped never has its ``b_i`` reconstructed, so its late input stays masked (double
   masking). If some survivor has fewer than ``t`` surviving neighbours the round cannot be
   unmasked and the model is left unchanged (probability below ``failure_probability`` by
   the choice of ``k``).

Everything is counted: pairs and key bits (in :attr:`SecAggRound.ledger`), and messages
and bytes of the shares, masked inputs and reveals (:class:`SecAggRound`).

Who holds what. In runs every secret comes from a key of its holder
(:mod:`qtfl.fl.privacy_keys`): an edge key from the pair key of its two clients (standing
in for the key they distil: uniform, held by them only — whether it was established and
what it cost are the simulated statistics above), a self-mask seed and the coefficients of
its shares from the client's own key. The graph and the key statistics are public (the
experiment generator). So the protocol splits between parties: on Flower the server's
object draws the public round (:meth:`QuantumSecAgg.setup`) and holds no secret, a client
node's adopts its clients' part of it (:meth:`QuantumSecAgg.adopt`) and derives their
secrets, and unmasking asks the holders (:data:`qtfl.fl.privacy.Unmask`;
:mod:`qtfl.flower.secagg_ends`). Without keys (analysis and benchmarks) one object draws
every secret from its secret generator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from scipy.stats import binom

from qtfl.channel.base import Ledger
from qtfl.errors import InputError, require_range
from qtfl.fl.privacy import (
    MODULUS_BITS,
    Reveal,
    RoundContext,
    SecureAggregation,
    Unmask,
    on_ring,
)
from qtfl.security import shamir
from qtfl.security.relay_keys import RelayKeySettings, distill_over_relay

if TYPE_CHECKING:
    from qtfl.fl.privacy_keys import PrivacyKeys

_MOD = 1 << MODULUS_BITS
_SHARE_WIRE_BYTES = shamir.LIMBS * 4 + 12 + 16  # limbs as uint32, nonce, tag


def prg(seed: bytes, size: int, *, domain: int, round_: int) -> npt.NDArray[np.int64]:
    """``size`` values in :math:`[0, 2^{24})` from AES-128-CTR keyed by the 16-byte ``seed``;
    the counter block starts at ``(domain, round)`` so one seed never repeats a stream."""
    nonce = domain.to_bytes(8, "little") + round_.to_bytes(8, "little")
    enc = Cipher(algorithms.AES(seed), modes.CTR(nonce)).encryptor()
    stream = enc.update(bytes(4 * size)) + enc.finalize()
    return (np.frombuffer(stream, dtype="<u4") & (_MOD - 1)).astype(np.int64)


def neighbours_needed(
    n: int, *, dropout: float, threshold: float, failure_probability: float
) -> tuple[int, int]:
    """The smallest even ``k`` (or ``n - 1``) and its ``t = ⌈threshold k⌉`` such that
    ``n · P[Bin(k, 1 - dropout) < t] <= failure_probability``."""
    if n <= 2:
        return max(1, n - 1), 1
    for k in range(2, n, 2):
        t = max(1, math.ceil(threshold * k))
        if n * float(binom.cdf(t - 1, k, 1.0 - dropout)) <= failure_probability:
            return k, t
    return n - 1, max(1, math.ceil(threshold * (n - 1)))


def harary_edges(n: int, k: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Edges ``(a, b)``, ``a < b``, of a Harary graph of even degree ``k`` on a random order of
    ``0..n-1`` (each node joined to the ``k/2`` next ones around the ring)."""
    if k >= n - 1:
        a, b = np.triu_indices(n, 1)
        return np.stack([a, b], axis=1).astype(np.int64)
    order = rng.permutation(n)
    pos = np.arange(n)
    pairs = [
        np.stack([order[pos], order[(pos + d) % n]], axis=1) for d in range(1, k // 2 + 1)
    ]
    e = np.concatenate(pairs)
    return np.sort(e, axis=1).astype(np.int64)


@dataclass(frozen=True)
class QuantumSecAggSettings:
    """Settings of :class:`QuantumSecAgg` (see the module docstring)."""

    link_fidelity: float = 0.98
    dropout_tolerance: float = 0.3
    threshold: float = 0.5
    failure_probability: float = 1e-6
    max_abs: float = 4.0
    relay: Literal["honest", "measure"] = "honest"
    keys: RelayKeySettings = field(default_factory=RelayKeySettings)

    def __post_init__(self) -> None:
        require_range("quantum_keys.link_fidelity", self.link_fidelity, low=0.25, high=1.0)
        require_range("quantum_keys.dropout_tolerance", self.dropout_tolerance, low=0.0,
                      high=1.0, high_open=True)  # fmt: skip
        require_range("quantum_keys.threshold", self.threshold, low=0.0, high=1.0,
                      low_open=True)  # fmt: skip
        require_range("quantum_keys.failure_probability", self.failure_probability, low=0.0,
                      high=1.0, low_open=True)  # fmt: skip


@dataclass(frozen=True)
class SecAggRound:
    """What one round of the protocol cost and how it ended."""

    round: int
    clients: int
    neighbours: int
    threshold: int
    edges: int
    keys_established: int
    keys_aborted: int
    refused: int
    dropped: int
    unmasked: bool
    ledger: Ledger
    messages: int
    bytes_sent: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "ledger"}
        out["ledger"] = self.ledger.as_dict()
        return out


@dataclass
class _RoundState:
    round: int
    cohort: npt.NDArray[np.int64]
    edges: npt.NDArray[np.int64]  # established edges, cohort client ids
    keys: dict[tuple[int, int], bytes]
    neighbours: dict[int, list[int]]
    self_seeds: dict[int, bytes]
    shares: dict[int, dict[int, npt.NDArray[np.int64]]]  # owner -> holder -> limbs
    share_x: dict[int, dict[int, int]]  # owner -> holder -> x
    refused: set[int]
    report: SecAggRound


class QuantumSecAgg(SecureAggregation):
    """SecAgg+ with quantum pairwise keys, as an engine post-processor.

    Args:
        settings: links, dropout tolerance, threshold, key security.
        rng: the experiment generator (graph, channel noise statistics).
        secret_rng: the CSPRNG-seeded generator of keys, self-mask seeds and Shamir
            coefficients when no ``keys`` are given (default: a fresh one from the OS).
        keys: the party's privacy keys (:mod:`qtfl.fl.privacy_keys`); when given, every
            secret comes from the key of its holder, per round: edge ``(i, j)``'s key from
            the pair key of ``i`` and ``j``, client ``k``'s self-mask seed and the
            coefficients of its shares from ``k``'s own key. What runs use (in process and
            on Flower, where the server's object holds none of them and a client node's
            only those of its clients, :mod:`qtfl.flower.secagg_ends`).
    """

    def __init__(
        self,
        settings: QuantumSecAggSettings | None = None,
        *,
        rng: np.random.Generator,
        secret_rng: np.random.Generator | None = None,
        keys: PrivacyKeys | None = None,
    ) -> None:
        self.settings = settings or QuantumSecAggSettings()
        super().__init__(max_abs=self.settings.max_abs)
        self._rng = rng
        self._holder_keys = keys
        self._secret: np.random.Generator | None = None
        if keys is None:
            self._secret = secret_rng if secret_rng is not None else shamir.secret_generator()
        self._state: _RoundState | None = None
        self.rounds: list[SecAggRound] = []

    def state_json(self) -> dict[str, Any]:
        """What a resumed run needs: the graph generator's state and the rounds' reports."""
        return {
            "rng": dict(self._rng.bit_generator.state),
            "rounds": [r.as_dict() for r in self.rounds],
        }

    def load_state_json(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_json` (the same settings; secrets are per round)."""
        self._rng.bit_generator.state = state["rng"]
        self.rounds = [
            SecAggRound(**{**r, "ledger": Ledger(**r["ledger"])}) for r in state["rounds"]
        ]

    # -- setup (steps 1-3) --------------------------------------------------------------
    def setup(self, round_: int, cohort: npt.ArrayLike) -> _RoundState:
        """Graph, keys and shares of one round for ``cohort`` (client ids).

        The graph and which keys were established are public (drawn from the experiment
        generator); with holder keys the secrets are not drawn here but derived by their
        holders when used (:meth:`edge_key`, :meth:`self_seed`, :meth:`client_shares`).
        """
        t0 = time.perf_counter()
        s = self.settings
        ids = np.asarray(cohort, dtype=np.int64)
        n = ids.size
        k, t = neighbours_needed(
            n, dropout=s.dropout_tolerance, threshold=s.threshold,
            failure_probability=s.failure_probability,
        )  # fmt: skip
        local = harary_edges(n, k, self._rng)
        pk = distill_over_relay(
            local, link_fidelity=s.link_fidelity, settings=s.keys, relay=s.relay,
            rng=self._rng, secret_rng=self._secret,
        )  # fmt: skip
        good = local[pk.established]
        edges = ids[good]
        keys: dict[tuple[int, int], bytes] = {}
        if self._secret is not None:
            keys = {
                (int(a), int(b)): bytes(key)
                for (a, b), key in zip(edges.tolist(), pk.keys[pk.established], strict=True)
            }
        neighbours: dict[int, list[int]] = {int(c): [] for c in ids.tolist()}
        for a, b in edges.tolist():
            neighbours[a].append(b)
            neighbours[b].append(a)
        refused = {c for c, nb in neighbours.items() if not nb}
        senders = [c for c in ids.tolist() if c not in refused]
        self_seeds: dict[int, bytes] = {}
        shares: dict[int, dict[int, npt.NDArray[np.int64]]] = {}
        share_x = {c: {h: x + 1 for x, h in enumerate(neighbours[c])} for c in senders}
        if self._secret is not None:
            seeds = self._secret.integers(0, 256, size=(len(senders), 16), dtype=np.uint8)
            self_seeds = {c: bytes(seeds[i]) for i, c in enumerate(senders)}
            for deg in sorted({len(neighbours[c]) for c in senders}):
                group = [c for c in senders if len(neighbours[c]) == deg]
                split = shamir.split(
                    np.stack([np.frombuffer(self_seeds[c], np.uint8) for c in group]),
                    threshold=min(t, deg), count=deg, rng=self._secret,
                )  # fmt: skip
                for gi, c in enumerate(group):
                    shares[c] = {h: split.values[gi, x] for x, h in enumerate(neighbours[c])}
        shared = sum(len(neighbours[c]) for c in senders)  # one encrypted share per edge end
        report = SecAggRound(
            round=round_, clients=n, neighbours=k, threshold=t, edges=int(local.shape[0]),
            keys_established=int(pk.established.sum()), keys_aborted=pk.detected,
            refused=len(refused), dropped=0, unmasked=False, ledger=pk.ledger,
            messages=pk.messages + shared, bytes_sent=shared * _SHARE_WIRE_BYTES,
            seconds=time.perf_counter() - t0,
        )  # fmt: skip
        self._state = _RoundState(
            round_, ids, edges, keys, neighbours, self_seeds, shares, share_x, refused, report
        )
        return self._state

    def adopt(
        self, round_: int, cohort: npt.ArrayLike, client: int, neighbours: list[int], threshold: int
    ) -> None:
        """Client node: take ``client``'s public part of round ``round_`` as the server
        announced it (its neighbours in the server's order, the Shamir threshold), instead
        of drawing the graph (the server's experiment generator draws it)."""
        st = self._state
        if st is None or st.round != round_:
            ids = np.asarray(cohort, dtype=np.int64)
            report = SecAggRound(
                round=round_, clients=int(ids.size), neighbours=0, threshold=int(threshold),
                edges=0, keys_established=0, keys_aborted=0, refused=0, dropped=0,
                unmasked=False, ledger=Ledger(), messages=0, bytes_sent=0, seconds=0.0,
            )  # fmt: skip
            st = _RoundState(round_, ids, np.zeros((0, 2), np.int64), {}, {}, {}, {}, {},
                             set(), report)  # fmt: skip
            self._state = st
        st.neighbours[int(client)] = [int(h) for h in neighbours]
        st.share_x[int(client)] = {int(h): x + 1 for x, h in enumerate(neighbours)}
        if not neighbours:
            st.refused.add(int(client))

    def round_state(self, round_: int) -> _RoundState | None:
        """The public state of round ``round_`` if it is the current one."""
        st = self._state
        return st if st is not None and st.round == round_ else None

    def _round(self, context: RoundContext) -> _RoundState:
        if self._state is None or self._state.round != context.round:
            self.setup(context.round, context.cohort)
        assert self._state is not None
        return self._state

    # -- the secrets, each from its holder -------------------------------------------
    def edge_key(self, round_: int, i: int, j: int) -> bytes:
        """The 16-byte key of edge ``(i, j)`` in round ``round_`` (held by ``i`` and ``j``)."""
        if self._holder_keys is not None:
            return self._holder_keys.edge_key(round_, i, j)
        st = self.round_state(round_)
        if st is None:
            raise InputError(f"no secure-aggregation setup for round {round_}")
        return st.keys[(min(i, j), max(i, j))]

    def self_seed(self, round_: int, client: int) -> bytes:
        """Client ``client``'s 16-byte self-mask seed ``b`` in round ``round_``."""
        if self._holder_keys is not None:
            return self._holder_keys.self_seed(round_, client)
        st = self.round_state(round_)
        if st is None:
            raise InputError(f"no secure-aggregation setup for round {round_}")
        return st.self_seeds[client]

    def client_shares(self, round_: int, client: int) -> npt.NDArray[np.int64]:
        """``(deg, LIMBS)``: the Shamir shares of ``client``'s self-mask seed, one per
        neighbour in its neighbour order (share ``x`` = position + 1)."""
        st = self.round_state(round_)
        if st is None:
            raise InputError(f"no secure-aggregation setup for round {round_}")
        holders = st.neighbours[client]
        if self._holder_keys is None:
            return np.stack([st.shares[client][h] for h in holders])
        seed = np.frombuffer(self.self_seed(round_, client), np.uint8)[None, :]
        split = shamir.split_each(
            seed, threshold=min(st.report.threshold, len(holders)), count=len(holders),
            rngs=[self._holder_keys.share_coefficients(round_, client)],
        )  # fmt: skip
        return split.values[0]

    # -- step 4: the client --------------------------------------------------------------
    def mask(self, client: int, cohort: npt.ArrayLike, round_: int, size: int) -> Any:
        st = self.round_state(round_)
        if st is None:
            st = self.setup(round_, cohort)
        total = prg(self.self_seed(round_, client), size, domain=1, round_=round_)
        for j in st.neighbours[client]:
            m = prg(self.edge_key(round_, client, j), size, domain=2, round_=round_)
            total += m if j > client else -m
        return total % _MOD

    def postprocess_one_user(
        self, update: npt.NDArray[np.float32], *, client: int, weight: float, context: RoundContext
    ) -> tuple[npt.NDArray[np.float32], float]:
        st = self._round(context)
        if client in st.refused or not st.neighbours.get(client):
            raise InputError(f"client {client} holds no pairwise key this round")
        return super().postprocess_one_user(update, client=client, weight=weight, context=context)

    # -- step 5: the server --------------------------------------------------------------
    def unmask_sum(
        self,
        masked: npt.ArrayLike,
        *,
        survivors: npt.ArrayLike,
        cohort: npt.ArrayLike,
        round_: int,
        reveal: Reveal | None = None,
        unmask: Unmask | None = None,
    ) -> Any:
        """Remove the survivors' self masks (from ``t`` shares each) and the masks they
        share with dropped neighbours (from the revealed edge keys).

        ``unmask(share_requests, key_requests)`` asks the holders: ``(owner, holder)`` for
        the holder's share of the owner's seed, ``(survivor, dropped)`` for their edge key
        (``None``: this object derives them, one process holding every key). A share or
        key not answered leaves the round masked: ``None`` is returned.
        """
        st = self._state
        if st is None or st.round != round_:
            raise InputError(f"no secure-aggregation setup for round {round_}")
        rows = np.rint(np.asarray(masked, np.float64)).astype(np.int64)
        total = rows.sum(axis=0) % _MOD
        size = total.size
        alive = [int(c) for c in np.asarray(survivors).tolist()]
        alive_set = set(alive)
        messages = len(alive)
        sent = len(alive) * 4 * size
        # self masks: t shares from surviving neighbours
        share_requests: list[tuple[int, int]] = []
        for c in alive:
            holders = [h for h in st.neighbours[c] if h in alive_set]
            need = min(st.report.threshold, len(st.neighbours[c]))
            if len(holders) < need:
                self._finish(st, alive, unmasked=False, messages=messages, sent=sent)
                return None
            share_requests += [(c, h) for h in holders[:need]]
            messages += need
            sent += need * _SHARE_WIRE_BYTES
        key_requests = [(c, j) for c in alive for j in st.neighbours[c] if j not in alive_set]
        messages += len(key_requests)
        sent += len(key_requests) * (16 + 12 + 16)
        shares: Mapping[tuple[int, int], npt.NDArray[np.int64]]
        keys: Mapping[tuple[int, int], bytes]
        if unmask is None:
            own_shares: dict[tuple[int, int], npt.NDArray[np.int64]] = {}
            for c in sorted({o for o, _ in share_requests}):
                own = self.client_shares(round_, c)
                for x, h in enumerate(st.neighbours[c]):
                    own_shares[(c, h)] = own[x]
            shares = own_shares
            keys = {(c, j): self.edge_key(round_, c, j) for c, j in key_requests}
        else:
            shares, keys = unmask(share_requests, key_requests)
        if any((c, h) not in shares for c, h in share_requests) or any(
            (c, j) not in keys for c, j in key_requests
        ):  # a holder withheld or lost it: this round's sum stays masked
            self._finish(st, alive, unmasked=False, messages=messages, sent=sent)
            return None
        points: list[list[int]] = []
        values: list[npt.NDArray[np.int64]] = []
        for c in alive:
            chosen = [h for o, h in share_requests if o == c]
            points.append([st.share_x[c][h] for h in chosen])
            values.append(np.stack([np.asarray(shares[(c, h)], np.int64) for h in chosen]))
        by_t: dict[int, list[int]] = {}
        for i, p in enumerate(points):
            by_t.setdefault(len(p), []).append(i)
        for idx in by_t.values():
            seeds = shamir.combine(
                np.array([points[i] for i in idx]), np.stack([values[i] for i in idx])
            )
            for row in range(len(idx)):
                total -= prg(bytes(seeds[row]), size, domain=1, round_=round_)
        # pairwise masks with dropped neighbours: the surviving side reveals the edge key
        for c, j in key_requests:
            m = prg(keys[(c, j)], size, domain=2, round_=round_)
            total -= m if j > c else -m
        self._finish(st, alive, unmasked=True, messages=messages, sent=sent)
        return total % _MOD

    def _finish(
        self, st: _RoundState, alive: list[int], *, unmasked: bool, messages: int, sent: int
    ) -> None:
        report = replace(
            st.report,
            dropped=int(st.cohort.size - len(alive)),
            unmasked=unmasked,
            messages=st.report.messages + messages,
            bytes_sent=st.report.bytes_sent + sent,
        )
        st.report = report
        self.rounds.append(report)

    def postprocess_server(
        self,
        updates: npt.NDArray[np.float32],
        weights: npt.NDArray[np.float64],
        *,
        clients: npt.NDArray[np.int64],
        context: RoundContext,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]:
        if updates.shape[0] == 0:
            return updates, weights
        valid = on_ring(updates)
        if not valid.all():  # not a masked vector (a corrupted or hostile row): a dropout
            updates, weights, clients = updates[valid], weights[valid], clients[valid]
            if updates.shape[0] == 0:
                return updates, weights
        st = self._round(context)
        total = self.unmask_sum(
            updates, survivors=clients, cohort=st.cohort, round_=context.round,
            unmask=context.unmask,
        )  # fmt: skip
        if total is None:  # too few shares: this round's sum cannot be unmasked
            return updates[:0], weights[:0]
        agg = self.decode_sum(total, cohort_size=st.cohort.size)
        agg *= float(np.sum(context.cohort_weights)) / float(np.sum(weights))
        return agg[None, :].astype(np.float32), np.ones(1)

    def summary(self) -> dict[str, Any]:
        """Per-round means of the protocol's cost and the rounds it could not unmask."""
        done = self.rounds
        if not done:
            return {"rounds": 0}

        def mean(values: list[float]) -> float:
            return float(np.mean(values))

        return {
            "keys": "quantum",
            "rounds": len(done),
            "neighbours": done[-1].neighbours,
            "threshold": done[-1].threshold,
            "rounds_not_unmasked": sum(not r.unmasked for r in done),
            "keys_aborted": sum(r.keys_aborted for r in done),
            "bell_pairs_per_round": mean([r.ledger.bell_pairs for r in done]),
            "key_bits_per_round": mean([r.ledger.payload_bits for r in done]),
            "classical_bits_per_round": mean([r.ledger.classical_bits for r in done]),
            "messages_per_round": mean([r.messages for r in done]),
            "share_and_reveal_bytes_per_round": mean([r.bytes_sent for r in done]),
        }

