"""The strategy contract: how the server turns the round's client updates into a new model.

Following Flower's split, the aggregation maths are pure functions of a stacked update matrix
``updates`` of shape ``(clients, params)`` (float32 deltas, client weights minus the global
weights they started from) and ``weights`` of shape ``(clients,)`` (usually local sample
counts). A :class:`Strategy` is a thin class around one of them that may hold server-optimizer
state (FedAdam, FedYogi) and exposes it for checkpoints.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np
import numpy.typing as npt

FloatVector = npt.NDArray[np.float32]
UpdateMatrix = npt.NDArray[np.float32]
WeightVector = npt.NDArray[np.floating]


class Strategy(abc.ABC):
    """Server-side aggregation of one round.

    Attributes:
        name: registry name (``"fedavg"``, ``"krum"``...).
        proximal_mu: coefficient of the client-side proximal term
            :math:`\\tfrac{\\mu}{2}\\lVert w - w_t\\rVert^2` (FedProx); 0 means none.
    """

    name: ClassVar[str] = "strategy"
    proximal_mu: float = 0.0

    @abc.abstractmethod
    def aggregate(self, updates: UpdateMatrix, weights: WeightVector) -> FloatVector:
        """The aggregate update (one row) of the accepted client updates; pure."""

    def step(
        self, params: FloatVector, updates: UpdateMatrix, weights: WeightVector
    ) -> FloatVector:
        """Return the next global parameters; the default adds the aggregate update.

        With no accepted update (every client dropped or aborted) the model is unchanged
        and server-optimizer state does not advance.
        """
        if updates.shape[0] == 0:
            return params
        return (params + self.aggregate(updates, weights)).astype(np.float32, copy=False)

    def state_dict(self) -> dict[str, npt.NDArray[np.float32]]:
        """Server-optimizer state to checkpoint (empty for stateless strategies)."""
        return {}

    def load_state_dict(self, state: dict[str, npt.NDArray[np.float32]]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if state:
            raise ValueError(f"{self.name} holds no state, got keys {sorted(state)}")


def check_updates(updates: UpdateMatrix, weights: WeightVector) -> None:
    """Raise ``ValueError`` unless ``updates`` is ``(n, P)``, ``n >= 1``, weights ``(n,)``."""
    if updates.ndim != 2 or updates.shape[0] == 0:
        raise ValueError(
            f"updates must be a non-empty (clients, params) matrix, got {updates.shape}"
        )
    if weights.shape != (updates.shape[0],):
        raise ValueError(f"weights must have shape ({updates.shape[0]},), got {weights.shape}")
    if np.any(weights < 0) or not np.any(weights > 0):
        raise ValueError("weights must be >= 0 with at least one > 0")
