"""Channel sections of an experiment file: one pydantic model per channel ``kind``.

A scenario's ``uplink``/``downlink``/``channel`` is one of

* ``{kind: plain, latency_s, bandwidth_bps}`` — :class:`~qtfl.channel.PlainChannel`;
* ``{kind: aead, latency_s, bandwidth_bps}`` — AES-256-GCM (:class:`~qtfl.channel.AeadChannel`)
  under the link's key (HKDF of the run secret, never the seed; nonces from the same secret);
* ``{kind: pqc, latency_s, bandwidth_bps}`` — hybrid X25519 + ML-KEM-768 key exchange per
  update feeding AES-256-GCM (:class:`~qtfl.channel.pqc.PqcChannel`), keys from the OS CSPRNG;
* ``{kind: teleport, link, bits, check_fraction, alpha, max_retries, purify_to, fec,
  max_retransmissions, encoding, shots, qec}`` —
  :class:`~qtfl.channel.teleportation.TeleportationChannel`; ``encoding`` (``basis``,
  ``float32``, ``angle``, ``amplitude``), ``shots`` and ``qec`` left at their defaults are
  omitted from the configuration's canonical form, so files written before them keep their
  :meth:`~qtfl.experiments.config.ExperimentConfig.config_hash`;
* ``{kind: qkd-otp, link, bits, sample_fraction, max_blocks, purify_to, reconciliation
  (ldpc | cascade), qber_tolerance, privacy_amplification (multiply-add-shift | toeplitz),
  eps_sec, eps_cor, eps_rob}`` — :class:`~qtfl.channel.qkd.QkdOtpChannel` (the names of
  :class:`~qtfl.channel.qkd.QkdSettings`); ``privacy_amplification`` and the three ``eps_*``
  left at their defaults are omitted from the canonical form.

Each model forbids keys it does not know, so an option given to a kind it does not apply to
(``fec`` on ``plain``) is refused before any training, naming the option and the kind. A
``link`` is a published preset (``{preset: shen2023}``, optionally with overrides such as
``source_rate_hz``), physical fiber parameters (``{distance_km: 50, source_fidelity: 0.95,
source_rate_hz: 1e6}``, :class:`~qtfl.network.FiberLink`), or a pair given directly
(``{fidelity: 0.95, pair_rate_hz: 1e6, latency_s: 0.0}``, a Werner pair).

Unknown link rates. Most published links state no pair rate; qtfl never invents one. Such a
link's channel still runs (its pairs are simulated exactly) but its link seconds are unknown:
:attr:`ChannelConfigBase.rate_known` is False and the run reports that scenario's link
seconds as ``null``. Supply ``source_rate_hz`` (preset or fiber) or ``pair_rate_hz``
(direct pair) to get times.

Secrets. :meth:`ChannelConfigBase.build` takes the link's
:class:`~qtfl.security.run_secret.LinkSecret` (``None``: a fresh random one); the run
derives it from its run secret per scenario, direction and client. On a node that is not an
end of a link (a Flower client node, for other clients' links) :func:`build_channel` returns
an :class:`UnavailableChannel` that refuses to send.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from qtfl import registry
from qtfl.channel import AeadChannel, Channel, Delivery, PlainChannel
from qtfl.channel.fec import FEC_CHOICES
from qtfl.channel.verified import LinkSpec, PairLink
from qtfl.errors import InputError, require_choice
from qtfl.experiments.loader import ConfigSection
from qtfl.network.link import FiberLink
from qtfl.network.presets import PRESETS, get_preset
from qtfl.quantum.noise import WernerPair
from qtfl.security.eavesdropper import Eavesdropper
from qtfl.security.run_secret import LinkSecret

CHANNEL_KINDS = registry.CHANNEL_KINDS
_FIBER_KEYS = (
    "distance_km",
    "attenuation_db_per_km",
    "extra_loss_db",
    "source",
    "source_rate_hz",
    "source_fidelity",
    "detector_efficiency",
    "heralded",
    "memory_t2_s",
)


_Section = ConfigSection


MIN_PAIR_SUCCESS = 1e-30
"""Smallest heralded-pair success probability per source pulse a link may have: below it
(e.g. 1,500 km of 0.2 dB/km fiber) no pair arrives in the lifetime of a run, and far below it
the transmissivity underflows to 0 and the link's pair rate with it."""


class LinkConfig(_Section):
    """A quantum link: ``preset`` (+ overrides), fiber parameters, or a direct ``fidelity``."""

    preset: str | None = None
    fidelity: float | None = Field(default=None, ge=0.25, le=1.0)
    pair_rate_hz: float | None = Field(default=None, gt=0)
    latency_s: float | None = Field(default=None, ge=0)
    distance_km: float | None = Field(default=None, ge=0)
    attenuation_db_per_km: float | None = Field(default=None, ge=0)
    extra_loss_db: float | None = Field(default=None, ge=0)
    source: Literal["end", "midpoint"] | None = None
    source_rate_hz: float | None = Field(default=None, gt=0)
    source_fidelity: float | None = Field(default=None, ge=0.25, le=1.0)
    detector_efficiency: float | None = Field(default=None, gt=0, le=1)
    heralded: bool | None = None
    memory_t2_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_way(self) -> LinkConfig:
        fiber = [k for k in _FIBER_KEYS if getattr(self, k) is not None]
        if self.preset is not None:
            require_choice("preset", self.preset, PRESETS)
        if self.fidelity is not None:
            if self.preset is not None or fiber:
                extra = "preset" if self.preset is not None else fiber[0]
                raise InputError(
                    f"link: 'fidelity' gives the pair directly and excludes {extra!r}; use "
                    "either {fidelity, pair_rate_hz, latency_s} or a preset / fiber parameters"
                )
        else:
            direct = [k for k in ("pair_rate_hz", "latency_s") if getattr(self, k) is not None]
            if direct:
                raise InputError(
                    f"link: {direct[0]!r} applies only to a pair given by 'fidelity'; for a "
                    "preset or fiber use source_rate_hz (and the fiber's own latency)"
                )
            if self.preset is None and self.distance_km is None:
                raise InputError(
                    "link needs 'preset' (one of " + ", ".join(PRESETS) + "), "
                    "'distance_km' with fiber parameters, or 'fidelity'"
                )
        built = self.build()  # a preset lacking a published figure fails here, before training
        fl = self._fiber()
        if fl is not None and not fl.success_probability >= MIN_PAIR_SUCCESS:
            raise InputError(
                f"link: {fl.distance_km:g} km of fiber at {fl.attenuation_db_per_km:g} dB/km "
                f"(+{fl.extra_loss_db:g} dB) delivers a pair with probability "
                f"{fl.success_probability:.3g} per pulse, below {MIN_PAIR_SUCCESS:g}: no pair "
                "would arrive; shorten distance_km or use a repeater chain"
            )
        rate = built.pair_rate_hz
        if rate is not None and not (rate > 0 and np.isfinite(rate)):
            raise InputError(f"link: pair rate must be positive and finite, got {rate}")
        return self

    def _fiber(self) -> FiberLink | None:
        """The fiber link of a preset or fiber parameters (``None`` for a direct pair)."""
        if self.fidelity is not None:
            return None
        given = {k: getattr(self, k) for k in _FIBER_KEYS if getattr(self, k) is not None}
        if self.preset is not None:
            return get_preset(self.preset).link(**given)
        return FiberLink(**given)

    def build(self) -> PairLink:
        """The compiled link (:class:`~qtfl.network.link.CompiledLink` or a LinkSpec)."""
        if self.fidelity is not None:
            return LinkSpec(WernerPair(self.fidelity), self.pair_rate_hz, self.latency_s or 0.0)
        given = {k: getattr(self, k) for k in _FIBER_KEYS if getattr(self, k) is not None}
        if self.preset is not None:
            return get_preset(self.preset).link(**given).compile()
        return FiberLink(**given).compile()


class ChannelConfigBase(_Section):
    @property
    def rate_known(self) -> bool:
        """False when the channel's quantum link has no known pair rate (times unknown)."""
        return True

    @property
    def quantum(self) -> bool:
        """True for channels whose pairs an eavesdropper can attack."""
        return False

    def build(
        self,
        client: int = 0,
        *,
        secret: LinkSecret | None = None,
        eavesdropper: Eavesdropper | None = None,
    ) -> Channel:
        """The Channel of ``client``'s link; ``secret`` is the key its two ends share."""
        raise NotImplementedError


class PlainChannelConfig(ChannelConfigBase):
    """Classical plaintext (:class:`qtfl.channel.PlainChannel`)."""

    kind: Literal["plain"] = "plain"
    latency_s: float = Field(default=0.0, ge=0)
    bandwidth_bps: float | None = Field(default=None, gt=0)

    def build(
        self,
        client: int = 0,
        *,
        secret: LinkSecret | None = None,
        eavesdropper: Eavesdropper | None = None,
    ) -> Channel:
        return PlainChannel(latency_s=self.latency_s, bandwidth_bps=self.bandwidth_bps)


class AeadChannelConfig(ChannelConfigBase):
    """AES-256-GCM under the link secret's ``"aead"`` subkey; nonces from the link secret."""

    kind: Literal["aead"]
    latency_s: float = Field(default=0.0, ge=0)
    bandwidth_bps: float | None = Field(default=None, gt=0)

    def build(
        self,
        client: int = 0,
        *,
        secret: LinkSecret | None = None,
        eavesdropper: Eavesdropper | None = None,
    ) -> Channel:
        link = secret if secret is not None else LinkSecret()
        return AeadChannel(
            key=link.subkey("aead"),
            nonce_secret=link,
            latency_s=self.latency_s,
            bandwidth_bps=self.bandwidth_bps,
        )


class PqcChannelConfig(ChannelConfigBase):
    """Hybrid X25519 + ML-KEM-768 key exchange per update, then AES-256-GCM
    (:class:`qtfl.channel.pqc.PqcChannel`); keys from the OS CSPRNG, never the seed."""

    kind: Literal["pqc"]
    latency_s: float = Field(default=0.0, ge=0)
    bandwidth_bps: float | None = Field(default=None, gt=0)

    def build(
        self,
        client: int = 0,
        *,
        secret: LinkSecret | None = None,
        eavesdropper: Eavesdropper | None = None,
    ) -> Channel:
        from qtfl.channel.pqc import PqcChannel

        return PqcChannel(latency_s=self.latency_s, bandwidth_bps=self.bandwidth_bps)


class _QuantumChannelBase(ChannelConfigBase):
    link: LinkConfig
    bits: int = Field(default=16, ge=2, le=32)
    purify_to: float | None = Field(default=None, ge=0.25, le=1.0)

    @property
    def rate_known(self) -> bool:
        return self.link.build().pair_rate_hz is not None

    @property
    def quantum(self) -> bool:
        return True

    @model_validator(mode="after")
    def _buildable(self) -> Any:
        self.build(0)  # unreachable purification target, unusable FEC code, QBER > 11%
        return self


class TeleportChannelConfig(_QuantumChannelBase):
    """Verify-then-teleport with optional purification, FEC and QEC, in any encoding."""

    kind: Literal["teleport"]
    check_fraction: float = Field(default=0.1, gt=0, lt=1)
    alpha: float = Field(default=0.01, gt=0, lt=1)
    max_retries: int = Field(default=2, ge=0, le=100)
    fec: str = "none"
    max_retransmissions: int = Field(default=8, ge=0, le=1000)
    encoding: str = Field(
        default="basis",
        exclude_if=lambda v: v == "basis",
        description=(
            "How values go on qubits: basis (bits-bit fixed point, a qubit per bit), float32 "
            "(the exact IEEE-754 bits, 32 qubits per value: a teleported downlink equal to "
            "plaintext at F = 1), angle (a qubit per value) or amplitude (ceil(log2 d) + 1 "
            "qubits for d values); angle and amplitude are read out from 'shots' copies."
        ),
    )
    shots: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        exclude_if=lambda v: v is None,
        description="Copies per readout of the angle/amplitude encodings (default 1024).",
    )
    qec: str = Field(
        default="none",
        exclude_if=lambda v: v == "none",
        description=(
            "Quantum code protecting each payload qubit: none, bit-flip, phase-flip, shor or "
            "five-qubit; the ledger counts every physical pair. Combines with fec (FEC over "
            "the decoded bits) and purify_to."
        ),
    )

    @model_serializer(mode="wrap")
    def _without_unused_bits(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Leave ``bits`` out for encodings that do not take it, so the canonical form
        (``config.json``) parses again."""
        data = handler(self)
        if self.encoding != "basis" and isinstance(data, dict):
            data.pop("bits", None)
        return data

    @model_validator(mode="before")
    @classmethod
    def _known_names(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            if "fec" in raw:
                require_choice("fec", raw["fec"], FEC_CHOICES)
            if "encoding" in raw:
                require_choice("encoding", raw["encoding"], registry.ENCODINGS)
            if "qec" in raw:
                require_choice("qec", raw["qec"], registry.QEC_CODES)
            if "bits" in raw and raw.get("encoding", "basis") != "basis":
                raise InputError(
                    f"teleport: 'bits' sets the basis encoding's fixed point; the "
                    f"{raw['encoding']} encoding does not take it (float32 sends 32 bits per "
                    "value; angle/amplitude take 'shots')"
                )
        return raw

    def build(
        self,
        client: int = 0,
        *,
        secret: LinkSecret | None = None,
        eavesdropper: Eavesdropper | None = None,
    ) -> Channel:
        from qtfl.channel.teleportation import TeleportationChannel, Verification

        return TeleportationChannel(
            self.link.build(),
            bits=self.bits,
            encoding=self.encoding,
            shots=self.shots,
            qec=self.qec,
            verification=Verification(
                check_fraction=self.check_fraction, alpha=self.alpha, max_retries=self.max_retries
            ),
            eavesdropper=eavesdropper,
            purify_to=self.purify_to,
            fec=self.fec,
            max_retransmissions=self.max_retransmissions,
            secret=secret,
        )


def _probability_setting(default: float, description: str) -> Any:
    """A field in (0, 1) left out of the canonical form (and the config hash) at its default,
    so that files written before it keep their hash."""
    return Field(
        default=default,
        gt=0,
        lt=1,
        exclude_if=lambda v: v == default,
        description=description,
    )


class QkdOtpChannelConfig(_QuantumChannelBase):
    """BBM92 key over the link (optionally purified), then a one-time pad."""

    kind: Literal["qkd-otp"]
    sample_fraction: float = Field(default=0.1, gt=0, lt=1)
    max_blocks: int = Field(default=4, ge=1, le=1000)
    reconciliation: Literal["ldpc", "cascade"] = "ldpc"
    qber_tolerance: float | None = Field(default=None, gt=0, le=0.110028)
    privacy_amplification: Literal["multiply-add-shift", "toeplitz"] = Field(
        default="multiply-add-shift",
        exclude_if=lambda v: v == "multiply-add-shift",
        description=(
            "Two-universal hash that shortens the reconciled key to its finite-key length: "
            "multiply-add-shift (strongly universal, one big-integer multiplication; the "
            "default) or toeplitz (a random binary Toeplitz matrix, one FFT convolution). "
            "Both give the same key length; the seed is public and counted in the ledger."
        ),
    )

    eps_sec: float = _probability_setting(
        1e-10,
        "Secrecy parameter of the finite-key length (Tomamichel et al. 2012): the key is "
        "eps_sec-close to uniform and independent of the eavesdropper.",
    )
    eps_cor: float = _probability_setting(
        1e-15,
        "Correctness parameter: the two ends' keys differ with probability at most eps_cor "
        "(sets the verification hash, ceil(log2(1/eps_cor)) bits).",
    )
    eps_rob: float = _probability_setting(
        1e-10,
        "Robustness: the largest probability with which an honest link aborts a key block; "
        "sets each block's tolerated QBER when qber_tolerance is unset.",
    )

    def build(
        self,
        client: int = 0,
        *,
        secret: LinkSecret | None = None,
        eavesdropper: Eavesdropper | None = None,
    ) -> Channel:
        from qtfl.channel.qkd import QkdOtpChannel, QkdSettings
        from qtfl.channel.verified import PurifiedLink
        from qtfl.quantum.purification import purify_until

        link = self.link.build()
        if self.purify_to is not None:
            link = PurifiedLink(link, purify_until(link.pair, target_fidelity=self.purify_to))
        settings = QkdSettings(
            sample_fraction=self.sample_fraction,
            max_blocks=self.max_blocks,
            reconciliation=self.reconciliation,
            qber_tolerance=self.qber_tolerance,
            privacy_amplification=self.privacy_amplification,
            eps_sec=self.eps_sec,
            eps_cor=self.eps_cor,
            eps_rob=self.eps_rob,
        )
        channel = QkdOtpChannel(
            link, bits=self.bits, settings=settings, eavesdropper=eavesdropper, secret=secret
        )
        if channel.pairs_for_key(self.bits) is None:
            raise InputError(
                f"qkd-otp: this reconciliation yields no key at the link's QBER "
                f"{link.pair.qber:.4f} ({self.reconciliation}); purify the pairs first (purify_to)"
            )
        return channel


class UnavailableChannel(Channel):
    """The channel of a link this node is no end of: it holds none of its secrets."""

    name = "unavailable"

    def __init__(self, client: int) -> None:
        self.client = client

    def _send(self, update: Any, *, rng: np.random.Generator) -> Delivery:
        raise InputError(f"this node is not an end of client {self.client}'s link")


def build_channel(
    config: ChannelConfigBase,
    client: int,
    *,
    secret: LinkSecret | None,
    eavesdropper: Eavesdropper | None = None,
) -> Channel:
    """``config.build(...)``, or an :class:`UnavailableChannel` if ``secret`` is not held here."""
    if secret is not None and not secret.available:
        return UnavailableChannel(client)
    return config.build(client, secret=secret, eavesdropper=eavesdropper)


def _default_kind(raw: Any) -> Any:
    """A channel section without ``kind`` is ``plain`` (files written before other kinds)."""
    if isinstance(raw, dict) and "kind" not in raw:
        return {"kind": "plain", **raw}
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if isinstance(kind, str) and kind in registry.CHANNEL_ALIASES:  # deprecated names
        return {**raw, "kind": registry.CHANNEL_ALIASES[raw["kind"]]}
    return raw


ChannelConfig = Annotated[
    PlainChannelConfig
    | AeadChannelConfig
    | PqcChannelConfig
    | TeleportChannelConfig
    | QkdOtpChannelConfig,
    Field(discriminator="kind"),
    BeforeValidator(_default_kind),
]
"""Every channel section: a discriminated union on ``kind``."""

CHANNEL_MODELS: dict[str, type[BaseModel]] = {
    "plain": PlainChannelConfig,
    "aead": AeadChannelConfig,
    "pqc": PqcChannelConfig,
    "teleport": TeleportChannelConfig,
    "qkd-otp": QkdOtpChannelConfig,
}


class EavesdropperConfig(_Section):
    """An eavesdropper on the uplink pair distribution of some clients (``qtfl.security``).

    ``kind`` is one of :data:`qtfl.registry.EAVESDROPPERS` except ``none`` (``attack`` is
    accepted as its former name); ``fraction`` (default 1) applies to ``intercept-resend``
    and ``mitm``, ``basis`` (default ``random``) to ``intercept-resend`` only — an option
    given to a kind it does not apply to is refused.
    """

    clients: list[Annotated[int, Field(ge=0, le=100_000)]] = Field(min_length=1, max_length=100_000)
    kind: str = Field(
        validation_alias=AliasChoices("kind", "attack"),
        description="Eavesdropper: tap, intercept-resend or mitm (formerly the key 'attack').",
    )
    fraction: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Share of pairs attacked (intercept-resend, mitm); default 1.",
    )
    basis: Literal["z", "x", "random"] | None = Field(
        default=None, description="Measurement basis (intercept-resend only); default random."
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        return require_choice("eavesdropper", v, registry.EAVESDROPPERS[1:])

    @model_validator(mode="after")
    def _options_apply(self) -> EavesdropperConfig:
        self.build()
        return self

    def build(self) -> Eavesdropper:
        from qtfl.security.eavesdropper import make_eavesdropper

        return make_eavesdropper(self.kind, fraction=self.fraction, basis=self.basis)


def scenario_channel_seed(seed: int, name: str) -> int:
    """Seed of a scenario's channel streams: the run seed mixed with the scenario name, so
    scenarios share sampling, batches and initial model but not channel randomness."""
    digest = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")
    ss = np.random.SeedSequence([seed, digest])
    return int(ss.generate_state(1, dtype=np.uint64)[0] % (2**63))
