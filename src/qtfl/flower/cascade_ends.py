"""QKD-OTP with Cascade reconciliation on Flower: Bob's parity queries as further messages.

As :mod:`qtfl.flower.qkd_ends` (the server is Bob, the client node Alice; one key block at
a time), with the reconciliation of each block run as :mod:`qtfl.security.cascade`'s
exchange:

1. train message: Bob's bases and sample values of the block (phase ``ANNOUNCE``); reply:
   Alice's bases and sample values;
2. Bob sifts, estimates the QBER and, within ``Q_tol``, starts Cascade on his key string;
   every :class:`~qtfl.security.cascade.ParityQuery` is one ``train.uplink`` request (phase
   ``PARITIES``: pass, ranges, whether the hash is wanted) and Alice's answer her parities
   (bit-packed) and, once, her verification hash. One request per pass (all block parities)
   and one per binary-search level (the left halves of every open range across all blocks);
3. when the hashes match Bob privacy-amplifies; if the key covers the payload he sends a last
   request (phase ``CLOSE``) and Alice answers with the one-time-padded update and its
   header; otherwise the next block's announcements follow.

The client node is stateless between messages: it replays its half of every block from the
link secret and the public ``LinkKey``, and the public history each request names (block
sizes, sample error counts, Cascade passes and leaked bits of finished blocks); the public
permutations come from the block's shared generator, drawn in pass order by both ends.
Ledger, verdict and decoded update equal :meth:`QkdOtpChannel.send` (``cascade``) for the
same generators: the same code runs both ends in one process
(:func:`qtfl.security.qkd.reconcile`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from qtfl.channel import Delivery, Ledger
from qtfl.channel.split import LinkKey
from qtfl.channel.split_qkd import (
    AliceHalf,
    Estimate,
    alice_half,
    amplify,
    amplify_many,
    check_sift,
    draw_block,
    estimate,
    key_string,
)
from qtfl.errors import InputError
from qtfl.flower.ends import Arrays
from qtfl.flower.qkd_ends import ANNOUNCE, BobState, QkdOtpEnds, _bits, eve_information
from qtfl.security.cascade import (
    MAX_PASSES,
    CascadeAlice,
    CascadeBob,
    ParityQuery,
    check_query,
    pass_order,
)
from qtfl.security.qkd import reconciliation_qber

Bits = npt.NDArray[np.uint8]
PARITIES, CLOSE = 2, 3
#: Blocks whose draws a node remembers between messages (least recently used dropped).
MEMO_BLOCKS = 16


@dataclass
class _AliceBlock:
    """A node's memo of one drawn block: what replaying it from the link secret would give.

    ``after_draw``: the transfer generator's state and children spawned after the draw;
    ``states[j]``: the block's shared generator after ``j`` pass permutations.
    """

    secret: object
    half: AliceHalf
    after_draw: tuple[Mapping[str, Any], int]
    states: list[Mapping[str, Any]]
    perms: list[npt.NDArray[np.int64]]


#: Per process (a client node): its own halves only, bounded; a miss replays the draw.
_MEMO: OrderedDict[tuple[Any, ...], _AliceBlock] = OrderedDict()


def _clone(like: np.random.Generator, state: Mapping[str, Any]) -> np.random.Generator:
    out = np.random.Generator(type(like.bit_generator)())
    out.bit_generator.state = state
    return out


def _children(rng: np.random.Generator) -> int:
    seq = rng.bit_generator.seed_seq
    return int(getattr(seq, "n_children_spawned", 0))


class CascadeQkdOtpEnds(QkdOtpEnds):
    """BBM92 + one-time pad with Cascade reconciliation, split into Alice and Bob."""

    reconciliation = "cascade"

    # ---- server (Bob) --------------------------------------------------------------------

    def _history(self, bob: BobState) -> Arrays:
        return {
            "phase": np.array([bob.phase], np.int64),
            "block_pairs": np.array(bob.block_pairs, np.int64),
            "block_errors": np.array(bob.block_errors, np.int64),
            "block_passes": np.array(bob.block_passes, np.int64),
            "block_leaks": np.array(bob.block_leaks, np.int64),
        }

    def _query(self, bob: BobState) -> Arrays:
        assert bob.cascade is not None and bob.cascade.query is not None
        q = bob.cascade.query
        out = self._history(bob)
        out["cascade_pass"] = np.array([q.pass_index], np.int64)
        out["lo"], out["hi"] = q.lo, q.hi
        out["want_hash"] = np.array([int(q.want_hash)], np.int64)
        return out

    def _take(self, bob: BobState, wire: Arrays) -> Arrays | None:
        half = bob.half
        assert half is not None
        lat = float(self.channel.link.latency_s)
        if bob.phase == ANNOUNCE:
            outcome = self._estimate(bob, wire)
            est = bob.est
            assert est is not None
            if outcome != "ok":
                bob.ledger += bob.cost
                if outcome == "key-too-short":  # nothing to reconcile: the next block
                    bob.block_passes.append(0)
                    bob.block_leaks.append(0)
                    return self._next_block(bob)
                self._fail(bob, outcome)
                return None
            bob.cascade = CascadeBob(
                key_string(half.outcomes, half.sample),
                qber=reconciliation_qber(est.errors, est.sample_size),
                hash_bits=self.hash_bits, rng=half.ends_rng,
            )  # fmt: skip
            bob.phase = PARITIES
            return self._query(bob)
        if bob.phase == PARITIES:
            cascade, estimated = bob.cascade, bob.est
            assert cascade is not None and cascade.query is not None and estimated is not None
            q = cascade.query
            digest = _bits(wire["hash"], self.hash_bits) if q.want_hash else None
            cascade.take(_bits(wire["parities"], int(q.lo.size)), digest)
            if not cascade.finished:
                return self._query(bob)
            bob.cost = bob.cost + Ledger(
                classical_bits=2 * cascade.leaked_bits, link_seconds=2 * lat * cascade.rounds
            )
            bob.block_passes.append(cascade.passes)
            bob.block_leaks.append(cascade.leaked_bits)
            bob.cascade = None
            if not cascade.success:
                bob.ledger += bob.cost
                self._fail(bob, "error-correction-failed")
                return None
            key, seed_bits = amplify(
                self.channel, cascade.corrected, leaked_bits=cascade.leaked_bits,
                sample_size=estimated.sample_size, qber_tolerance=half.qber_tolerance,
                ends_rng=half.ends_rng,
            )  # fmt: skip
            if seed_bits:
                bob.cost = bob.cost + Ledger(classical_bits=seed_bits, link_seconds=lat)
            bob.ledger += bob.cost
            if key.size:
                bob.keys.append(key)
            if key.size == 0 or sum(int(x.size) for x in bob.keys) < bob.n_bits:
                return self._next_block(bob)
            bob.phase = CLOSE
            return self._history(bob)
        if bob.phase == CLOSE:
            self._decrypt(bob, wire)
            return None
        raise InputError(f"no reply expected in phase {bob.phase}")  # pragma: no cover

    def abandon(self, state: object) -> Delivery:
        assert isinstance(state, BobState)
        if state.cascade is not None:  # the parities revealed so far were sent
            c = state.cascade
            lat = float(self.channel.link.latency_s)
            state.cost = state.cost + Ledger(
                classical_bits=2 * c.leaked_bits, link_seconds=2 * lat * c.rounds
            )
        if state.phase == CLOSE:  # the key is made and counted; only the ciphertext is missing
            state.half = None
        return super().abandon(state)

    # ---- client (Alice) ------------------------------------------------------------------

    def answer_with_record(
        self, update: npt.NDArray[np.float32], key: LinkKey, request: Arrays
    ) -> tuple[Arrays, Arrays]:
        s = self.channel.settings
        phase = int(request["phase"][0])
        if phase not in (ANNOUNCE, PARITIES, CLOSE):
            return {}, {}  # the server could size no block: nothing to say
        pairs, errors = request["block_pairs"], request["block_errors"]
        passes, leaks = request["block_passes"], request["block_leaks"]
        for name, arr in (("block_errors", errors), ("block_passes", passes),
                          ("block_leaks", leaks)):  # fmt: skip
            if arr.dtype != np.int64 or arr.ndim != 1 or np.any(arr < 0):
                raise InputError(f"{name} must be non-negative int64 values")
        if pairs.dtype != np.int64 or pairs.ndim != 1 or not 1 <= pairs.size <= s.max_blocks:
            raise InputError(f"block_pairs must be 1 to {s.max_blocks} int64 sizes")
        if np.any(pairs < 1) or np.any(pairs > s.max_pairs):
            raise InputError(f"block sizes must be 1 to {s.max_pairs} pairs")
        blocks = int(pairs.size)
        n_errors = blocks - (phase == ANNOUNCE)
        n_done = blocks - (phase != CLOSE)
        if errors.size != n_errors or passes.size != n_done or leaks.size != n_done:
            raise InputError("the request's history does not match its blocks")
        if np.any(passes > MAX_PASSES):
            raise InputError(f"a block cannot take more than {MAX_PASSES} Cascade passes")
        header = self.encoding.encode(update)
        bits = header.bit_array()
        rng = self.channel.secret.for_transfer(key.rng())
        taps = self.channel.eavesdropper.taps_classical
        keys: list[Bits] = []
        eve_keys: list[Bits] = []
        for i in range(blocks):
            block = self._drawn(key, tuple(pairs[: i + 1].tolist()), rng)
            half = block.half
            last = i == blocks - 1
            if last and phase == ANNOUNCE:
                return self._announce_cascade(half, request), {}
            est = Estimate(int(errors[i]), int(half.sample.size), int(half.outcomes.size))
            if est.outcome(half.qber_tolerance) != "ok":
                if last or int(passes[i]) != 0:
                    raise InputError("the request reconciles a block with no key string")
                continue  # a block with no key string (the server moved on)
            raw = key_string(half.outcomes, half.sample)
            if last and phase == PARITIES:
                return self._parities(block, raw, request), {}
            if int(passes[i]) < 1:
                raise InputError("a block with a key string must have been reconciled")
            ends_rng = _after_perms(block, int(passes[i]) - 1, raw.size)  # the passes it took
            strings = [raw, key_string(half.eve, half.sample)] if taps else [raw]
            hashed, _ = amplify_many(
                self.channel, strings, leaked_bits=int(leaks[i]), sample_size=est.sample_size,
                qber_tolerance=half.qber_tolerance, ends_rng=ends_rng,
            )  # fmt: skip
            keys.append(hashed[0])
            eve_keys.extend(hashed[1:])
        assert phase == CLOSE
        have = sum(int(x.size) for x in keys)
        if have < bits.size:
            raise InputError(f"the key has {have} bits, the update needs {bits.size}")
        cipher = bits ^ np.concatenate(keys)[: bits.size]
        wire: Arrays = {
            "ciphertext": np.packbits(cipher),
            "header": np.array([header.max_abs], np.float32),
            "n_values": np.array([header.n_values], np.int64),
        }
        return wire, eve_information(bits, cipher, eve_keys) if taps else {}

    def _announce_cascade(self, half: AliceHalf, request: Arrays) -> Arrays:
        n_pairs, k = int(half.bases.size), int(half.sample.size)
        check_sift(half.bases, half.sift, _bits(request["b_bases"], n_pairs))
        estimate(half.outcomes, half.sample, _bits(request["b_sample"], k))  # checks sizes
        return {
            "a_bases": np.packbits(half.bases),
            "a_sample": np.packbits(half.outcomes[half.sample]),
        }

    def _drawn(self, key: LinkKey, pairs: tuple[int, ...], rng: np.random.Generator) -> _AliceBlock:
        """The block ``pairs[-1]`` after ``pairs[:-1]``, drawn from ``rng`` or remembered;
        ``rng`` ends as the draw leaves it either way."""
        memo_key = (id(self.channel), key, pairs)
        block = _MEMO.get(memo_key)
        if block is not None and block.secret is self.channel.secret:
            _MEMO.move_to_end(memo_key)
            state, spawned = block.after_draw
            if spawned - _children(rng) > 0:
                rng.spawn(spawned - _children(rng))
            rng.bit_generator.state = state
            return block
        half = alice_half(draw_block(self.channel, pairs[-1], rng))
        block = _AliceBlock(
            self.channel.secret, half, (rng.bit_generator.state, _children(rng)),
            [half.ends_rng.bit_generator.state], [],
        )  # fmt: skip
        _MEMO[memo_key] = block
        while len(_MEMO) > MEMO_BLOCKS:
            _MEMO.popitem(last=False)
        return block

    def _parities(self, block: _AliceBlock, raw: Bits, request: Arrays) -> Arrays:
        p = int(request["cascade_pass"][0])
        want = int(request["want_hash"][0])
        if not 0 <= p < MAX_PASSES or want not in (0, 1):
            raise InputError(f"cascade_pass must be 0 to {MAX_PASSES - 1}, want_hash 0 or 1")
        query = ParityQuery(p, request["lo"], request["hi"], bool(want))
        check_query(query, raw.size)  # before any permutation is drawn
        _after_perms(block, p, raw.size)
        order = block.perms[p - 1] if p else None  # pass p's order: the block's p-th
        parities, digest = CascadeAlice(raw, hash_bits=self.hash_bits).answer(query, order)
        out = {"parities": np.packbits(parities)}
        if digest is not None:
            out["hash"] = np.packbits(digest)
        return out


def _after_perms(block: _AliceBlock, count: int, n: int) -> np.random.Generator:
    """The block's shared generator after ``count`` pass permutations (drawn and kept)."""
    like = block.half.ends_rng
    while len(block.perms) < count:
        rng = _clone(like, block.states[-1])
        order = pass_order(len(block.perms) + 1, n, rng)
        assert order is not None
        block.perms.append(order)
        block.states.append(rng.bit_generator.state)
    return _clone(like, block.states[count])
