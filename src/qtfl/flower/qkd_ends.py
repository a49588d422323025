"""QKD-OTP's two ends on Flower: the server is Bob, the client node Alice.

The message exchange of :mod:`qtfl.channel.split_qkd`, in Flower messages: the train message
carries Bob's announcements of key block 1 (his bases and sample values); the client's reply
Alice's announcements and syndromes; the server's further requests (``train.uplink``, see
:mod:`qtfl.flower.exchange`) the kept-block flags, then — if the key is still short — the
next block's announcements; Alice's last answer carries the verification hash, the
one-time-padded update and its header. The client node replays its half of every block from
the link secret, the public ``LinkKey`` and the public history the request names (block
sizes, sample error counts, kept flags); it never receives Bob's outcomes, and the server
never receives Alice's key or update. With reconciliation ``cascade`` the syndromes and
flags give way to parity queries and answers (:mod:`qtfl.flower.cascade_ends`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from qtfl.channel import Delivery, Ledger, Tap, Verdict
from qtfl.channel.fec import LdpcCode
from qtfl.channel.qkd import KeyBlock, QkdOtpChannel, _p_value_of
from qtfl.channel.split import LinkKey
from qtfl.channel.split_qkd import (
    BobDecoded,
    BobHalf,
    Estimate,
    alice_half,
    alice_syndromes,
    amplify,
    amplify_many,
    bob_decode,
    bob_half,
    check_sift,
    draw_block,
    estimate,
    kept_mask,
    key_string,
    verification_hash,
)
from qtfl.errors import InputError
from qtfl.flower.ends import (
    MAX_REPLY_BYTES,
    Arrays,
    FollowUp,
    UplinkEnds,
    _malformed,
    _pack_list,
    _unpack_list,
)
from qtfl.quantum.encoding import BasisPayload
from qtfl.security.cascade import CascadeBob
from qtfl.security.leakage import measure_leakage
from qtfl.security.qkd import verification_hash_bits

Bits = npt.NDArray[np.uint8]
ANNOUNCE, KEPT = 0, 1


@dataclass
class BobState:
    """The server's records across the messages of one transfer."""

    n_bits: int
    n_values: int
    rng: np.random.Generator
    ledger: Ledger = field(default_factory=Ledger)
    figures: list[tuple[float, int, int, float]] = field(default_factory=list)  # qber, k, m, Q_tol
    block_pairs: list[int] = field(default_factory=list)
    block_errors: list[int] = field(default_factory=list)
    kept_flags: list[Bits] = field(default_factory=list)
    keys: list[Bits] = field(default_factory=list)
    half: BobHalf | None = None
    phase: int = ANNOUNCE
    est: Estimate | None = None
    code: LdpcCode | None = None
    decoded: BobDecoded | None = None
    cost: Ledger = field(default_factory=Ledger)
    done: Delivery | None = None
    cascade: CascadeBob | None = None  # Cascade's open reconciliation
    block_passes: list[int] = field(default_factory=list)  # Cascade: per finished block
    block_leaks: list[int] = field(default_factory=list)


class QkdOtpEnds(UplinkEnds):
    """BBM92 + one-time pad split into Alice (client) and Bob (server)."""

    multi_step = True
    #: The reconciliation these ends run (``cascade``: :mod:`qtfl.flower.cascade_ends`).
    reconciliation = "ldpc"

    def __init__(self, channel: QkdOtpChannel) -> None:
        if channel.settings.reconciliation != self.reconciliation:
            raise InputError(
                f"{type(self).__name__} runs reconciliation {self.reconciliation!r}, the "
                f"channel uses {channel.settings.reconciliation!r}"
            )
        self.channel = channel
        self.encoding = channel.encoding
        self.hash_bits = verification_hash_bits(channel.settings.eps_cor)

    # ---- server (Bob) --------------------------------------------------------------------

    def prepare(self, key: LinkKey, n_values: int) -> tuple[object, Arrays]:
        n = int(self.encoding.payload_qubits(n_values))
        bob = BobState(n, n_values, self.channel.secret.for_transfer(key.rng()))
        request = self._next_block(bob)
        return bob, request if request is not None else {"phase": np.array([-1], np.int64)}

    def _fail(self, bob: BobState, reason: str) -> None:
        last = bob.figures[-1] if bob.figures else None
        verdict = Verdict.abort(
            reason,
            detected=reason == "qber-above-tolerance",
            qber=None if last is None else last[0],
            qber_bound=None if last is None else last[3],
            p_value=None if last is None else self._p_value(last),
            attempts=max(1, len(bob.figures)),
        )
        ledger = Ledger(payload_bits=bob.n_bits) + bob.ledger
        bob.done = Delivery(None, ledger, verdict, Tap(kind="qkd-public-discussion"))

    def _p_value(self, figures: tuple[float, int, int, float]) -> float:
        qber, k, m, _ = figures
        block = KeyBlock(n_pairs=0, n_sifted=m, n_sample=k, n_key=m - k, qber=qber,
                         leak_ec=0, key_bits=0)  # fmt: skip
        return _p_value_of(block, self.channel.link.pair.qber)

    def _next_block(self, bob: BobState) -> Arrays | None:
        """Bob's announcements of the next block, or None (``bob.done`` set) if none can be."""
        s = self.channel.settings
        have = sum(int(k.size) for k in bob.keys)
        if len(bob.block_pairs) >= s.max_blocks:
            self._fail(bob, "key-too-short")
            return None
        qber = bob.figures[-1][0] if bob.figures else None
        n_pairs = self.channel.pairs_for_key(bob.n_bits - have, qber=qber)
        if n_pairs is None:
            self._fail(bob, "no-key-at-this-qber")
            return None
        if n_pairs > s.max_pairs:
            self._fail(bob, "key-needs-too-many-pairs")
            return None
        half = bob_half(draw_block(self.channel, n_pairs, bob.rng))
        bob.half, bob.phase, bob.cost = half, ANNOUNCE, half.cost
        bob.block_pairs.append(n_pairs)
        out = self._history(bob)
        out["b_bases"] = np.packbits(half.bases)
        out["b_sample"] = np.packbits(half.outcomes[half.sample])
        return out

    def _history(self, bob: BobState) -> Arrays:
        out = _pack_list("kept", tuple(bob.kept_flags))
        out["phase"] = np.array([bob.phase], np.int64)
        out["block_pairs"] = np.array(bob.block_pairs, np.int64)
        out["block_errors"] = np.array(bob.block_errors, np.int64)
        return out

    def send(self, update: npt.NDArray[np.float32], key: LinkKey, announced: Arrays) -> Arrays:
        return self.answer(update, key, announced)

    def receive(self, wire: Arrays, state: object) -> Delivery:
        raise InputError("use step(): a QKD-OTP transfer takes several messages")

    def abandon(self, state: object) -> Delivery:
        assert isinstance(state, BobState)
        ledger = Ledger(payload_bits=state.n_bits) + state.ledger
        if state.half is not None and state.done is None:  # the open block's pairs are spent
            ledger += state.cost
        return Delivery(None, ledger, Verdict.abort("no-answer-to-request"), Tap(kind="none"))

    def step(self, wire: Arrays, state: object, *, n_values: int) -> Delivery | FollowUp:
        assert isinstance(state, BobState)
        if state.done is not None:  # failed before any block: the reply changes nothing
            return state.done
        try:
            if any(not isinstance(v, np.ndarray) for v in wire.values()):
                raise InputError("not arrays")
            if sum(int(v.nbytes) for v in wire.values()) > MAX_REPLY_BYTES:
                raise InputError("reply too large")
            request = self._take(state, wire)
        except (InputError, ValueError, KeyError, IndexError, TypeError, OverflowError):
            return _malformed()
        if request is not None:
            return FollowUp(request)
        assert state.done is not None
        received = state.done.received
        if received is not None and (
            received.shape != (n_values,) or not np.isfinite(received).all()
        ):
            return _malformed()
        return state.done

    def _estimate(self, bob: BobState, wire: Arrays) -> str:
        """Bob checks Alice's announced bases against the sift the link measured, estimates
        the block's QBER from her sample values, records it, and returns the block's outcome."""
        half = bob.half
        assert half is not None
        k, n_pairs = int(half.sample.size), int(half.bases.size)
        check_sift(half.bases, half.sift, _bits(wire["a_bases"], n_pairs))
        est = estimate(half.outcomes, half.sample, _bits(wire["a_sample"], k))
        bob.est = est
        bob.figures.append((est.qber, est.sample_size, est.sifted, half.qber_tolerance))
        bob.block_errors.append(est.errors)
        return est.outcome(half.qber_tolerance)

    def _take(self, bob: BobState, wire: Arrays) -> Arrays | None:
        half = bob.half
        assert half is not None
        lat = float(self.channel.link.latency_s)
        if bob.phase == ANNOUNCE:
            outcome = self._estimate(bob, wire)
            est = bob.est
            assert est is not None
            if outcome == "key-too-short":
                bob.ledger += bob.cost
                bob.kept_flags.append(np.zeros(0, np.uint8))
                return self._next_block(bob)
            if outcome != "ok":
                bob.ledger += bob.cost
                self._fail(bob, outcome)
                return None
            code = est.code()
            if code is None:
                bob.ledger += bob.cost + Ledger(classical_bits=0, link_seconds=2 * lat * 0)
                self._fail(bob, "error-correction-failed")
                return None
            raw = key_string(half.outcomes, half.sample)
            blocks = -(-raw.size // code.n)
            syn = _bits(wire["syndromes"], blocks * (code.n - code.k))
            crcs = _bits(wire["crcs"], blocks * 32)
            decoded = bob_decode(
                raw, syn.reshape(blocks, -1), crcs.reshape(blocks, 32), code,
                qber=est.design_qber(), eps_cor=self.channel.settings.eps_cor,
            )  # fmt: skip
            bob.cost = bob.cost + Ledger(classical_bits=decoded.sent_bits, link_seconds=2 * lat * 1)
            bob.code, bob.decoded, bob.phase = code, decoded, KEPT
            bob.kept_flags.append(decoded.block_flags.astype(np.uint8))
            return self._history(bob)
        # KEPT: Alice's verification hash (and, when the key suffices, the ciphertext)
        assert bob.decoded is not None and bob.est is not None
        dec, est = bob.decoded, bob.est
        alice_hash = _bits(wire["hash"], self.hash_bits)
        kept = dec.corrected[dec.kept]
        if not dec.kept.any() or not np.array_equal(
            verification_hash(kept, self.hash_bits), alice_hash
        ):
            bob.ledger += bob.cost
            self._fail(bob, "error-correction-failed")
            return None
        key, seed_bits = amplify(
            self.channel, kept, leaked_bits=dec.leaked_bits, sample_size=est.sample_size,
            qber_tolerance=half.qber_tolerance, ends_rng=half.ends_rng,
        )  # fmt: skip
        if seed_bits:
            bob.cost = bob.cost + Ledger(classical_bits=seed_bits, link_seconds=lat)
        bob.ledger += bob.cost
        if key.size == 0:
            return self._next_block(bob)
        bob.keys.append(key)
        if sum(int(x.size) for x in bob.keys) < bob.n_bits:
            return self._next_block(bob)
        self._decrypt(bob, wire)
        return None

    def _decrypt(self, bob: BobState, wire: Arrays) -> None:
        n = bob.n_bits
        header, count = wire["header"], wire["n_values"]
        if header.shape != (1,) or count.shape != (1,) or int(count[0]) != bob.n_values:
            raise InputError("header and n_values must be single values of this update")
        max_abs = float(header[0])
        if not (np.isfinite(max_abs) and max_abs >= 0.0):
            raise InputError(f"header max_abs must be finite and >= 0, got {max_abs}")
        cipher = _bits(wire["ciphertext"], n)
        plain = cipher ^ np.concatenate(bob.keys)[:n]
        payload = BasisPayload(
            packed=np.zeros((n + 7) // 8, np.uint8), n_values=bob.n_values,
            bits_per_value=self.encoding.bits, max_abs=max_abs,
        )  # fmt: skip
        ledger = Ledger(payload_bits=n) + bob.ledger
        ledger += Ledger(
            classical_bits=n + payload.header_bits, link_seconds=float(self.channel.link.latency_s)
        )
        worst = max(bob.figures, key=lambda f: f[0])
        verdict = Verdict.ok(
            qber=worst[0], qber_bound=worst[3],
            p_value=self._p_value(worst), attempts=len(bob.figures),
        )  # fmt: skip
        tap = Tap(kind="one-time-pad-ciphertext", observed=np.packbits(cipher))
        received = self.encoding.decode(payload.with_bits(plain))
        bob.done = Delivery(received, ledger, verdict, tap)

    # ---- client (Alice) ------------------------------------------------------------------

    def answer(self, update: npt.NDArray[np.float32], key: LinkKey, request: Arrays) -> Arrays:
        return self.answer_with_record(update, key, request)[0]

    def answer_with_record(
        self, update: npt.NDArray[np.float32], key: LinkKey, request: Arrays
    ) -> tuple[Arrays, Arrays]:
        """:meth:`answer`, and the simulated eavesdropper's tap record when the answer closes
        the transfer with the ciphertext and she taps the classical channel
        (:func:`eve_information`; empty otherwise)."""
        s = self.channel.settings
        phase = int(request["phase"][0])
        if phase not in (ANNOUNCE, KEPT):
            return {}, {}  # the server could size no block: nothing to say
        pairs, errors = request["block_pairs"], request["block_errors"]
        kept = _unpack_list("kept", request)
        if pairs.dtype != np.int64 or pairs.ndim != 1 or not 1 <= pairs.size <= s.max_blocks:
            raise InputError(f"block_pairs must be 1 to {s.max_blocks} int64 sizes")
        if np.any(pairs < 1) or np.any(pairs > s.max_pairs):
            raise InputError(f"block sizes must be 1 to {s.max_pairs} pairs")
        done = pairs.size - 1 + phase  # blocks whose estimate (and flags) are public
        if errors.size != done or len(kept) != done:
            raise InputError("the request's history does not match its blocks")
        header = self.encoding.encode(update)
        bits = header.bit_array()
        rng = self.channel.secret.for_transfer(key.rng())
        taps = self.channel.eavesdropper.taps_classical
        keys: list[Bits] = []
        eve_keys: list[Bits] = []
        for i, n_pairs in enumerate(pairs.tolist()):
            half = alice_half(draw_block(self.channel, n_pairs, rng))
            if i == pairs.size - 1 and phase == ANNOUNCE:
                return self._announce(half, request), {}
            est = Estimate(int(errors[i]), int(half.sample.size), int(half.outcomes.size))
            if est.outcome(half.qber_tolerance) != "ok" or kept[i].size == 0:
                continue  # a block with no key string (the server moved on)
            code = est.code()
            if code is None:
                raise InputError("no reconciliation code for this block")
            raw = key_string(half.outcomes, half.sample)
            mask = kept_mask(kept[i].astype(bool), code, raw.size)
            string = raw[mask]
            leaked = -(-raw.size // code.n) * (code.n - code.k + 32) + self.hash_bits
            strings = [string, key_string(half.eve, half.sample)[mask]] if taps else [string]
            hashed, _ = amplify_many(
                self.channel, strings, leaked_bits=leaked, sample_size=est.sample_size,
                qber_tolerance=half.qber_tolerance, ends_rng=half.ends_rng,
            )  # fmt: skip
            block_key = hashed[0]
            keys.append(block_key)
            eve_keys.extend(hashed[1:])
            if i == pairs.size - 1:  # the block whose flags just came: close it
                out = {"hash": np.packbits(verification_hash(string, self.hash_bits))}
                have = sum(int(x.size) for x in keys)
                record: Arrays = {}
                if block_key.size and have >= bits.size:
                    cipher = bits ^ np.concatenate(keys)[: bits.size]
                    out["ciphertext"] = np.packbits(cipher)
                    out["header"] = np.array([header.max_abs], np.float32)
                    out["n_values"] = np.array([header.n_values], np.int64)
                    record = eve_information(bits, cipher, eve_keys) if taps else {}
                return out, record
        raise InputError("the request names no open block")

    def _announce(self, half: object, request: Arrays) -> Arrays:
        from qtfl.channel.split_qkd import AliceHalf

        assert isinstance(half, AliceHalf)
        n_pairs, k = int(half.bases.size), int(half.sample.size)
        check_sift(half.bases, half.sift, _bits(request["b_bases"], n_pairs))
        est = estimate(half.outcomes, half.sample, _bits(request["b_sample"], k))
        out = {
            "a_bases": np.packbits(half.bases),
            "a_sample": np.packbits(half.outcomes[half.sample]),
        }
        code = est.code()
        if est.outcome(half.qber_tolerance) == "ok" and code is not None:
            syn, crcs = alice_syndromes(key_string(half.outcomes, half.sample), code)
            out["syndromes"] = np.packbits(syn.reshape(-1))
            out["crcs"] = np.packbits(crcs.reshape(-1))
        return out


def eve_information(bits: Bits, cipher: Bits, eve_keys: list[Bits]) -> Arrays:
    """The client node's tap record of a QKD-OTP transfer (:mod:`qtfl.flower.taps`): the
    simulated eavesdropper guesses the padded bits as the ciphertext XOR her key guess (her
    raw-key guess of each block hashed under the block's public seed), and the record holds
    what that guess is worth against the true bits, as :meth:`QkdOtpChannel._send` measures
    it in process."""
    guess = cipher ^ np.concatenate(eve_keys)[: bits.size]
    info = measure_leakage(guess, bits).information_bits
    return {"information_bits": np.array([info], np.float64)}


def _bits(packed: npt.NDArray[np.uint8], n: int) -> Bits:
    """``n`` bits from a packed uint8 array of exactly ``⌈n/8⌉`` bytes."""
    arr = np.asarray(packed)
    if arr.dtype != np.uint8 or arr.ndim != 1 or arr.size != -(-n // 8):
        raise InputError(f"expected {n} packed bits")
    return np.unpackbits(arr, count=n)
