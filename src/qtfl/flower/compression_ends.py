"""Compression split between the client node (compressor, error feedback) and the server.

:class:`~qtfl.fl.compressed_channel.CompressedChannel` compresses an update and sends the
result through an inner Channel. On Flower the compression step runs on the client node,
which alone holds the error-feedback residual; the inner channel's two ends
(:mod:`qtfl.flower.ends`) carry the values; the server scatters a sparse step's values back
to a dense vector. What crosses the wire: the inner channel's arrays for the ``k`` values
(top-k) or the ``n`` dense values, plus for top-k the ``indices`` — positions the in-process
channel also sends over the classical channel and counts in the Ledger
(``k · ceil(log2 n)`` bits).

The keyed generator of a transfer (:class:`~qtfl.channel.split.LinkKey`) is consumed as in
process: stochastic quantisation draws exactly ``n`` uniforms first
(:func:`qtfl.fl.compression.quantize_stochastic`), then the inner channel continues from the
same generator — the server, knowing ``n``, advances its copy by as many
(:class:`AdvancedKey`), so both ends still draw the same link sample.

Error feedback: what the residual becomes depends on whether the server accepted the
delivery (a rejected delivery leaves everything in the residual). The client cannot see the
verdict when it sends, so :meth:`CompressedEnds.send_with_state` returns both successors; the
server's next train message to that client says how its last delivery ended, and the node
keeps the matching one (:mod:`qtfl.flower.node_state`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qtfl.channel import Delivery, Ledger
from qtfl.channel.split import LinkKey
from qtfl.errors import InputError
from qtfl.fl.compressed_channel import CompressedChannel
from qtfl.fl.compression import StochasticQuantizer, TopK, index_bits
from qtfl.flower.ends import Arrays, FollowUp, UplinkEnds, _malformed

FloatVector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AdvancedKey(LinkKey):
    """A :class:`LinkKey` whose generator starts after ``skip`` uniform draws."""

    skip: int = 0

    def rng(self) -> np.random.Generator:
        gen = super().rng()
        if self.skip:
            gen.random(self.skip)
        return gen


@dataclass
class _ReceiverState:
    inner: object
    n_values: int
    indices: npt.NDArray[np.int64] | None = None  # top-k positions, from the first reply


class CompressedEnds(UplinkEnds):
    """The ends of a :class:`CompressedChannel` around the ends of its inner channel.

    A multi-step inner channel (teleportation with FEC, QKD-OTP) keeps its further requests:
    the client node keeps the compressed values it sent (not the update) and answers from
    them; the positions travel with the first reply only.
    """

    def __init__(self, channel: CompressedChannel, inner: UplinkEnds) -> None:
        self.compressor = channel.compressor
        self.inner = inner
        self.multi_step = inner.multi_step

    @property
    def sparse(self) -> bool:
        return isinstance(self.compressor, TopK)

    @property
    def stateful(self) -> bool:
        """True when the client keeps an error-feedback residual between rounds."""
        return self.compressor.init(1).size > 0

    def inner_size(self, n_values: int) -> int:
        """Values the inner channel carries for an update of ``n_values``."""
        if isinstance(self.compressor, TopK):
            return min(n_values, max(1, math.ceil(self.compressor.ratio * n_values)))
        return n_values

    def inner_key(self, key: LinkKey, n_values: int) -> LinkKey:
        """The inner channel's key of a transfer of ``n_values`` (after the quantiser's draws)."""
        skip = n_values if isinstance(self.compressor, StochasticQuantizer) else 0
        return AdvancedKey(key.seed, key.scenario, key.round, key.client, key.direction, skip)

    def prepare(self, key: LinkKey, n_values: int) -> tuple[object, Arrays]:
        state, announce = self.inner.prepare(
            self.inner_key(key, n_values), self.inner_size(n_values)
        )
        return _ReceiverState(state, n_values), announce

    def send(self, update: FloatVector, key: LinkKey, announced: Arrays) -> Arrays:
        """A send from a fresh residual (a client without state)."""
        return self.send_with_state(update, key, announced, None)[0]

    def send_with_state(
        self, update: FloatVector, key: LinkKey, announced: Arrays, state: FloatVector | None
    ) -> tuple[Arrays, FloatVector, FloatVector, FloatVector]:
        """Client: the wire arrays, the residual if the delivery is accepted / rejected, and
        the values the inner channel carried (kept for further requests)."""
        x = np.asarray(update, np.float32)
        if state is None or (state.size and state.shape != x.shape):
            state = self.compressor.init(x.size)
        compressed, accepted_state = self.compressor.compress(x, state, rng=key.rng())
        values = compressed.values
        if compressed.indices is not None:
            values = values[compressed.indices]
        wire = self.inner.send(values, self.inner_key(key, x.size), announced)
        if compressed.indices is not None:
            wire["indices"] = compressed.indices.astype(np.int64)
        rejected_state = (x + state) if state.size else state
        return wire, accepted_state, rejected_state, values

    def answer(self, update: FloatVector, key: LinkKey, request: Arrays) -> Arrays:
        """Client: answer a further request from the kept compressed values ``update``."""
        return self.inner.answer(update, self.inner_key(key, update.size), request)

    def _take_indices(self, wire: Arrays, state: _ReceiverState) -> Arrays:
        """The inner channel's arrays; the top-k positions (first reply only), checked and
        kept in ``state``."""
        rest = dict(wire)
        indices = rest.pop("indices", None)
        n_values = state.n_values
        k = self.inner_size(n_values)
        if indices is None:
            if self.sparse and (state.indices is None or not self.multi_step):
                raise InputError(f"indices: expected {k} int64 positions")
            return rest
        if not self.sparse or (self.multi_step and state.indices is not None):
            raise InputError("indices sent for a dense step or twice")
        if indices.dtype != np.int64 or indices.shape != (k,):
            raise InputError(f"indices: expected {k} int64 positions")
        if k and (indices[0] < 0 or indices[-1] >= n_values or np.any(np.diff(indices) <= 0)):
            raise InputError(f"indices: expected increasing positions in [0, {n_values})")
        state.indices = indices.copy()
        return rest

    def _dense(self, d: Delivery, state: _ReceiverState) -> Delivery:
        n_values = state.n_values
        k = self.inner_size(n_values)
        extra = Ledger(classical_bits=k * index_bits(n_values)) if self.sparse else Ledger()
        ledger = d.ledger + extra
        if d.received is None:
            return Delivery(None, ledger, d.verdict, d.tap)
        received = np.asarray(d.received, np.float32)
        if received.shape != (k,):
            raise InputError(f"expected {k} compressed values, got {received.shape}")
        if state.indices is not None:
            dense = np.zeros(n_values, np.float32)
            dense[state.indices] = received
            received = dense
        return Delivery(received, ledger, d.verdict, d.tap)

    def receive(self, wire: Arrays, state: object) -> Delivery:
        if not isinstance(state, _ReceiverState):
            raise TypeError("state must come from prepare()")
        rest = self._take_indices(wire, state)
        return self._dense(self.inner.receive(rest, state.inner), state)

    def step(self, wire: Arrays, state: object, *, n_values: int) -> Delivery | FollowUp:
        if not self.inner.multi_step:
            return self.decode(wire, state, n_values=n_values)
        if not isinstance(state, _ReceiverState):
            raise TypeError("state must come from prepare()")
        try:
            rest = self._take_indices(wire, state)
        except (InputError, ValueError, TypeError, AttributeError):
            return _malformed()
        outcome = self.inner.step(rest, state.inner, n_values=self.inner_size(state.n_values))
        if isinstance(outcome, FollowUp):
            return outcome
        try:
            delivery = self._dense(outcome, state)
        except InputError:
            return _malformed()
        received = delivery.received
        if received is not None and (
            received.shape != (n_values,) or not np.isfinite(received).all()
        ):
            return _malformed()
        return delivery

    def abandon(self, state: object) -> Delivery:
        if not isinstance(state, _ReceiverState):
            raise TypeError("state must come from prepare()")
        return self._dense(self.inner.abandon(state.inner), state)
