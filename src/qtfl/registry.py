"""One registry of the names a user types: channel kinds, eavesdroppers, privacy attacks,
strategies, models, data sets, engines.

Every entry point — the experiment file (:mod:`qtfl.experiments.config`), the command line
(:mod:`qtfl.cli`), the library factories (:func:`qtfl.models.build_model`,
:func:`qtfl.data.load_dataset`, :func:`qtfl.fl.strategies.make_strategy`,
:func:`qtfl.security.eavesdropper.make_eavesdropper`, :func:`qtfl.attacks.assessment.
build_channel`) and the Flower engine — takes its names from here, so one concept has one
name everywhere. This module imports nothing heavy: the command line builds its typed
choices from it before any torch or stim import.

Three families of attackers, named so they cannot be confused:

* **eavesdroppers** (:data:`EAVESDROPPERS`) attack the quantum link: they hold or measure
  Bell pairs and tap the classical channel (``qtfl security ...``; ``eavesdroppers:`` in a
  scenario; ``--eavesdropper`` on the command line);
* **privacy attacks** (:data:`PRIVACY_ATTACKS`) reconstruct training data from what an
  observer (:data:`OBSERVERS`) sees of an update or model (``qtfl privacy ...``;
  ``attacks:`` in an experiment file);
* **poisoning attacks** (:data:`POISONING_ATTACKS`) are malicious clients corrupting the model
  (``adversaries:`` in a scenario).

>>> "teleport" in CHANNEL_KINDS
True
>>> canonical_channel("teleportation")
'teleport'
"""

from __future__ import annotations

from typing import Final

from qtfl.errors import require_choice

CHANNEL_KINDS: Final[tuple[str, ...]] = ("plain", "aead", "pqc", "teleport", "qkd-otp")
"""Channel kinds: classical plaintext, AES-256-GCM, post-quantum hybrid key exchange + AES-GCM,
verify-then-teleport, BBM92 key + one-time pad (``kind:`` of a channel section,
``--channel`` of ``qtfl privacy invert``)."""

CHANNEL_ALIASES: Final[dict[str, str]] = {"teleportation": "teleport"}
"""Former names still accepted on input (deprecated); outputs always use the canonical name."""

ENCODINGS: Final[tuple[str, ...]] = ("basis", "angle", "amplitude", "float32")
"""How a teleport channel puts update values on qubits (``encoding:`` of a teleport section,
:data:`qtfl.quantum.encoding.ENCODINGS`): b-bit fixed point, one qubit per value read out from
``shots`` copies, ``ceil(log2 d) + 1`` qubits per copy of the whole update, and the exact
IEEE-754 bits of each float32."""

QEC_CODES: Final[tuple[str, ...]] = ("none", "bit-flip", "phase-flip", "shor", "five-qubit")
"""Quantum error-correcting codes protecting each teleported payload qubit (``qec:`` of a
teleport section; :data:`qtfl.quantum.qec.CODES`)."""

EAVESDROPPERS: Final[tuple[str, ...]] = ("none", "tap", "intercept-resend", "mitm")
"""Eavesdroppers on a quantum link (:mod:`qtfl.security.eavesdropper`)."""

LINK_EAVESDROPPERS: Final[tuple[str, ...]] = ("intercept-resend", "mitm")
"""Eavesdroppers that touch the pairs (and so can be caught by check pairs)."""

EAVESDROPPER_BASES: Final[tuple[str, ...]] = ("z", "x", "random")
"""Measurement basis of an intercept-resend eavesdropper."""

OBSERVERS: Final[tuple[str, ...]] = ("server", "tap", "intercept-resend")
"""Who runs a privacy attack on one client's update: the curious server (decoded update), a
classical wire tap, or an intercept-resend eavesdropper on the pairs (plus the tap)."""

INVERSION_METHODS: Final[tuple[str, ...]] = ("analytic", "dlg", "idlg", "ig")
"""Gradient-inversion attacks (:mod:`qtfl.attacks.inversion`)."""

MEMBERSHIP_ATTACKS: Final[tuple[str, ...]] = ("loss", "lira")
"""Membership-inference attacks (:mod:`qtfl.attacks.membership`)."""

MEMBERSHIP_TARGETS: Final[tuple[str, ...]] = ("global", "client")
"""What a membership attack queries: the global model or one client's update."""

PRIVACY_ATTACKS: Final[dict[str, tuple[str, ...]]] = {
    "inversion": INVERSION_METHODS,
    "membership": MEMBERSHIP_ATTACKS,
}
"""Privacy attacks by family (``qtfl privacy invert`` / ``qtfl privacy membership``)."""

POISONING_ATTACKS: Final[tuple[str, ...]] = (
    "sign-flip",
    "scaling",
    "gaussian",
    "alie",
    "label-flip",
    "backdoor",
)
"""Attacks of malicious clients on the model (``adversaries: [{attack: ...}]`` of a scenario;
:mod:`qtfl.attacks.poisoning`): model poisoning, then data poisoning."""

STRATEGIES: Final[tuple[str, ...]] = (
    "fedavg",
    "fedprox",
    "fedadam",
    "fedyogi",
    "median",
    "trimmed-mean",
    "krum",
    "multi-krum",
    "norm-bounding",
)
"""Aggregation strategies (:func:`qtfl.fl.strategies.make_strategy`)."""

MODELS: Final[tuple[str, ...]] = ("logreg", "mlp", "lenet", "convnet", "vqc")
"""Models (:func:`qtfl.models.build_model`)."""

DATASETS: Final[tuple[str, ...]] = (
    "digits",
    "fashion-mnist",
    "mnist",
    "cifar10",
    "digits-pca",
    "qdataset",
)
"""Data sets (:func:`qtfl.data.load_dataset`)."""

FETCHABLE_DATASETS: Final[tuple[str, ...]] = ("mnist", "fashion-mnist", "cifar10")
"""Data sets ``qtfl data fetch`` downloads (:data:`qtfl.data.sources.FETCHABLE`)."""

QDATASET_EVOLUTIONS: Final[tuple[str, ...]] = ("faithful", "exact")
"""QDataSet propagator discretisations (``qtfl qdataset generate --evolution``)."""

IMAGE_DATASETS: Final[tuple[str, ...]] = ("digits", "fashion-mnist", "mnist", "cifar10")
"""Data sets of images (what a gradient-inversion attack reconstructs)."""

DP_PLACEMENTS: Final[tuple[str, ...]] = ("server", "client")
"""Where DP-FedAvg adds its noise: after aggregation (central) or on each client (local)."""

DEFAULT_DP_PLACEMENT: Final = "server"
"""The one default placement (experiment file and every command)."""

ENGINES: Final[tuple[str, ...]] = ("inprocess", "flower-sim", "flower-deploy")
"""Engines of ``qtfl run``: the in-process engine, Flower's simulation, Flower deployed."""

PURIFICATION_PROTOCOLS: Final[tuple[str, ...]] = ("dejmps", "bbpssw")
"""Entanglement purification protocols (:mod:`qtfl.quantum.purification`)."""

DEFAULT_MAX_PURIFICATION_ROUNDS: Final = 10
"""The one default of ``--max-rounds`` (purification round limit) across commands."""

DEFAULT_EAVESDROPPER_FRACTION: Final = 1.0
"""The one default share of pairs an eavesdropper attacks (config and every command)."""

COMPRESSIONS: Final[tuple[str, ...]] = ("none", "quantize", "topk", "sign")
"""Update compression kinds (``compression.kind``)."""

FEC_CHOICES: Final[tuple[str, ...]] = (
    "none",
    "auto",
    "ldpc-1/4",
    "ldpc-1/3",
    "ldpc-1/2",
    "ldpc-3/5",
    "ldpc-2/3",
    "ldpc-3/4",
    "ldpc-5/6",
    "ldpc-9/10",
)
"""Payload FEC: none, the best code for the link (auto), or an LDPC code by rate
(:mod:`qtfl.channel.fec`)."""

LINK_PRESETS: Final[tuple[str, ...]] = (
    "valivarthi2020",
    "shen2023",
    "sun2016",
    "ren2017",
    "borowska2026",
    "borowska2026-traffic",
    "thomas2024",
)
"""Published links (:data:`qtfl.network.presets.PRESETS`; ``qtfl link --list``)."""


def canonical_channel(name: str) -> str:
    """The canonical channel kind of ``name`` (accepts the deprecated aliases).

    Raises:
        InputError: ``name`` is no channel kind; the message lists :data:`CHANNEL_KINDS`.
    """
    return require_choice("channel kind", CHANNEL_ALIASES.get(name, name), CHANNEL_KINDS)


__all__ = [
    "CHANNEL_ALIASES",
    "CHANNEL_KINDS",
    "COMPRESSIONS",
    "DATASETS",
    "DEFAULT_DP_PLACEMENT",
    "DEFAULT_EAVESDROPPER_FRACTION",
    "DEFAULT_MAX_PURIFICATION_ROUNDS",
    "DP_PLACEMENTS",
    "EAVESDROPPERS",
    "EAVESDROPPER_BASES",
    "ENGINES",
    "FEC_CHOICES",
    "FETCHABLE_DATASETS",
    "IMAGE_DATASETS",
    "INVERSION_METHODS",
    "LINK_EAVESDROPPERS",
    "LINK_PRESETS",
    "MEMBERSHIP_ATTACKS",
    "MEMBERSHIP_TARGETS",
    "MODELS",
    "OBSERVERS",
    "POISONING_ATTACKS",
    "PRIVACY_ATTACKS",
    "QDATASET_EVOLUTIONS",
    "STRATEGIES",
    "canonical_channel",
]
