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
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from scipy.stats import binom

from qtfl.channel.base import Ledger
from qtfl.errors import InputError, require_range
from qtfl.fl.privacy import MODULUS_BITS, Reveal, RoundContext, SecureAggregation
from qtfl.security import shamir
from qtfl.security.relay_keys import RelayKeySettings, distill_over_relay

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
            coefficients (default: a fresh one from the operating system).
    """

    def __init__(
        self,
        settings: QuantumSecAggSettings | None = None,
        *,
        rng: np.random.Generator,
        secret_rng: np.random.Generator | None = None,
    ) -> None:
        self.settings = settings or QuantumSecAggSettings()
        super().__init__(max_abs=self.settings.max_abs)
        self._rng = rng
        self._secret = secret_rng if secret_rng is not None else shamir.secret_generator()
        self._state: _RoundState | None = None
        self.rounds: list[SecAggRound] = []

    # -- setup (steps 1-3) --------------------------------------------------------------
    def setup(self, round_: int, cohort: npt.ArrayLike) -> _RoundState:
        """Graph, keys and shares of one round for ``cohort`` (client ids)."""
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
        seeds = self._secret.integers(0, 256, size=(len(senders), 16), dtype=np.uint8)
        self_seeds = {c: bytes(seeds[i]) for i, c in enumerate(senders)}
        shares: dict[int, dict[int, npt.NDArray[np.int64]]] = {}
        share_x: dict[int, dict[int, int]] = {}
        messages = pk.messages
        sent = 0
        for deg in sorted({len(neighbours[c]) for c in senders}):
            group = [c for c in senders if len(neighbours[c]) == deg]
            split = shamir.split(
                np.stack([np.frombuffer(self_seeds[c], np.uint8) for c in group]),
                threshold=min(t, deg), count=deg, rng=self._secret,
            )  # fmt: skip
            for gi, c in enumerate(group):
                shares[c] = {h: split.values[gi, x] for x, h in enumerate(neighbours[c])}
                share_x[c] = {h: x + 1 for x, h in enumerate(neighbours[c])}
            messages += len(group) * deg
            sent += len(group) * deg * _SHARE_WIRE_BYTES
        report = SecAggRound(
            round=round_, clients=n, neighbours=k, threshold=t, edges=int(local.shape[0]),
            keys_established=int(pk.established.sum()), keys_aborted=pk.detected,
            refused=len(refused), dropped=0, unmasked=False, ledger=pk.ledger,
            messages=messages, bytes_sent=sent, seconds=time.perf_counter() - t0,
        )  # fmt: skip
        self._state = _RoundState(
            round_, ids, edges, keys, neighbours, self_seeds, shares, share_x, refused, report
        )
        return self._state

    def _round(self, context: RoundContext) -> _RoundState:
        if self._state is None or self._state.round != context.round:
            self.setup(context.round, context.cohort)
        assert self._state is not None
        return self._state

    # -- step 4: the client --------------------------------------------------------------
    def mask(self, client: int, cohort: npt.ArrayLike, round_: int, size: int) -> Any:
        st = self._state
        if st is None or st.round != round_:
            st = self.setup(round_, cohort)
        total = prg(st.self_seeds[client], size, domain=1, round_=round_)
        for j in st.neighbours[client]:
            m = prg(st.keys[(min(client, j), max(client, j))], size, domain=2, round_=round_)
            total += m if j > client else -m
        return total % _MOD

    def postprocess_one_user(
        self, update: npt.NDArray[np.float32], *, client: int, weight: float, context: RoundContext
    ) -> tuple[npt.NDArray[np.float32], float]:
        st = self._round(context)
        if client in st.refused:
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
    ) -> Any:
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
        points: list[list[int]] = []
        values: list[npt.NDArray[np.int64]] = []
        for c in alive:
            holders = [h for h in st.neighbours[c] if h in alive_set]
            need = min(st.report.threshold, len(st.neighbours[c]))
            if len(holders) < need:
                self._finish(st, alive, unmasked=False, messages=messages, sent=sent)
                return None
            chosen = holders[:need]
            points.append([st.share_x[c][h] for h in chosen])
            values.append(np.stack([st.shares[c][h] for h in chosen]))
            messages += need
            sent += need * _SHARE_WIRE_BYTES
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
        for c in alive:
            for j in st.neighbours[c]:
                if j in alive_set:
                    continue
                m = prg(st.keys[(min(c, j), max(c, j))], size, domain=2, round_=round_)
                total -= m if j > c else -m
                messages += 1
                sent += 16 + 12 + 16
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
        st = self._round(context)
        total = self.unmask_sum(updates, survivors=clients, cohort=st.cohort, round_=context.round)
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

