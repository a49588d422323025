"""Federated learning: the engine (it sees only Channels), clients, strategies, partitions,
compression, privacy post-processors and checkpoints."""

from qtfl.fl.compressed_channel import CompressedChannel
from qtfl.fl.compression import CompressionConfig
from qtfl.fl.engine import FederatedSimulation, RoundMetrics, SimulationSettings
from qtfl.fl.partition import PARTITION_SCHEMES, partition
from qtfl.fl.privacy import DPSettings
from qtfl.fl.strategies import STRATEGIES, Strategy, make_strategy

__all__ = [
    "PARTITION_SCHEMES",
    "STRATEGIES",
    "CompressedChannel",
    "CompressionConfig",
    "DPSettings",
    "FederatedSimulation",
    "RoundMetrics",
    "SimulationSettings",
    "Strategy",
    "make_strategy",
    "partition",
]
