"""Experiment configuration: typed (pydantic v2), read from YAML, strict about unknown keys.

A configuration file is one mapping; every section is optional and has defaults::

    seed: 0
    data:       {name: digits, root: null, partition: iid, alpha: 0.5, shards_per_client: 2,
                 num_clients: 10}
    model:      {name: mlp, hidden: 64}
    training:   {rounds: 30, fraction: 1.0, local_epochs: 2, batch_size: 10, lr: 0.2,
                 optimizer: sgd, momentum: 0.0, proximal_mu: 0.0, dropout_probability: 0.0,
                 backend: auto, client_chunk: 128, workers: auto}
    strategy:   {name: fedavg, params: {}}
    evaluation: {every: 1, target_accuracy: 0.95}
    channel:    {kind: plain, latency_s: 0.0, bandwidth_bps: null}
    privacy:    {dp: {clip_norm: 1.0, noise_multiplier: 1.0, placement: server},
                 secure_aggregation: false}  # default: none; a scenario may override it
    attacks:    {inversion: [analytic, ig], membership: true}  # optional: privacy report
    compression: {kind: none, bits: 8, ratio: 0.1, error_feedback: true}  # quantize|topk|sign
    scenarios:                       # optional; absent = one scenario "default" on `channel`
      - {name: plain, channel: {kind: plain}}
      - {name: slow-uplink, uplink: {kind: plain, bandwidth_bps: 1.0e6}}
      - name: teleport-eve
        uplink: {kind: teleport, link: {preset: shen2023}, purify_to: 0.99, fec: auto}
        eavesdroppers: [{clients: [0, 1], kind: intercept-resend, fraction: 1.0}]
      - {name: teleport-top10, uplink: {kind: teleport, link: {fidelity: 0.95}, fec: auto},
         compression: {kind: topk, ratio: 0.1}}

Scenarios share data, model, partition, training and seed — hence the initial model, client
sampling and batches — and differ only in their channels and attackers; each scenario's
channel randomness comes from its own stream (:func:`~qtfl.experiments.channels.
scenario_channel_seed`). A scenario's ``uplink``/``downlink`` default to its ``channel``,
which defaults to the top-level ``channel``. Channel sections are a discriminated union on
``kind`` (``plain``, ``aead``, ``teleport``, ``qkd-otp``; :mod:`qtfl.experiments.channels`),
each member knowing how to ``build()`` its Channel; a section without ``kind`` is ``plain``,
so older files stay valid.

Any mistake — an unknown key, a value out of range, an unknown data set, model or strategy,
a repeated scenario name, an option of another channel kind, an eavesdropper on a client
that does not exist or on a classical uplink — raises one :class:`~qtfl.errors.InputError`
naming the field path (``training.fraction``) and what is allowed.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from qtfl.channel import Channel
from qtfl.channel.verified import PairLink
from qtfl.data import DATASETS
from qtfl.data.qdataset_tasks import QDataSetTask
from qtfl.errors import InputError, require_choice, short_repr
from qtfl.experiments.channels import (
    CHANNEL_KINDS,
    CHANNEL_MODELS,
    ChannelConfig,
    EavesdropperConfig,
    PlainChannelConfig,
)
from qtfl.experiments.loader import ConfigSection, load_yaml
from qtfl.experiments.network_config import NetworkConfig, PinnedLink, check_sizes, merge_network
from qtfl.fl.compressed_channel import CompressedChannel
from qtfl.fl.compression import CompressionConfig
from qtfl.fl.partition import PARTITION_SCHEMES
from qtfl.fl.strategies import make_strategy
from qtfl.models import MODELS
from qtfl.registry import LINK_EAVESDROPPERS
from qtfl.security.run_secret import SecretSource

_Section = ConfigSection


class _WithNetwork(_Section):
    """A section with an optional ``network`` (its last field); absent, it is left out of
    dumps and hashes (files without it keep their configuration hash)."""

    @model_serializer(mode="wrap")
    def _drop_absent_network(self, handler: SerializerFunctionWrapHandler) -> Any:
        out = handler(self)
        if isinstance(out, dict) and out.get("network", 0) is None:
            del out["network"]
        return out


MAX_ROUNDS = 100_000
MAX_CLIENTS = 100_000
MAX_LOCAL_EPOCHS = 1_000
MAX_BATCH_SIZE = 100_000
MAX_HIDDEN = 8_192
MAX_HIDDEN_LAYERS = 16
MAX_SCENARIOS = 64
MAX_LR = 100.0
MAX_SEED = 2**63 - 1
"""Documented maxima of the size-like fields (``docs/guide/limits-and-safety.md``); beyond
them a run cannot finish on one machine, or a value overflows float32 arithmetic."""


class QDataSetConfig(_Section):
    """The ``data.qdataset`` section: QDataSet sets to generate and the task on them
    (:class:`qtfl.data.qdataset_tasks.QDataSetTask`; ``examples`` per set)."""

    sets: list[str] = Field(default_factory=lambda: ["G_1q_XZ_N1"], min_length=1, max_length=52)
    task: str = "characterisation"
    examples: int = Field(default=400, ge=2, le=100_000)
    realisations: int = Field(default=20, ge=1, le=10_000)
    time_steps: int = Field(default=1024, ge=8, le=65_536)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    features: str = "all"
    evolution: Literal["faithful", "exact"] = "faithful"

    @model_validator(mode="after")
    def _valid_task(self) -> QDataSetConfig:
        from qtfl.data.qdataset import parse_name

        for name in self.sets:
            parse_name(name)
        self.to_task()
        return self

    def to_task(self) -> QDataSetTask:
        """The typed task description the data loader takes."""
        return QDataSetTask(
            sets=tuple(self.sets),
            task=self.task,
            examples=self.examples,
            realisations=self.realisations,
            time_steps=self.time_steps,
            seed=self.seed,
            test_fraction=self.test_fraction,
            features=self.features,
            evolution=self.evolution,
        )


GROUP_PARTITIONS: tuple[str, ...] = ("noise-profile",)
"""Partitions by the data set's groups (QDataSet: one noise profile per client)."""


class DataConfig(_Section):
    """Which data set, and how it is split among clients."""

    name: str = "digits"
    root: str | None = None
    partition: str = "iid"
    alpha: float = Field(default=0.5, gt=0, le=1e6)
    shards_per_client: int = Field(default=2, ge=1, le=10_000)
    num_clients: int = Field(default=10, gt=0, le=MAX_CLIENTS)
    qdataset: QDataSetConfig | None = None

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        return require_choice("data set", v, DATASETS)

    @field_validator("partition")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        return require_choice("partition scheme", v, PARTITION_SCHEMES + GROUP_PARTITIONS)

    @model_validator(mode="after")
    def _qdataset_options(self) -> DataConfig:
        if self.qdataset is not None and self.name != "qdataset":
            raise ValueError(
                f"data.qdataset applies to data set 'qdataset' only, not {self.name!r}"
            )
        if self.partition in GROUP_PARTITIONS and self.name != "qdataset":
            raise ValueError(f"partition {self.partition!r} needs data set 'qdataset'")
        return self


class ModelConfig(_Section):
    """Which model; ``hidden`` is the MLP's hidden width(s); ``qubits`` and ``layers`` the
    VQC's register (default min(features, 8)) and ansatz layers per encoding block."""

    name: str = "mlp"
    hidden: (
        Annotated[int, Field(ge=1, le=MAX_HIDDEN)]
        | Annotated[
            list[Annotated[int, Field(ge=1, le=MAX_HIDDEN)]], Field(max_length=MAX_HIDDEN_LAYERS)
        ]
    ) = 64
    qubits: int | None = Field(default=None, ge=1, le=12)
    layers: int = Field(default=2, ge=1, le=64)

    @field_validator("name")
    @classmethod
    def _known_model(cls, v: str) -> str:
        return require_choice("model", v, MODELS)


class TrainingConfig(_Section):
    """Rounds, client sampling and local training."""

    rounds: int = Field(default=30, gt=0, le=MAX_ROUNDS)
    fraction: float = Field(default=1.0, gt=0, le=1)
    local_epochs: int = Field(default=2, gt=0, le=MAX_LOCAL_EPOCHS)
    batch_size: int = Field(default=10, gt=0, le=MAX_BATCH_SIZE)
    lr: float = Field(default=0.2, gt=0, le=MAX_LR)
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = Field(default=0.0, ge=0, lt=1)
    proximal_mu: float = Field(default=0.0, ge=0, le=1e4)
    dropout_probability: float = Field(default=0.0, ge=0, lt=1)
    backend: Literal["auto", "bmm", "vmap", "loop"] = "auto"
    client_chunk: int = Field(default=128, gt=0, le=MAX_CLIENTS)
    # worker processes for the clients' uplink sends (qtfl.fl.parallel); "auto": the CPUs
    # not already busy at the start (CPUs minus the load average, at least 1). Results are
    # bit-identical for any value, so config_hash leaves it out.
    workers: int | Literal["auto"] = "auto"

    @field_validator("workers", mode="before")
    @classmethod
    def _positive_or_auto(cls, v: Any) -> Any:
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 256):
            return v
        raise ValueError(f"must be an integer in 1..256 or 'auto', got {v!r}")


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

    every: int = Field(default=1, gt=0, le=MAX_ROUNDS)
    target_accuracy: float | None = Field(default=None, gt=0, le=1)


class DPConfig(_Section):
    """DP-FedAvg (:class:`qtfl.fl.privacy.DPSettings`): clip norm ``C``, noise multiplier
    ``sigma`` and where the noise is added (``server``: central, ``client``: local)."""

    clip_norm: float = Field(default=1.0, gt=0, le=1e6)
    noise_multiplier: float = Field(default=1.0, ge=0, le=1e6)
    placement: Literal["server", "client"] = "server"


class QuantumKeysConfig(_Section):
    """Quantum-keyed secure aggregation (:mod:`qtfl.fl.secagg`): each client's link
    fidelity to the server, the dropout the neighbour graph must survive, Shamir threshold
    as a fraction of the neighbours, and the pairwise keys' security parameters."""

    link_fidelity: float = Field(default=0.98, ge=0.25, le=1.0)
    dropout_tolerance: float = Field(default=0.3, ge=0, lt=1)
    threshold: float = Field(default=0.5, gt=0, le=1)
    failure_probability: float = Field(default=1e-6, gt=0, lt=1)
    qber_tolerance: float = Field(default=0.05, gt=0, le=0.11)
    key_bits: int = Field(default=128, ge=64, le=4096)
    eps_sec: float = Field(default=1e-10, gt=0, lt=1)
    relay: Literal["honest", "measure"] = "honest"

    def settings(self, *, max_abs: float) -> Any:
        """:class:`qtfl.fl.secagg.QuantumSecAggSettings`."""
        from qtfl.fl.secagg import QuantumSecAggSettings
        from qtfl.security.relay_keys import RelayKeySettings

        return QuantumSecAggSettings(
            link_fidelity=self.link_fidelity,
            dropout_tolerance=self.dropout_tolerance,
            threshold=self.threshold,
            failure_probability=self.failure_probability,
            max_abs=max_abs,
            relay=self.relay,
            keys=RelayKeySettings(
                key_bits=self.key_bits, qber_tolerance=self.qber_tolerance, eps_sec=self.eps_sec
            ),
        )


class PrivacyConfig(_Section):
    """The ``privacy`` section (run-wide or per scenario): DP-FedAvg and/or secure
    aggregation (:mod:`qtfl.fl.privacy`); updates are clipped elementwise to
    ``secure_aggregation_max_abs`` before masking. ``secure_aggregation_keys``: ``pairwise``
    masks every pair of the cohort with keys from the run's secrets; ``quantum`` runs SecAgg+
    (a sparse neighbour graph, Shamir-shared self masks, dropout recovery) with pairwise keys
    distilled over entanglement swapped at the server (:mod:`qtfl.fl.secagg`, settings in
    ``quantum_keys``)."""

    dp: DPConfig | None = None
    secure_aggregation: bool = False
    secure_aggregation_max_abs: float = Field(default=4.0, gt=0, le=1e6)
    secure_aggregation_keys: Literal["pairwise", "quantum"] = "pairwise"
    quantum_keys: QuantumKeysConfig = QuantumKeysConfig()

    @model_validator(mode="after")
    def _compatible(self) -> PrivacyConfig:
        if self.secure_aggregation and self.dp is not None and self.dp.placement == "server":
            raise ValueError(
                "dp.placement 'server' cannot be combined with secure_aggregation (the server "
                "sees only the masked sum); use placement 'client'"
            )
        return self

    def postprocessors(
        self, *, seed: int = 0, mask_key: bytes | None = None, keys: Any = None
    ) -> list[Any]:
        """The engine post-processors of this section (empty when nothing is asked);
        ``seed`` draws noise statistics, ``mask_key`` (from the run secret; fresh if None)
        the quantum-keyed masks, ``keys`` (:class:`qtfl.fl.privacy_keys.PrivacyKeys`, the
        party's share of the run secret) the DP noise and pairwise masks."""
        from qtfl.fl.privacy import make_postprocessors

        quantum = self.secure_aggregation and self.secure_aggregation_keys == "quantum"
        chain = make_postprocessors(
            dp=self.dp_settings(),
            secure_aggregation=self.secure_aggregation and not quantum,
            max_abs=self.secure_aggregation_max_abs,
            mask_key=mask_key,
            keys=keys,
        )
        if quantum:
            from qtfl.fl.secagg import QuantumSecAgg

            settings = self.quantum_keys.settings(max_abs=self.secure_aggregation_max_abs)
            from qtfl.security.run_secret import LinkSecret

            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(5_000,)))
            secret_rng = LinkSecret(mask_key).generator(b"quantum-secagg")  # keys: run secret
            chain.append(QuantumSecAgg(settings, rng=rng, secret_rng=secret_rng, keys=keys))
        return chain

    def dp_settings(self) -> Any:
        """:class:`qtfl.fl.privacy.DPSettings`, or ``None`` without DP."""
        from qtfl.fl.privacy import DPSettings

        return None if self.dp is None else DPSettings(**self.dp.model_dump())


InversionMethod = Literal["analytic", "dlg", "idlg", "ig"]


def _default_inversion() -> list[InversionMethod]:
    return ["analytic", "ig"]


class AttacksConfig(_Section):
    """The ``attacks`` section: what the report runs on every scenario after training
    (:mod:`qtfl.attacks.run_privacy`): inversion methods and membership inference."""

    inversion: list[InversionMethod] = Field(default_factory=_default_inversion)
    membership: bool = True


class CompressionSection(_Section):
    """Update compression before the uplink encodes it (:mod:`qtfl.fl.compression`):
    ``quantize`` (stochastic rounding to ``bits``), ``topk`` (keep ``ratio`` of the values),
    ``sign`` (1 bit per value, scaled); ``error_feedback`` keeps the unsent part on the client
    (``topk``, ``sign``). Applies to every client's uplink, whatever its channel kind."""

    kind: Literal["none", "quantize", "topk", "sign"] = "none"
    bits: int = Field(default=8, ge=2, le=24)
    ratio: float = Field(default=0.1, gt=0, le=1)
    error_feedback: bool = True

    def build(self) -> CompressionConfig:
        """The compression step's typed settings."""
        return CompressionConfig(
            kind=self.kind, bits=self.bits, ratio=self.ratio, error_feedback=self.error_feedback
        )


class AdversaryConfig(_Section):
    """Malicious clients of a scenario (:mod:`qtfl.attacks.poisoning`): model poisoning
    (``sign-flip``, ``scaling``, ``gaussian``, ``alie``) or data poisoning (``label-flip``,
    ``backdoor``)."""

    clients: list[Annotated[int, Field(ge=0, le=MAX_CLIENTS)]] = Field(
        min_length=1, max_length=MAX_CLIENTS
    )
    attack: Literal["sign-flip", "scaling", "gaussian", "alie", "label-flip", "backdoor"]
    scale: float = Field(default=1.0, gt=0, le=1e6)
    sigma: float = Field(default=1.0, gt=0, le=1e6)
    z: float | None = Field(default=None, ge=0, le=100)
    target_label: int = Field(default=0, ge=0, le=100_000)
    trigger_size: int = Field(default=2, ge=1, le=64)
    poison_fraction: float = Field(default=0.5, gt=0, le=1)

    def build(self) -> Any:
        """The :class:`qtfl.attacks.poisoning.Adversary`."""
        from qtfl.attacks.poisoning import Adversary

        return Adversary(
            clients=tuple(self.clients),
            attack=self.attack,
            scale=self.scale,
            sigma=self.sigma,
            z=self.z,
            target_label=self.target_label,
            trigger_size=self.trigger_size,
            poison_fraction=self.poison_fraction,
        )


class ScenarioConfig(_WithNetwork):
    """One named comparison arm: the same run with its own channels and attackers.

    ``eavesdroppers`` attack the *uplink* pair distribution of the clients they name (the
    paper teleports client updates to the server), so they need a quantum uplink
    (``teleport`` or ``qkd-otp``).
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    channel: ChannelConfig | None = None
    uplink: ChannelConfig | None = None
    downlink: ChannelConfig | None = None
    eavesdroppers: list[EavesdropperConfig] = Field(default_factory=list, max_length=MAX_CLIENTS)
    privacy: PrivacyConfig | None = None
    compression: CompressionSection | None = None
    adversaries: list[AdversaryConfig] = Field(default_factory=list, max_length=MAX_CLIENTS)
    strategy: StrategyConfig | None = None
    network: NetworkConfig | None = Field(
        default=None,
        description="This scenario's network; its keys replace the top level's.",
    )


@dataclass(frozen=True)
class Scenario:
    """A scenario with its channels resolved."""

    name: str
    uplink: ChannelConfig
    downlink: ChannelConfig
    eavesdroppers: tuple[EavesdropperConfig, ...] = ()
    privacy: PrivacyConfig = field(default_factory=lambda: PrivacyConfig())
    compression: CompressionSection = field(default_factory=lambda: CompressionSection())
    adversaries: tuple[AdversaryConfig, ...] = ()
    strategy: StrategyConfig | None = None
    network: NetworkConfig | None = None

    def malicious_clients(self) -> list[int]:
        """Clients that poison, ascending."""
        return sorted(k for a in self.adversaries for k in a.clients)

    @property
    def rate_known(self) -> bool:
        """False when a quantum link of this scenario has no known pair rate."""
        return self.uplink.rate_known and self.downlink.rate_known

    def eavesdropped_clients(self) -> list[int]:
        """Clients whose uplink is attacked, ascending."""
        return sorted(k for e in self.eavesdroppers for k in e.clients)

    def build_uplink(
        self, k: int, *, secrets: SecretSource | None = None, link: PairLink | None = None
    ) -> Channel:
        """Client ``k``'s uplink (its eavesdropper, compression); ``link``: its own link
        instead of the section's (``network.clients``, a round's dephased pairs)."""
        from qtfl.experiments.channels import build_channel
        from qtfl.security.run_secret import link_secret

        attacker = next((e for e in self.eavesdroppers if k in e.clients), None)
        uplink = self.uplink
        if self.compression.kind == "sign" and getattr(uplink, "bits", None) is not None:
            # sign values are +-s: the basis encoding's 1-bit sign code carries them exactly,
            # one qubit per value (not the uplink's fixed-point ``bits``)
            uplink = uplink.model_copy(update={"bits": 1})
        if link is not None:
            uplink = uplink.model_copy(update={"link": PinnedLink(link)})
        channel = build_channel(
            uplink,
            k,
            secret=link_secret(secrets, self.name, 0, k),
            eavesdropper=None if attacker is None else attacker.build(),
        )
        if self.compression.kind != "none":
            channel = CompressedChannel(channel, config=self.compression.build())
        return channel

    def build_channels(
        self,
        num_clients: int,
        *,
        secrets: SecretSource | None = None,
        uplink_links: Sequence[PairLink] | None = None,
    ) -> tuple[list[Channel], list[Channel]]:
        """Per-client ``(uplinks, downlinks)``; attacked clients get their eavesdropper.

        Each link's key comes from ``secrets`` (the run secret, or one node's share; fresh
        random keys when ``None``): :func:`~qtfl.security.run_secret.link_secret`.
        ``uplink_links``: each client's own uplink link (``network.clients``).
        """
        from qtfl.experiments.channels import build_channel
        from qtfl.security.run_secret import link_secret

        links = [None] * num_clients if uplink_links is None else uplink_links
        up = [self.build_uplink(k, secrets=secrets, link=links[k]) for k in range(num_clients)]
        down = [
            build_channel(self.downlink, k, secret=link_secret(secrets, self.name, 1, k))
            for k in range(num_clients)
        ]
        return up, down


class ExperimentConfig(_WithNetwork):
    """A whole experiment (see the module docstring for the file format)."""

    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] | None = Field(
        default=None, min_length=1, max_length=64
    )
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    strategy: StrategyConfig = StrategyConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    channel: ChannelConfig = PlainChannelConfig()
    scenarios: list[ScenarioConfig] | None = Field(
        default=None, min_length=1, max_length=MAX_SCENARIOS
    )
    privacy: PrivacyConfig = PrivacyConfig()
    compression: CompressionSection = CompressionSection()
    attacks: AttacksConfig | None = None
    network: NetworkConfig | None = Field(
        default=None,
        description="A link per client and the server's quantum channels "
        "(qtfl.experiments.network_config); a scenario may override it.",
    )

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and len(set(v)) != len(v):
            dup = sorted({x for x in v if v.count(x) > 1})
            raise ValueError(f"seeds must be distinct, {dup[0]} repeats")
        return v

    @field_validator("scenarios")
    @classmethod
    def _unique_names(cls, v: list[ScenarioConfig] | None) -> list[ScenarioConfig] | None:
        if v is not None:
            names = [s.name for s in v]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"scenario names must be unique, {dup[0]!r} repeats")
        return v

    @model_validator(mode="after")
    def _eavesdroppers_fit(self) -> ExperimentConfig:
        n = self.data.num_clients
        for i, sc in enumerate(self.resolved_scenarios()):
            where = f"scenarios.{i}.eavesdroppers"
            seen: set[int] = set()
            for e in sc.eavesdroppers:
                for k in e.clients:
                    if k >= n:
                        raise ValueError(
                            f"{where}: client {k} does not exist; clients are 0..{n - 1} "
                            f"(data.num_clients = {n})"
                        )
                    if k in seen:
                        raise ValueError(f"{where}: client {k} is attacked twice")
                    seen.add(k)
            if sc.eavesdroppers and not sc.uplink.quantum:
                raise ValueError(
                    f"{where}: eavesdroppers attack the uplink's Bell pairs, but scenario "
                    f"{sc.name!r} has a {sc.uplink.kind!r} uplink; use kind teleport or qkd-otp"
                )
            protected = getattr(sc.uplink, "qec", "none") != "none"
            analog = getattr(sc.uplink, "encoding", "basis") in ("angle", "amplitude")
            on_pairs = [e.kind for e in sc.eavesdroppers if e.kind in LINK_EAVESDROPPERS]
            if on_pairs and (protected or analog):
                raise ValueError(
                    f"{where}: a {on_pairs[0]!r} eavesdropper is modelled for basis-encoded "
                    f"bits without qec only, but scenario {sc.name!r} teleports with encoding "
                    f"{getattr(sc.uplink, 'encoding', 'basis')!r} and qec "
                    f"{getattr(sc.uplink, 'qec', 'none')!r}; attack a basis uplink or use 'tap'"
                )
        return self

    @model_validator(mode="after")
    def _network_fits(self) -> ExperimentConfig:
        n = self.data.num_clients
        if self.network is not None:
            check_sizes(self.network, n, "network")
        for i, own in enumerate(self.scenarios or []):
            if own.network is not None:
                check_sizes(own.network, n, f"scenarios.{i}.network")
        for sc in self.resolved_scenarios():
            if sc.network is not None and not sc.uplink.quantum:
                raise ValueError(
                    f"network: scenario {sc.name!r} has a {sc.uplink.kind!r} uplink; per-client "
                    "links and the quantum server need a teleport (or qkd-otp) uplink"
                )
        return self

    @model_validator(mode="after")
    def _adversaries_fit(self) -> ExperimentConfig:
        n = self.data.num_clients
        for i, sc in enumerate(self.resolved_scenarios()):
            seen: set[int] = set()
            for a in sc.adversaries:
                for k in a.clients:
                    if k >= n:
                        raise ValueError(
                            f"scenarios.{i}.adversaries: client {k} does not exist; clients "
                            f"are 0..{n - 1} (data.num_clients = {n})"
                        )
                    if k in seen:
                        raise ValueError(f"scenarios.{i}.adversaries: client {k} appears twice")
                    seen.add(k)
        return self

    @model_validator(mode="after")
    def _masking_fits_uplink(self) -> ExperimentConfig:
        # masked values are 24-bit integers: a lossy fixed-point encoding would scramble them
        for i, sc in enumerate(self.resolved_scenarios()):
            bits = getattr(sc.uplink, "bits", None)
            if sc.privacy.secure_aggregation and bits is not None and bits < 25:
                raise ValueError(
                    f"scenarios.{i}: secure_aggregation sends 24-bit masked integers, but the "
                    f"{sc.uplink.kind!r} uplink encodes {bits} bits per value; use bits >= 25 "
                    "(with fec for a noisy link) or a plain/aead uplink"
                )
        return self

    def resolved_scenarios(self) -> list[Scenario]:
        """The scenarios to run, with every channel filled in."""
        if self.scenarios is None:
            return [
                Scenario(
                    "default",
                    self.channel,
                    self.channel,
                    privacy=self.privacy,
                    compression=self.compression,
                    network=self.network,
                )
            ]
        out = []
        for s in self.scenarios:
            both = s.channel or self.channel
            up, down = s.uplink or both, s.downlink or both
            privacy = s.privacy or self.privacy
            compression = s.compression or self.compression
            out.append(
                Scenario(
                    s.name,
                    up,
                    down,
                    tuple(s.eavesdroppers),
                    privacy=privacy,
                    compression=compression,
                    adversaries=tuple(s.adversaries),
                    strategy=s.strategy,
                    # the top-level network serves the quantum uplinks (a classical baseline
                    # beside them ignores it); a scenario's own section needs one
                    network=merge_network(self.network if up.quantum else None, s.network),
                )
            )
        return out

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of this configuration (defaults included)."""
        # training.workers changes speed, never results: a run resumes with any value
        canonical = self.model_dump_json(exclude={"training": {"workers"}})
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
    except RecursionError:  # pragma: no cover - the YAML loader bounds nesting first
        raise InputError("invalid configuration: nested too deeply") from None


def load_config(path: str | Path, *, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read and validate a YAML configuration file (bounded: :mod:`qtfl.experiments.loader`),
    after applying ``overrides`` (``key.path=value`` strings of ``qtfl run --set``; see
    :func:`apply_overrides`).

    An empty file is an error, not the default job: a run never starts from a file that
    says nothing.
    """
    p = Path(path)
    raw = load_yaml(p)
    if raw is None or raw == {}:
        raise InputError(
            f"configuration file {p} is empty; give at least one section (e.g. training: "
            "{rounds: 30}) — every omitted key takes its documented default"
        )
    if overrides:
        if not isinstance(raw, Mapping):
            raise InputError(f"configuration file {p} must be a mapping of sections")
        raw = apply_overrides(raw, overrides)
    return parse_config(raw)


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``key.path=value`` override set.

    The value is parsed as one YAML scalar or flow collection (``30``, ``0.5``, ``true``,
    ``null``, ``teleport``, ``{preset: shen2023}``, ``[0, 1]``) and validated with the rest
    of the file by the configuration model. The key path walks mappings by key and lists by
    index (``scenarios.1.uplink.fec=auto``); missing mappings are created.

    >>> apply_overrides({"training": {"rounds": 30}}, ["training.rounds=2", "seed=7"])
    {'training': {'rounds': 2}, 'seed': 7}

    Raises:
        InputError: no ``=``, an empty key, a key unknown to the configuration model, an
            index outside a list, or a value that is not YAML.
    """
    out: dict[str, Any] = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise InputError(f"--set {item!r}: expected key.path=value, e.g. training.rounds=5")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise InputError(f"--set {item!r}: the value is not valid YAML ({exc})") from None
        _check_key_path(parts, item)
        node: Any = out
        for depth, part in enumerate(parts[:-1]):
            node = _child(node, part, parts[: depth + 1], item)
        last = parts[-1]
        if isinstance(node, list):
            node[_index(node, last, parts, item)] = value
        else:
            node[last] = value
    return out


def _child(node: Any, part: str, path: list[str], item: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, path, item)]
    if not isinstance(node, dict):
        raise InputError(f"--set {item!r}: {'.'.join(path[:-1])} is a value, not a section")
    if node.get(part) is None:
        node[part] = {}
    return node[part]


def _index(node: list[Any], part: str, path: list[str], item: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        where = ".".join(path[:-1]) or "configuration"
        raise InputError(f"--set {item!r}: {where} is a list of {len(node)}; use an index "
                         f"0..{len(node) - 1}")  # fmt: skip
    return int(part)


def _check_key_path(parts: list[str], item: str) -> None:
    """Refuse a key the configuration model does not know, naming the allowed keys there.

    Sections chosen by ``kind`` (channels) are checked when the whole file is validated.
    """
    model: type[BaseModel] | None = ExperimentConfig
    for depth, part in enumerate(parts):
        if model is None:
            return
        if part.isdigit():
            continue
        if part not in model.model_fields:
            where = ".".join(parts[:depth]) or "the top level"
            known = ", ".join(model.model_fields)
            raise InputError(
                f"--set {item!r}: unknown key {'.'.join(parts[: depth + 1])!r}; "
                f"allowed keys at {where}: {known}"
            )
        annotation = model.model_fields[part].annotation
        model = None if _is_channel_union(annotation) else _model_in(annotation)


def _is_channel_union(annotation: Any) -> bool:
    return sum(1 for a in get_args(annotation) if _model_in(a) is not None) > 1 or any(
        _is_channel_union(a) for a in get_args(annotation)
    )


def format_validation_error(exc: ValidationError) -> str:
    """One line per pydantic error: ``field.path: problem (allowed ...)``."""
    lines = []
    errors = exc.errors()
    for err in errors[:MAX_REPORTED_ERRORS]:
        loc = tuple(_short_part(p) for p in err["loc"])
        path = ".".join(str(p) for p in loc) or "configuration"
        if err["type"] == "union_tag_invalid":
            got = short_repr((err.get("ctx") or {}).get("tag"))
            lines.append(f"{path}.kind: unknown channel kind {got}; allowed: " +
                         ", ".join(CHANNEL_KINDS))  # fmt: skip
            continue
        if err["type"] == "extra_forbidden" and len(loc) >= 2 and loc[-2] in CHANNEL_MODELS:
            kind, key = loc[-2], loc[-1]
            where = ".".join(str(p) for p in loc[:-2])
            options = ", ".join(CHANNEL_MODELS[str(kind)].model_fields)
            lines.append(f"{where}: option {key!r} does not apply to channel kind {kind!r}; "
                         f"allowed options: {options}")  # fmt: skip
            continue
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            lines.append(f"unknown key {path!r}; allowed keys there: {', '.join(allowed)}")
            continue
        msg = str(err["msg"]).removeprefix("Value error, ")
        path = ".".join(str(p) for p in loc if p not in CHANNEL_MODELS) or "configuration"
        if err["type"] in ("value_error", "assertion_error"):
            lines.append(f"{path}: {msg}" if loc else msg)
        else:
            lines.append(f"{path}: {msg}, got {short_repr(err.get('input'))}")
    if len(errors) > MAX_REPORTED_ERRORS:
        lines.append(f"and {len(errors) - MAX_REPORTED_ERRORS:,} more problems")
    return "invalid configuration: " + "; ".join(lines)


MAX_REPORTED_ERRORS = 10
"""Most problems listed in one configuration error (the rest are counted)."""


def _short_part(part: Any) -> Any:
    """A field-path element as echoed in messages: long keys are cut to 40 characters."""
    if isinstance(part, str) and len(part) > 40:
        return part[:37] + "..."
    return part


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = ExperimentConfig
    for part in loc:
        if isinstance(part, str) and part in CHANNEL_MODELS:  # the union member pydantic tried
            model = CHANNEL_MODELS[part]
            continue
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
