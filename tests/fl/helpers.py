"""Small synthetic federations for engine tests (seconds, no data files)."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from qtfl.channel import Channel, Delivery, Ledger, PlainChannel, Tap, Verdict
from qtfl.channel.base import FloatVector
from qtfl.fl.client import LocalTraining
from qtfl.fl.engine import FederatedSimulation, SimulationSettings
from qtfl.fl.strategies import FedAvg, Strategy
from qtfl.models import build_model


def blobs(n: int, *, seed: int = 0, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Separable Gaussian blobs shaped like 1x4x4 images (fixed centres, samples by seed)."""
    centres = np.random.default_rng(100).normal(0, 2.0, size=(classes, 16)).astype(np.float32)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n).astype(np.int64)
    x = centres[y] + rng.normal(0, 0.5, size=(n, 16)).astype(np.float32)
    return x.reshape(n, 1, 4, 4), y


def small_model(seed: int = 0) -> nn.Module:
    return build_model("mlp", input_shape=(1, 4, 4), num_classes=4, hidden=8, seed=seed)


def client_split(sizes: list[int]) -> list[np.ndarray]:
    edges = np.cumsum([0, *sizes])
    return [np.arange(a, b, dtype=np.int64) for a, b in itertools.pairwise(edges)]


def make_sim(
    *,
    sizes: list[int] | None = None,
    uplink: object = None,
    downlink: object = None,
    strategy: Strategy | None = None,
    training: LocalTraining | None = None,
    seed: int = 0,
    model: nn.Module | None = None,
    test_examples: int = 200,
    uplink_rng: object = None,
    channel_pool: object = None,
    **settings: object,
) -> FederatedSimulation:
    sizes = sizes or [20] * 6
    x, y = blobs(sum(sizes), seed=1)
    xt, yt = blobs(test_examples, seed=2)
    torch.set_num_threads(1)
    return FederatedSimulation(
        model=model or small_model(),
        x_train=x,
        y_train=y,
        x_test=xt,
        y_test=yt,
        client_indices=client_split(sizes),
        strategy=strategy or FedAvg(),
        uplink=uplink or PlainChannel(),  # type: ignore[arg-type]
        downlink=downlink or PlainChannel(),  # type: ignore[arg-type]
        training=training or LocalTraining(local_epochs=1, batch_size=5, lr=0.1),
        settings=SimulationSettings(**{"rounds": 5, **settings}),  # type: ignore[arg-type]
        seed=seed,
        uplink_rng=uplink_rng,  # type: ignore[arg-type]
        channel_pool=channel_pool,  # type: ignore[arg-type]
    )


class AbortingChannel(Channel):
    """Aborts every transfer (flagged as detected when ``detected``); records what it saw."""

    name = "aborting"

    def __init__(self, *, detected: bool = True) -> None:
        self.detected = detected
        self.calls = 0

    def _send(self, update: FloatVector, *, rng: np.random.Generator) -> Delivery:
        self.calls += 1
        return Delivery(
            received=None,
            ledger=Ledger(classical_bits=8, link_seconds=1.0),
            verdict=Verdict.abort("test-abort", detected=self.detected),
            tap=Tap(kind="none"),
        )


class RecordingChannel(PlainChannel):
    """A plain channel that keeps a copy of every update it carried."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[np.ndarray] = []

    def _send(self, update: FloatVector, *, rng: np.random.Generator) -> Delivery:
        self.sent.append(update.copy())
        return super()._send(update, rng=rng)
