"""The ``network:`` section of an experiment file: a link per client and the quantum server.

At the top level (every scenario with a quantum uplink; a classical baseline beside them
ignores it) or in a scenario (its keys replace the top level's)::

    network:
      clients:                     # per-client values of the uplink's link keys
        distance_km: {uniform: [5, 100]}     # drawn with the run seed
        memory_t2_s: 1.0                     # one value for every client
        preset: [shen2023, valivarthi2020, ...]   # or a list, one per client
      repeaters: {spacing_km: 50}            # a repeater node every 50 km for far clients
      server: {channels: 4, policy: round-robin, memory_t2_s: 1.0, deadline_s: null}

``clients`` overrides, per client, keys of the scenario uplink's ``link`` (:class:`~qtfl.
experiments.channels.LinkConfig`): ``preset``, ``distance_km``, ``fidelity``,
``pair_rate_hz``, ``source_fidelity``, ``source_rate_hz``, ``attenuation_db_per_km``,
``extra_loss_db``, ``detector_efficiency`` and ``memory_t2_s`` (the client's memory: it
dephases the client's half while the server collects the batch; for a fiber link it is also
the link's own memory). Each is a value for every client, a list of exactly
``data.num_clients`` values, ``{uniform: [low, high]}`` or ``{choice: [a, b, ...]}``. Draws
come from the run seed in the order of the keys above, so every scenario of a run sees the
same network and a run is reproduced by its seed (the network is science, not a secret).

``repeaters``: a client farther than ``spacing_km`` reaches the server through a repeater
chain of ``ceil(L / spacing_km)`` equal segments (:class:`~qtfl.network.fleet.RepeaterRule`;
a power of two with ``purification_rounds``), evaluated by
:class:`~qtfl.network.repeater.RepeaterChain`: visibilities multiply, the slowest segment
sets the rate. Needs a fiber link (``preset`` or ``distance_km``).

``server``: the server's K entanglement-generation ``channels``, its scheduling ``policy``,
its memory ``memory_t2_s`` and an optional round ``deadline_s``. Every round then runs the
discrete-event timeline (:mod:`qtfl.network.timeline`, :mod:`qtfl.experiments.network_round`):
each answering client's queueing wait, delivery time and the fidelity its pairs had when
used; the delivery is simulated with that dephased pair; clients delivered after the deadline
are stragglers, not aggregated. Needs a ``teleport`` uplink with a known pair rate, without
compression. The Flower engines run it too: the server schedules and tells each client node
the coherence of its pairs in the train message (:mod:`qtfl.flower.server`).

Without a ``network`` section nothing changes: outputs and configuration hashes are those of
a file without it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from qtfl.channel.verified import LinkSpec, PairLink
from qtfl.errors import InputError
from qtfl.experiments.channels import LinkConfig
from qtfl.experiments.loader import ConfigSection
from qtfl.network.timeline import POLICIES, ServerResources

if TYPE_CHECKING:
    from qtfl.experiments.config import Scenario
    from qtfl.experiments.network_round import ServerTimeline
    from qtfl.security.run_secret import SecretSource

MAX_NETWORK_CLIENTS = 100_000
#: Spawn key of the network's draws under the run seed (partition: 1000, attackers: 4000).
NETWORK_SPAWN_KEY = 5_000
CLIENT_KEYS: tuple[str, ...] = (
    "preset",
    "distance_km",
    "fidelity",
    "pair_rate_hz",
    "source_fidelity",
    "source_rate_hz",
    "attenuation_db_per_km",
    "extra_loss_db",
    "detector_efficiency",
    "memory_t2_s",
)


_Section = ConfigSection


class Uniform(_Section):
    """``{uniform: [low, high]}``: each client's value uniform in ``[low, high]``."""

    uniform: tuple[float, float] = Field(description="The interval ``[low, high]``.")

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        lo, hi = self.uniform
        if not lo <= hi:
            raise InputError(f"uniform: [low, high] needs low <= high, got [{lo:g}, {hi:g}]")
        return self


class Choice(_Section):
    """``{choice: [a, b, ...]}``: each client's value drawn uniformly from the list."""

    choice: list[float | str] = Field(
        min_length=1, max_length=1_000, description="The values to draw from."
    )


Scalar = float | str
ClientValue = Annotated[
    Scalar | list[Scalar] | Uniform | Choice,
    Field(union_mode="left_to_right"),
]


class ClientLinksConfig(_Section):
    """Per-client values of the uplink link's keys (a value, a list, or a distribution)."""

    preset: str | list[str] | Choice | None = Field(
        default=None, description="Each client's published link preset."
    )
    distance_km: ClientValue | None = Field(
        default=None, description="Each client's fiber distance to the server, km."
    )
    fidelity: ClientValue | None = Field(
        default=None, description="Each client's pair fidelity (a link given by its pair)."
    )
    pair_rate_hz: ClientValue | None = Field(
        default=None, description="Each client's heralded pair rate (a link given by its pair)."
    )
    source_fidelity: ClientValue | None = Field(
        default=None, description="Each client's source pair fidelity (fiber or preset)."
    )
    source_rate_hz: ClientValue | None = Field(
        default=None, description="Each client's source pulse rate (fiber or preset)."
    )
    attenuation_db_per_km: ClientValue | None = Field(
        default=None, description="Each client's fiber attenuation, dB/km."
    )
    extra_loss_db: ClientValue | None = Field(
        default=None, description="Each client's fixed extra loss, dB."
    )
    detector_efficiency: ClientValue | None = Field(
        default=None, description="Each client's detector efficiency."
    )
    memory_t2_s: ClientValue | None = Field(
        default=None,
        description="Each client's memory coherence time T2, s (dephases its half while the "
        "batch waits).",
    )

    @model_validator(mode="after")
    def _bounded(self) -> ClientLinksConfig:
        for key in CLIENT_KEYS:
            value = getattr(self, key)
            if isinstance(value, list) and len(value) > MAX_NETWORK_CLIENTS:
                raise InputError(
                    f"network.clients.{key}: at most {MAX_NETWORK_CLIENTS} values, got {len(value)}"
                )
            if key != "preset" and _strings(value):
                raise InputError(f"network.clients.{key}: numbers only, got {_strings(value)!r}")
        return self


def _strings(value: Any) -> str | None:
    items = value if isinstance(value, list) else getattr(value, "choice", [value])
    return next((v for v in items if isinstance(v, str)), None)


class RepeatersConfig(_Section):
    """Repeater placement for far clients (:class:`qtfl.network.fleet.RepeaterRule`)."""

    spacing_km: float = Field(gt=0, le=100_000, description="A repeater node every this many km.")
    purification_rounds: int = Field(
        default=0, ge=0, le=16, description="Nested purification rounds per chain level."
    )


class ServerConfig(_Section):
    """The server's quantum resources (:class:`qtfl.network.timeline.ServerResources`)."""

    channels: int = Field(
        default=1, ge=1, le=1_000_000, description="Entanglement-generation channels K."
    )
    policy: Literal["round-robin", "shortest-job-first", "fidelity-aware"] = Field(
        default="round-robin", description="Order in which waiting clients get a channel."
    )
    memory_t2_s: float | None = Field(
        default=None, gt=0, description="Coherence time of the server's memories (null: perfect)."
    )
    deadline_s: float | None = Field(
        default=None,
        gt=0,
        description="Round deadline, s; later clients are stragglers, not aggregated.",
    )
    stochastic: bool = Field(
        default=True, description="Heralding times drawn at random (false: at their mean)."
    )

    def resources(self) -> ServerResources:
        """The library's :class:`~qtfl.network.timeline.ServerResources`."""
        assert self.policy in POLICIES
        return ServerResources(
            channels=self.channels,
            policy=self.policy,
            memory_t2_s=self.memory_t2_s,
            deadline_s=self.deadline_s,
            stochastic=self.stochastic,
        )


class NetworkConfig(_Section):
    """A link per client and the server's quantum side (see the module docstring)."""

    clients: ClientLinksConfig | None = Field(
        default=None, description="Per-client link values (value, list or distribution)."
    )
    repeaters: RepeatersConfig | None = Field(
        default=None, description="Repeater chains for clients farther than spacing_km."
    )
    server: ServerConfig | None = Field(
        default=None, description="The server's channels, policy, memory and deadline."
    )


def merge_network(top: NetworkConfig | None, own: NetworkConfig | None) -> NetworkConfig | None:
    """A scenario's network: its own keys replace the top level's (key by key); a key it
    leaves out or sets to null keeps the top level's. (A dumped configuration writes every
    key, null where not given, so null must mean "not given" for the dump to parse back to
    the same run: config.json, a Flower job.)"""
    if own is None or top is None:
        return own or top
    return NetworkConfig(
        clients=own.clients if own.clients is not None else top.clients,
        repeaters=own.repeaters if own.repeaters is not None else top.repeaters,
        server=own.server if own.server is not None else top.server,
    )


def check_sizes(network: NetworkConfig, num_clients: int, where: str) -> None:
    """Every list of ``network.clients`` has ``num_clients`` values (one error naming both)."""
    if network.clients is None:
        return
    for key in CLIENT_KEYS:
        value = getattr(network.clients, key)
        if isinstance(value, list) and len(value) != num_clients:
            raise ValueError(
                f"{where}.clients.{key}: a list needs one value per client; got "
                f"{len(value)} values for data.num_clients = {num_clients}"
            )


def client_values(
    clients: ClientLinksConfig, num_clients: int, *, seed: int
) -> dict[str, list[Any]]:
    """Each given key's value for every client (draws from the run seed, keys in order)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(NETWORK_SPAWN_KEY,)))
    out: dict[str, list[Any]] = {}
    for key in CLIENT_KEYS:
        value = getattr(clients, key)
        if value is None:
            continue
        if isinstance(value, Uniform):
            out[key] = rng.uniform(*value.uniform, size=num_clients).tolist()
        elif isinstance(value, Choice):
            idx = rng.integers(0, len(value.choice), size=num_clients)
            out[key] = [value.choice[i] for i in idx.tolist()]
        elif isinstance(value, list):
            out[key] = list(value)
        else:
            out[key] = [value] * num_clients
    return out


class PinnedLink:
    """A resolved link standing where a channel section's ``link`` is (``build()`` returns it)."""

    def __init__(self, link: PairLink) -> None:
        self.link = link

    def build(self) -> PairLink:
        return self.link


def client_links(
    base: LinkConfig, network: NetworkConfig, num_clients: int, *, seed: int
) -> tuple[list[PairLink], list[float]]:
    """Every client's link (the uplink's ``base`` with its values) and its memory T2.

    Raises:
        InputError: naming the first client whose link is invalid, and why.
    """
    from qtfl.network.fleet import RepeaterRule
    from qtfl.network.repeater import RepeaterChain

    values = (
        {} if network.clients is None else client_values(network.clients, num_clients, seed=seed)
    )
    t2 = [float(v) for v in values.pop("memory_t2_s", [math.inf] * num_clients)]
    rule = None
    if network.repeaters is not None:
        rule = RepeaterRule(
            spacing_km=network.repeaters.spacing_km,
            purification_rounds=network.repeaters.purification_rounds,
        )
    given = base.model_dump(exclude_none=True)
    cache: dict[str, PairLink] = {}
    links: list[PairLink] = []
    for k in range(num_clients):
        raw = {**given, **{key: v[k] for key, v in values.items()}}
        fiber = "fidelity" not in raw
        if fiber and not math.isinf(t2[k]):
            raw["memory_t2_s"] = t2[k]
        key = json.dumps(raw, sort_keys=True)
        if key not in cache:
            try:
                cfg = LinkConfig(**raw)
                fl = cfg._fiber()
                if rule is not None and fl is None:
                    raise InputError(
                        "network.repeaters needs a fiber link (preset or distance_km), "
                        "not a pair given by fidelity"
                    )
                if rule is not None and fl is not None and rule.segments(fl.distance_km) > 1:
                    rep = RepeaterChain(
                        link=fl,
                        n_segments=rule.segments(fl.distance_km),
                        purification_rounds=rule.purification_rounds,
                    ).evaluate()
                    cache[key] = LinkSpec(rep.pair, rep.pair_rate_hz, rep.latency_s)
                else:
                    cache[key] = cfg.build()
            except (InputError, ValueError) as exc:
                raise InputError(f"network.clients, client {k}: {_message(exc)}") from None
        links.append(cache[key])
    return links, t2


def _message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return f"{loc}: {first.get('msg', exc)}" if loc else str(first.get("msg", exc))
    return str(exc)


def build_server_timeline(
    scenario: Scenario,
    links: Sequence[PairLink],
    t2_s: Sequence[float],
    *,
    secrets: SecretSource | None,
    num_values: int,
) -> ServerTimeline:
    """The scenario's :class:`~qtfl.experiments.network_round.ServerTimeline` for updates of
    ``num_values`` values (its ``network.server`` must be set)."""
    from qtfl.experiments.network_round import ServerTimeline, nominal_pairs

    assert scenario.network is not None and scenario.network.server is not None
    if scenario.compression.kind != "none":
        raise InputError(
            f"scenario {scenario.name!r}: network.server schedules uncompressed teleported "
            f"updates; remove compression ({scenario.compression.kind})"
        )

    def make_uplink(client: int, link: PairLink) -> Any:
        return scenario.build_uplink(client, secrets=secrets, link=link)

    # pair counts and rates hold no secret: counted on channels with throw-away keys, so a
    # Flower client node (which holds its own clients' keys only) builds the same timeline
    nominal: list[Any] = [scenario.build_uplink(k, link=link) for k, link in enumerate(links)]
    pairs = [nominal_pairs(ch, num_values) for ch in nominal]
    rates = [ch.link.pair_rate_hz for ch in nominal]  # purified pairs where purifying
    return ServerTimeline(
        links=links,
        pairs=pairs,
        pair_rate_hz=None if any(r is None for r in rates) else rates,
        client_t2_s=t2_s,
        resources=scenario.network.server.resources(),
        make_uplink=make_uplink,
    )
