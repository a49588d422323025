"""A client's uplink with a compression step in front of any Channel.

:class:`CompressedChannel` wraps an inner :class:`~qtfl.channel.Channel` (plain, AEAD,
teleportation...) with one compression step of :mod:`qtfl.fl.compression`, so compression
stays independent of the channel and the FL engine still sees only a Channel. It holds the
client's error-feedback residual, so give every client its own instance (the engine's
per-client channel factory does).

What travels:

* dense steps (quantise, sign, none): the reconstructed vector goes through the inner
  channel (for ``quantize`` with a basis-encoded inner channel of the same ``b`` the values
  sit exactly on its grid, so the inner encoding adds no error; for ``sign`` a scenario
  builds its quantum uplink with the 1-bit sign code, so each value costs one qubit);
* top-k: only the ``k`` kept values go through the inner channel; their positions
  (``k·ceil(log2 n)`` bits) go over the authenticated classical channel and are added to
  the Ledger's ``classical_bits``. The receiver scatters the values back into a dense vector.

If the inner channel does not deliver, nothing reached the server: the residual becomes the
whole corrected update (``update + residual``), so error feedback loses nothing.

Reproducibility: for a given Generator state *and* residual state the Delivery is the same;
a fresh instance starts with a zero residual.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from qtfl.channel.base import Channel, Delivery, FloatVector, Ledger
from qtfl.fl.compression import CompressionConfig, Compressor, index_bits, make_compressor


class CompressedChannel(Channel):
    """Compress with ``compressor`` (or ``config``), then send through ``inner``.

    Args:
        inner: the channel that carries the compressed values.
        compressor: a compression step; built from ``config`` when not given.
        config: the scenario's :class:`CompressionConfig` (used when ``compressor`` is None).
    """

    name = "compressed"

    def __init__(
        self,
        inner: Channel,
        *,
        compressor: Compressor | None = None,
        config: CompressionConfig | None = None,
    ) -> None:
        if not isinstance(inner, Channel):
            raise TypeError(f"inner must be a Channel, got {type(inner).__name__}")
        self.inner = inner
        self.compressor = compressor or make_compressor(config or CompressionConfig())
        self._state: FloatVector | None = None

    @property
    def residual(self) -> FloatVector | None:
        """The client's error-feedback residual (``None`` before the first send)."""
        return None if self._state is None else self._state.copy()

    def state_dict(self) -> dict[str, FloatVector]:
        """The client's residual (checkpointed so a resumed run continues bit-identically)."""
        return {} if self._state is None else {"residual": self._state.copy()}

    def load_state_dict(self, state: dict[str, FloatVector]) -> None:
        residual = state.get("residual")
        self._state = None if residual is None else np.asarray(residual, np.float32).copy()

    def _send(self, update: FloatVector, *, rng: np.random.Generator) -> Delivery:
        state = self._state
        if state is None or (state.size and state.shape != update.shape):
            state = self.compressor.init(update.size)
        compressed, new_state = self.compressor.compress(update, state, rng=rng)
        if compressed.indices is None:
            delivery = self.inner.send(compressed.values, rng=rng)
            received = delivery.received
            extra = Ledger()
        else:
            delivery = self._send_sparse(compressed.values, compressed.indices, rng=rng)
            received = delivery.received
            extra = Ledger(classical_bits=compressed.indices.size * index_bits(update.size))
        if received is None:
            self._state = (update + state) if state.size else state
        else:
            self._state = new_state
        return Delivery(
            received=received,
            ledger=delivery.ledger + extra,
            verdict=delivery.verdict,
            tap=delivery.tap,
        )

    def _send_sparse(
        self, values: FloatVector, indices: npt.NDArray[np.int64], *, rng: np.random.Generator
    ) -> Delivery:
        inner = self.inner.send(values[indices], rng=rng)
        if inner.received is None:
            return inner
        dense = np.zeros(values.shape, np.float32)
        dense[indices] = inner.received
        return Delivery(received=dense, ledger=inner.ledger, verdict=inner.verdict, tap=inner.tap)
