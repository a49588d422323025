"""What a Flower run of one scenario needs on every node, and what each node builds from it.

A :class:`FlowerJob` is the experiment configuration (as JSON), the scenario to run, how many
SuperNodes serve the clients, where the ServerApp writes its result, and timeouts. It travels
to the ServerApp and ClientApps inline in Flower's run config (``job``: a SuperNode on another
host cannot read the orchestrator's files; the job holds no secret) or, in the simulation
engine, directly.

Both ends rebuild the *same* in-process simulation objects from it
(:func:`qtfl.experiments.runner.build_simulation`): the server uses the sampling, dropout,
batch and downlink streams, the strategy and the evaluation; a client uses the model, its
data and its uplink channel's sending end. So the arithmetic is the in-process engine's.

Secrets. The job carries no secret. It names ``secrets_dir``, an owner-only directory the
launcher fills (:func:`write_party_secrets`) with one owner-only file per party: ``server.key``
(every link key — the server is an end of every link — and its central DP noise key) and
``node-<i>.key`` (the link, local DP noise, pairwise mask and SecAgg+ self-mask keys of the
clients node ``i`` serves, nothing else). Each node opens only its own file
(:meth:`FlowerJob.party_secrets`), so a client node cannot derive another client's Bell
frame, check positions or AEAD key, and the server cannot regenerate a client's DP noise
or a mask.

Client-node state. Error-feedback residuals live on the client node, never on the server:
each node keeps them in files under ``state_dir`` (:mod:`qtfl.flower.node_state`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qtfl.channel.split import LinkKey
from qtfl.errors import InputError, require_int, require_range
from qtfl.experiments.config import ExperimentConfig, Scenario, parse_config
from qtfl.fl.engine import FederatedSimulation
from qtfl.fl.privacy_keys import party_keys
from qtfl.security.run_secret import PartySecrets, RunSecret, SecretSource

#: The party name of the ServerApp (client nodes are ``node-<partition-id>``).
SERVER = "server"


@dataclass(frozen=True)
class FlowerJob:
    """One scenario of an experiment, run on Flower.

    Attributes:
        config_json: the experiment configuration (``ExperimentConfig.model_dump_json()``).
        scenario: name of the scenario to run.
        num_nodes: SuperNodes serving the clients; client ``k`` is served by the node whose
            ``partition-id`` is ``k % num_nodes``.
        result_path: where the ServerApp writes its result (JSON + ``.npy`` beside it).
        round_timeout_s: how long the server waits for replies in one round; clients whose
            node does not answer in time count as dropped for that round.
        node_timeout_s: how long the server waits for all SuperNodes to connect.
        examples_per_client: keep only each client's first this many examples (its share
            is a random subset already); ``None`` keeps all. Benchmarks use it to fix sizes.
        secrets_dir: directory of the per-party secret files (:func:`write_party_secrets`);
            ``None``: every node draws fresh keys (only for objects that never send).
        state_dir: directory under which each client node keeps its own state (the
            error-feedback residuals of compression), one subdirectory per party;
            ``None``: compression with error feedback is refused.
    """

    config_json: str
    scenario: str
    num_nodes: int
    result_path: str
    round_timeout_s: float = 300.0
    node_timeout_s: float = 60.0
    examples_per_client: int | None = None
    secrets_dir: str | None = None
    state_dir: str | None = None

    def __post_init__(self) -> None:
        require_int("num_nodes", self.num_nodes, low=1)
        if self.examples_per_client is not None:
            require_int("examples_per_client", self.examples_per_client, low=1)
        require_range("round_timeout_s", self.round_timeout_s, low=0.0, low_open=True)
        require_range("node_timeout_s", self.node_timeout_s, low=0.0, low_open=True)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FlowerJob:
        return cls(**json.loads(text))

    @classmethod
    def from_run_config(cls, run_config: Any) -> FlowerJob:
        """The job in a Flower run config: inline (``job``, JSON) or in a file (``job-file``)."""
        text = run_config.get("job") if run_config else None
        if text:
            return cls.from_json(str(text))
        path = run_config.get("job-file") if run_config else None
        if not path:
            raise InputError("Flower run config has no 'job'; start runs with qtfl run")
        return cls.from_json(Path(str(path)).read_text(encoding="utf-8"))

    def on_node(self, node_config: Any) -> FlowerJob:
        """This job as a SuperNode sees it: a node config's ``secrets-dir`` (the directory of
        the node's own ``node-<i>.key`` on its host) and ``state-dir`` (where it keeps its
        own state) replace the launcher's paths, which name the server host's files."""
        secrets = node_config.get("secrets-dir") if node_config else None
        state = node_config.get("state-dir") if node_config else None
        return dataclasses.replace(
            self,
            secrets_dir=str(secrets) if secrets else self.secrets_dir,
            state_dir=str(state) if state else self.state_dir,
        )

    def link_key(self, round_: int, client: int) -> LinkKey:
        """Key of the uplink link sample of ``client`` in round ``round_``."""
        return LinkKey(seed=self.config.seed, scenario=self.scenario, round=round_, client=client)

    def party_secrets(self, party: str) -> SecretSource | None:
        """The secrets of ``party`` (:data:`SERVER` or ``node-<i>``), read from its own file."""
        if self.secrets_dir is None:
            return None
        return PartySecrets.load(Path(self.secrets_dir) / f"{party}.key")

    @functools.cached_property
    def config(self) -> ExperimentConfig:
        return parse_config(json.loads(self.config_json))

    @functools.cached_property
    def resolved(self) -> Scenario:
        for sc in self.config.resolved_scenarios():
            if sc.name == self.scenario:
                return sc
        raise InputError(f"scenario {self.scenario!r} is not in the configuration")


def privacy_path(result: Path) -> Path:
    """Where the ServerApp writes the ``attacks`` section's results beside ``result``."""
    return result.with_suffix(".privacy.json")


def secagg_path(result: Path) -> Path:
    """Where the ServerApp writes its SecAgg+ rounds' summary beside ``result``."""
    return result.with_suffix(".secagg.json")


def write_party_secrets(
    directory: Path, secret: RunSecret, *, scenarios: list[str], num_clients: int, num_nodes: int
) -> Path:
    """Fill ``directory`` (created 0700) with ``server.key`` and one ``node-<i>.key`` per node.

    The server's file holds every link key (it is an end of every link) and its central DP
    noise key; node ``i``'s the uplink, local DP noise, pairwise mask and self-mask keys of
    the clients it serves (:func:`qtfl.fl.privacy_keys.party_keys`). No file holds the run
    secret itself, so no node can derive another party's key.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=False)
    clients = list(range(num_clients))
    server: list[tuple[str | int, ...]] = [
        ("link", name, direction, k) for name in scenarios for direction in (0, 1) for k in clients
    ]
    for name in scenarios:
        server += party_keys(name, clients=[], num_clients=num_clients, server=True)
    secret.share(server).save(directory / f"{SERVER}.key")
    for i in range(num_nodes):
        node_share(secret, i, scenarios=scenarios, num_clients=num_clients,
                   num_nodes=num_nodes).save(directory / f"node-{i}.key")  # fmt: skip
    return directory


def node_share(
    secret: RunSecret, node: int, *, scenarios: list[str], num_clients: int, num_nodes: int
) -> PartySecrets:
    """SuperNode ``node``'s share of ``secret``: the uplink, local DP noise, pairwise mask and
    self-mask keys of the clients it serves (:func:`clients_of_node`), nothing else."""
    served = clients_of_node(node, num_clients=num_clients, num_nodes=num_nodes)
    keys: list[tuple[str | int, ...]] = [("link", n, 0, k) for n in scenarios for k in served]
    for name in scenarios:
        keys += party_keys(name, clients=served, num_clients=num_clients)
    return secret.share(keys)


def clients_of_node(node: int, *, num_clients: int, num_nodes: int) -> list[int]:
    """The clients SuperNode ``node`` serves: ``k`` with ``k % num_nodes == node``."""
    return [k for k in range(num_clients) if k % num_nodes == node]


def node_party(node_config: Any) -> str:
    """The party name of a SuperNode: ``node-<partition-id>``."""
    return f"node-{node_partition(node_config)}"


@functools.lru_cache(maxsize=4)
def build_node(job_json: str, party: str = SERVER) -> FederatedSimulation:
    """The in-process simulation objects of ``job`` as ``party`` sees them (cached)."""
    return build_simulation_for(FlowerJob.from_json(job_json), party=party)


def build_simulation_for(job: FlowerJob, *, party: str = SERVER) -> FederatedSimulation:
    """A fresh in-process simulation of ``job`` (what every node rebuilds) with ``party``'s keys."""
    from qtfl.experiments.runner import build_simulation, prepare_inputs

    config = job.config
    sim = build_simulation(
        config, prepare_inputs(config), job.resolved, secrets=job.party_secrets(party)
    )
    cap = job.examples_per_client
    if cap is not None:
        sim.client_indices = [ix[:cap] for ix in sim.client_indices]
        sim.client_sizes = np.minimum(sim.client_sizes, cap)
    return sim


def node_partition(node_config: Any) -> int:
    """The ``partition-id`` of a SuperNode's node config."""
    try:
        return int(node_config["partition-id"])
    except (KeyError, TypeError, ValueError):
        raise InputError("SuperNode has no integer partition-id in its node config") from None


def to_float32(values: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.float32))
