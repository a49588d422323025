"""Experiments: the typed configuration, the runner, its metrics and the shipped examples.

>>> from qtfl.experiments import load_config, resolve_config
>>> config = load_config(resolve_config("quickstart"), overrides=["training.rounds=1"])
>>> config.training.rounds, [s.name for s in config.resolved_scenarios()][:2]
(1, ['classical', 'pqc'])
"""

from qtfl.experiments.config import (
    ExperimentConfig,
    Scenario,
    apply_overrides,
    load_config,
    parse_config,
)
from qtfl.experiments.examples import example_configs, resolve_config
from qtfl.experiments.runner import run_experiment

__all__ = [
    "ExperimentConfig",
    "Scenario",
    "apply_overrides",
    "example_configs",
    "load_config",
    "parse_config",
    "resolve_config",
    "run_experiment",
]
