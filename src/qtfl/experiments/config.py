"""Experiment configuration: typed (pydantic v2), read from YAML, strict about unknown keys.

A configuration file is one mapping; every section is optional and has defaults::

    seed: 0
    data:       {name: digits, root: null, partition: iid, alpha: 0.5, shards_per_client: 2,
                 num_clients: 10}
    model:      {name: mlp, hidden: 64}
    training:   {rounds: 30, fraction: 1.0, local_epochs: 2, batch_size: 10, lr: 0.2,
                 optimizer: sgd, momentum: 0.0, proximal_mu: 0.0, dropout_probability: 0.0,
                 backend: auto, client_chunk: 128}
    strategy:   {name: fedavg, params: {}}
    evaluation: {every: 1, target_accuracy: 0.95}
    channel:    {kind: plain, latency_s: 0.0, bandwidth_bps: null}
    scenarios:                       # optional; absent = one scenario "default" on `channel`
      - {name: plain, channel: {kind: plain}}
      - {name: slow-uplink, uplink: {kind: plain, bandwidth_bps: 1.0e6}}

Scenarios share data, model, training and seed, and differ only in their channels; a
scenario's ``uplink``/``downlink`` default to its ``channel``, which defaults to the top-level
``channel``. New channel kinds join :data:`ChannelConfig` as further members of a
discriminated union on ``kind`` (each member knows how to ``build()`` its Channel), so
existing files stay valid.

Any mistake — an unknown key, a value out of range, an unknown data set, model or strategy —
raises one :class:`~qtfl.errors.InputError` naming the field path (``training.fraction``)
and what is allowed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qtfl.channel import Channel, PlainChannel
from qtfl.data import DATASETS
from qtfl.errors import InputError, require_choice
from qtfl.fl.partition import PARTITION_SCHEMES
from qtfl.fl.strategies import make_strategy
from qtfl.models import MODELS


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Which data set, and how it is split among clients."""

    name: str = "digits"
    root: str | None = None
    partition: str = "iid"
    alpha: float = Field(default=0.5, gt=0)
    shards_per_client: int = Field(default=2, ge=1)
    num_clients: int = Field(default=10, gt=0)

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        return require_choice("data set", v, DATASETS)

    @field_validator("partition")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        return require_choice("partition scheme", v, PARTITION_SCHEMES)


class ModelConfig(_Section):
    """Which model; ``hidden`` is the MLP's hidden width(s)."""

    name: str = "mlp"
    hidden: int | list[int] = 64

    @field_validator("name")
    @classmethod
    def _known_model(cls, v: str) -> str:
        return require_choice("model", v, MODELS)


class TrainingConfig(_Section):
    """Rounds, client sampling and local training."""

    rounds: int = Field(default=30, gt=0)
    fraction: float = Field(default=1.0, gt=0, le=1)
    local_epochs: int = Field(default=2, gt=0)
    batch_size: int = Field(default=10, gt=0)
    lr: float = Field(default=0.2, gt=0)
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = Field(default=0.0, ge=0, lt=1)
    proximal_mu: float = Field(default=0.0, ge=0)
    dropout_probability: float = Field(default=0.0, ge=0, lt=1)
    backend: Literal["auto", "bmm", "vmap", "loop"] = "auto"
    client_chunk: int = Field(default=128, gt=0)


class StrategyConfig(_Section):
    """Aggregation strategy by name (see :data:`qtfl.fl.strategies.STRATEGIES`) and params."""

    name: str = "fedavg"
    params: dict[str, float | int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _buildable(self) -> StrategyConfig:
        make_strategy(self.name, **self.params)
        return self


class EvaluationConfig(_Section):
    """Evaluate every ``every`` rounds; ``target_accuracy`` defines ``rounds_to_target``."""

    every: int = Field(default=1, gt=0)
    target_accuracy: float | None = Field(default=None, gt=0, le=1)


class PlainChannelConfig(_Section):
    """Classical plaintext (:class:`qtfl.channel.PlainChannel`)."""

    kind: Literal["plain"] = "plain"
    latency_s: float = Field(default=0.0, ge=0)
    bandwidth_bps: float | None = Field(default=None, gt=0)

    def build(self) -> Channel:
        """The Channel this section describes."""
        return PlainChannel(latency_s=self.latency_s, bandwidth_bps=self.bandwidth_bps)


ChannelConfig = PlainChannelConfig
"""Every channel section; becomes ``Annotated[A | B | ..., Field(discriminator="kind")]``."""


class ScenarioConfig(_Section):
    """One named comparison arm: the same run with its own uplink and downlink channels."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    channel: ChannelConfig | None = None
    uplink: ChannelConfig | None = None
    downlink: ChannelConfig | None = None


@dataclass(frozen=True)
class Scenario:
    """A scenario with its channels resolved."""

    name: str
    uplink: ChannelConfig
    downlink: ChannelConfig


class ExperimentConfig(_Section):
    """A whole experiment (see the module docstring for the file format)."""

    seed: int = Field(default=0, ge=0)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    strategy: StrategyConfig = StrategyConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    channel: ChannelConfig = PlainChannelConfig()
    scenarios: list[ScenarioConfig] | None = Field(default=None, min_length=1)

    @field_validator("scenarios")
    @classmethod
    def _unique_names(cls, v: list[ScenarioConfig] | None) -> list[ScenarioConfig] | None:
        if v is not None:
            names = [s.name for s in v]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"scenario names must be unique, {dup[0]!r} repeats")
        return v

    def resolved_scenarios(self) -> list[Scenario]:
        """The scenarios to run, with every channel filled in."""
        if self.scenarios is None:
            return [Scenario("default", self.channel, self.channel)]
        out = []
        for s in self.scenarios:
            both = s.channel or self.channel
            out.append(Scenario(s.name, s.uplink or both, s.downlink or both))
        return out

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of this configuration (defaults included)."""
        return hashlib.sha256(self.model_dump_json().encode("utf-8")).hexdigest()


def parse_config(raw: Mapping[str, Any]) -> ExperimentConfig:
    """Validate a mapping (from YAML/JSON) into an :class:`ExperimentConfig`.

    Raises:
        InputError: one message listing every problem with its field path and what is allowed.
    """
    if not isinstance(raw, Mapping):
        raise InputError(f"a configuration must be a mapping of sections, got {type(raw).__name__}")
    try:
        return ExperimentConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise InputError(format_validation_error(exc)) from None


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a YAML configuration file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"configuration file {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"configuration file {p} is not valid YAML: {exc}") from None
    return parse_config({} if raw is None else raw)


def format_validation_error(exc: ValidationError) -> str:
    """One line per pydantic error: ``field.path: problem (allowed ...)``."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in loc) or "configuration"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            lines.append(f"unknown key {path!r}; allowed keys there: {', '.join(allowed)}")
            continue
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] in ("value_error", "assertion_error"):
            lines.append(f"{path}: {msg}")
        else:
            lines.append(f"{path}: {msg}, got {err.get('input')!r}")
    return "invalid configuration: " + "; ".join(lines)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = ExperimentConfig
    for part in loc:
        if isinstance(part, int) or part not in model.model_fields:
            continue
        nested = _model_in(model.model_fields[part].annotation)
        if nested is None:
            break
        model = nested
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
