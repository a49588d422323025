"""qtfl on Flower across hosts: a SuperLink on one host, SuperNodes on others.

Four steps, each one command (``qtfl flower ...``, ``qtfl run``):

1. **Prepare** (server host), :func:`prepare_federation`: one *federation directory*
   ``FED`` (mode 0700) for one run of one configuration::

       FED/federation.json        SuperLink address, SuperNodes, configuration hash, node ids
       FED/run-secret.key   0600  the run secret (stays on the server host)
       FED/tls/                   ca.pem, server.pem, server.key (0600): the SuperLink's TLS
       FED/public/node-<i>.pub    SuperNode i's public key, registered by the SuperLink
       FED/node-<i>/        0700  everything SuperNode i's host needs, copied there whole:
           ca.pem                 the CA certificate to verify the SuperLink with
           supernode.key    0600  SuperNode i's private key (authentication)
           supernode.key.pub      its public half
           node-<i>.key     0600  node i's share of the run secret: its clients' link keys
           supernode.json         SuperLink address, partition-id, num-partitions

2. **SuperLink** (server host), :func:`serve_superlink`: starts ``flower-superlink`` with TLS
   and ``--enable-supernode-auth``, registers every ``FED/public/node-<i>.pub`` and writes the
   registered node ids into ``federation.json``; runs until SIGINT/SIGTERM.
3. **SuperNode** (client host ``i``), :func:`serve_supernode`: starts ``flower-supernode``
   (through :mod:`qtfl.flower.node_runtime`) from the copied ``node-<i>/`` (CA, private
   key, node config with ``secrets-dir`` pointing at the copy and ``state-dir`` at
   ``node-<i>/state``, where the node keeps its own state, e.g. compression residuals);
   runs until SIGINT/SIGTERM.
4. **Run** (server host): ``qtfl run CONFIG --out OUT --engine flower-deploy --federation
   FED`` (:func:`federation_options`) attaches to the SuperLink, addresses the registered
   node ids only, uses ``FED/run-secret.key`` as the run secret and starts no SuperNode.

Secrets and private keys cross hosts only as files the operator copies (``scp -rp`` or
``rsync -a`` keep the modes; qtfl refuses a key or secret file readable by others). The
job itself (configuration, scenario, timeouts) travels in Flower's run config and holds no
secret. Each node's directory holds only its own key and its own clients' link keys, so a
compromised client host learns nothing of another client's Bell frame or AEAD key.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from qtfl.errors import InputError, require_int
from qtfl.experiments.config import ExperimentConfig
from qtfl.fl.checkpoint import atomic_write_text
from qtfl.flower.deploy import LocalFederation, flower_env, free_port, node_config_arg
from qtfl.flower.job import node_share
from qtfl.flower.node_runtime import supernode_command
from qtfl.flower.procs import ProcessTracker, stop_processes
from qtfl.flower.trust import (
    CA_CERT,
    SERVER_CERT,
    SERVER_KEY,
    NodeKey,
    TlsFiles,
    load_tls_dir,
    make_node_key,
    make_tls,
    private_dir,
    write_private,
)
from qtfl.security.run_secret import SECRET_FILE, RunSecret, read_private

FEDERATION_FILE = "federation.json"
NODE_FILE = "supernode.json"
NODE_KEY = "supernode.key"
_FORMAT = 1


@dataclass(frozen=True)
class Federation:
    """A prepared federation directory (see the module docstring for its files).

    Attributes:
        directory: the federation directory on the server host.
        address: ``HOST:PORT`` every SuperNode dials (and the SuperLink's certificate names).
        bind: the address the SuperLink binds (``HOST`` of ``address`` unless given).
        num_supernodes: SuperNodes, one per client host; client ``k`` is served by
            SuperNode ``k % num_supernodes``.
        config_hash: the configuration this federation's secrets were made for.
        node_ids: registered SuperNode ids in partition order (empty until the SuperLink ran).
    """

    directory: Path
    address: str
    bind: str
    num_supernodes: int
    config_hash: str
    node_ids: tuple[int, ...] = ()

    @property
    def host(self) -> str:
        return split_address(self.address)[0]

    @property
    def port(self) -> int:
        return split_address(self.address)[1]

    @property
    def tls(self) -> TlsFiles:
        d = self.directory / "tls"
        return TlsFiles(d / CA_CERT, d / SERVER_CERT, d / SERVER_KEY)

    def node_dir(self, i: int) -> Path:
        """What SuperNode ``i``'s host receives (copy the whole directory)."""
        return self.directory / f"node-{i}"

    def public_key(self, i: int) -> Path:
        return self.directory / "public" / f"node-{i}.pub"

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "address": self.address,
            "bind": self.bind,
            "supernodes": self.num_supernodes,
            "config_hash": self.config_hash,
            "node_ids": list(self.node_ids),
        }

    def save(self) -> None:
        text = json.dumps(self.as_dict(), indent=2) + "\n"
        atomic_write_text(self.directory / FEDERATION_FILE, text)

    @classmethod
    def load(cls, directory: str | Path) -> Federation:
        """The federation in ``directory``; InputError if it is not one."""
        d = Path(directory).resolve()
        path = d / FEDERATION_FILE
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != _FORMAT:
                raise ValueError
            fed = cls(
                directory=d,
                address=str(doc["address"]),
                bind=str(doc["bind"]),
                num_supernodes=int(doc["supernodes"]),
                config_hash=str(doc["config_hash"]),
                node_ids=tuple(int(x) for x in doc["node_ids"]),
            )
        except FileNotFoundError:
            raise InputError(
                f"{d} is not a federation directory (no {FEDERATION_FILE}); "
                "create one with: qtfl flower prepare CONFIG --dir DIR --address HOST:PORT"
            ) from None
        except (ValueError, TypeError, KeyError, AttributeError):
            raise InputError(f"{path} is not a qtfl federation file") from None
        split_address(fed.address)
        return fed


def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` as ``(host, port)``; InputError naming the expected form."""
    host, sep, port = str(address).rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit():
        raise InputError(f"address {address!r} must be HOST:PORT, e.g. 10.0.0.1:9092")
    return host, require_int("address port", int(port), low=1, high=65535)


def prepare_federation(
    config: ExperimentConfig,
    directory: str | Path,
    *,
    address: str,
    num_supernodes: int = 2,
    bind: str | None = None,
    tls_dir: str | Path | None = None,
) -> Federation:
    """Write a federation directory for one run of ``config`` (no process is started).

    Args:
        config: the experiment; its scenarios and clients decide each node's link keys.
        directory: new or empty; created with mode 0700.
        address: ``HOST:PORT`` the SuperNodes dial; the generated certificate names ``HOST``.
        num_supernodes: client hosts (at most the number of clients).
        bind: address the SuperLink binds if not ``HOST`` (e.g. ``0.0.0.0`` behind NAT).
        tls_dir: your own ``ca.pem``/``server.pem``/``server.key`` (checked to name ``HOST``)
            instead of a fresh CA whose private key is never written.

    Raises:
        InputError: a bad address, a non-empty directory, too many SuperNodes, bad TLS files.
    """
    host, _ = split_address(address)
    n_clients = config.data.num_clients
    require_int("--supernodes", num_supernodes, low=1, high=n_clients)
    d = Path(directory).resolve()
    if d.exists() and (not d.is_dir() or any(d.iterdir())):
        raise InputError(f"--dir {d} exists and is not an empty directory; choose a new one")
    user_tls = None if tls_dir is None else load_tls_dir(tls_dir, hosts=(host,))
    d = private_dir(d)
    fed = Federation(d, address, bind or host, num_supernodes, config.config_hash())
    if user_tls is None:
        make_tls(d / "tls", hosts=(host,))
    else:
        tls = private_dir(d / "tls")
        shutil.copyfile(user_tls.ca_cert, tls / CA_CERT)
        shutil.copyfile(user_tls.server_cert, tls / SERVER_CERT)
        write_private(tls / SERVER_KEY, user_tls.server_key.read_bytes())
    secret = RunSecret.generate()
    secret.save(d / SECRET_FILE)
    scenarios = [sc.name for sc in config.resolved_scenarios()]
    private_dir(d / "public")
    for i in range(num_supernodes):
        node = private_dir(fed.node_dir(i))
        shutil.copyfile(fed.tls.ca_cert, node / CA_CERT)
        key = make_node_key(node, NODE_KEY)  # supernode.key (0600), supernode.key.pub
        shutil.copyfile(key.public_key, fed.public_key(i))
        share = node_share(secret, i, scenarios=scenarios, num_clients=n_clients,
                           num_nodes=num_supernodes)  # fmt: skip
        share.save(node / f"node-{i}.key")
        doc = {"superlink": address, "partition-id": i, "num-partitions": num_supernodes}
        (node / NODE_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    fed.save()
    return fed


def describe_federation(fed: Federation) -> dict[str, Any]:
    """What goes where: the commands per host, the files to copy and the port to open."""
    d = fed.directory
    out: dict[str, Any] = {
        "federation": str(d),
        "superlink": fed.address,
        "bind": fed.bind,
        "open_port": f"{fed.port}/tcp on the server host, from the client hosts only",
        "server_host": f"qtfl flower superlink {d}",
    }
    for i in range(fed.num_supernodes):
        out[f"client_host_{i}"] = (
            f"copy {fed.node_dir(i)} (scp -rp, keeps mode 600), then: "
            f"qtfl flower supernode node-{i}"
        )
    out["run"] = f"qtfl run CONFIG --out OUT --engine flower-deploy --federation {d}"
    out["node_ids"] = " ".join(str(x) for x in fed.node_ids) or "registered by the SuperLink"
    return out


def _dial_host(fed: Federation) -> str:
    """The address the server host itself dials (the bind address unless a wildcard)."""
    return fed.host if fed.bind in ("0.0.0.0", "::", "") else fed.bind


def serve_superlink(
    directory: str | Path,
    *,
    on_ready: Callable[[Federation], None] = lambda fed: None,
    start_timeout_s: float = 60.0,
    stop_timeout_s: float = 10.0,
) -> Federation:
    """Run the federation's SuperLink until SIGINT/SIGTERM (or until it exits by itself).

    Starts ``flower-superlink`` with the federation's TLS files and SuperNode authentication,
    registers every node's public key, records the node ids in ``federation.json`` and calls
    ``on_ready``. Logs go to ``DIR/superlink/``. Returns the federation after a signal
    stopped it (every started process stopped too).

    Raises:
        InputError: the port is taken, the SuperLink refused a key or exited by itself.
    """
    fed = Federation.load(directory)
    for i in range(fed.num_supernodes):
        if not fed.public_key(i).is_file():
            raise InputError(f"{fed.public_key(i)} is missing; prepare a new federation")
    keys = tuple(NodeKey(fed.node_dir(i) / NODE_KEY, fed.public_key(i))
                 for i in range(fed.num_supernodes))  # fmt: skip
    link = LocalFederation(
        fed.directory / "superlink",
        num_supernodes=0,
        superlink_port=fed.port,
        tls=fed.tls,
        host=_dial_host(fed),
        bind=fed.bind,
        node_keys=keys,
        start_timeout_s=start_timeout_s,
        stop_timeout_s=stop_timeout_s,
    )
    try:
        with link.running():
            fed = Federation(fed.directory, fed.address, fed.bind, fed.num_supernodes,
                             fed.config_hash, tuple(link.node_ids))  # fmt: skip
            fed.save()
            on_ready(fed)
            process = link.procs[0]
            while process.poll() is None:
                time.sleep(0.5)
            raise InputError(
                f"the SuperLink exited (code {process.returncode}); "
                f"log: {link.workdir / 'superlink.log'}"
            )
    except KeyboardInterrupt:
        return fed


@dataclass(frozen=True)
class NodeBundle:
    """The directory of one SuperNode, as copied to its host (checked by :meth:`load`)."""

    directory: Path
    superlink: str
    partition: int
    num_partitions: int

    @property
    def secrets(self) -> Path:
        return self.directory / f"node-{self.partition}.key"

    @classmethod
    def load(cls, directory: str | Path) -> NodeBundle:
        """Read and check ``node-<i>/``: its files present, key and secrets owner-only."""
        d = Path(directory).resolve()
        try:
            doc = json.loads((d / NODE_FILE).read_text(encoding="utf-8"))
            bundle = cls(d, str(doc["superlink"]), int(doc["partition-id"]),
                         int(doc["num-partitions"]))  # fmt: skip
        except FileNotFoundError:
            raise InputError(
                f"{d} has no {NODE_FILE}: pass the node-<i> directory copied from the "
                "federation directory of the server host"
            ) from None
        except (ValueError, TypeError, KeyError, AttributeError):
            raise InputError(f"{d / NODE_FILE} is not a qtfl SuperNode file") from None
        split_address(bundle.superlink)
        if not (d / CA_CERT).is_file():
            raise InputError(f"{d} has no {CA_CERT} (copy the whole node directory)")
        read_private(d / NODE_KEY, what="SuperNode private key")
        read_private(bundle.secrets, what="party secrets")
        return bundle


def serve_supernode(
    directory: str | Path,
    *,
    superlink: str | None = None,
    bind: str = "127.0.0.1",
    port: int | None = None,
    on_ready: Callable[[dict[str, Any]], None] = lambda info: None,
    stop_timeout_s: float = 10.0,
) -> int:
    """Run SuperNode ``i`` from its copied directory until SIGINT/SIGTERM; its exit code.

    Args:
        directory: the copied ``node-<i>/``.
        superlink: ``HOST:PORT`` to dial instead of the one in ``supernode.json``.
        bind: address of the node's own local API (its ClientApps connect there).
        port: that API's port (default: a free one).
        on_ready: called once the SuperLink has activated the node, with its node id.

    Returns 0 after a signal stopped the node, else the code the SuperNode exited with.
    """
    node = NodeBundle.load(directory)
    address = superlink or node.superlink
    split_address(address)
    port = port if port is not None else free_port(bind)
    entries = {"partition-id": str(node.partition), "num-partitions": str(node.num_partitions),
               "secrets-dir": str(node.directory),
               "state-dir": str(node.directory / "state")}  # fmt: skip
    env = flower_env()
    env["FLWR_HOME"] = str(node.directory / "flwr-home")
    log_path = node.directory / "supernode.log"
    args = supernode_command(
        ["--root-certificates", str(node.directory / CA_CERT),
         "--auth-supernode-private-key", str(node.directory / NODE_KEY),
         "--superlink", address, "--host", bind, "--port", str(port),
         "--node-config", node_config_arg(entries)])  # fmt: skip
    tracker = ProcessTracker()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stopped: list[int] = []

    def interrupted(signum: int, frame: FrameType | None) -> None:
        stopped.append(signum)

    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=node.directory, start_new_session=True)  # fmt: skip
    tracker.watch(proc)
    for s in previous:
        signal.signal(s, interrupted)
    try:
        announced = False
        while proc.poll() is None and not stopped:
            if not announced:
                node_id = _node_id(log_path)
                if node_id is not None:
                    announced = True
                    on_ready({"node": node.partition, "node_id": node_id, "superlink": address,
                              "api": f"{bind}:{port}", "log": str(log_path)})  # fmt: skip
            time.sleep(0.2)
    finally:
        for s in previous:
            signal.signal(s, signal.SIG_IGN)  # a second signal must not cut the cleanup
        stop_processes([proc], timeout_s=stop_timeout_s, known=tracker.known())
        tracker.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stopped:
        return 0
    tail = log_path.read_text(errors="replace").strip()[-600:]
    raise InputError(f"the SuperNode exited with code {proc.returncode}: {tail}")


def _node_id(log_path: Path) -> int | None:
    """The node id a SuperNode logged once the SuperLink activated it."""
    found = re.findall(r"SuperNode ID: (\d+)", log_path.read_text(errors="replace"))
    return int(found[-1]) if found else None


def federation_options(
    directory: str | Path,
    config: ExperimentConfig,
    **options: Any,
) -> tuple[Any, str]:
    """``FlowerOptions`` and the run-secret file for ``qtfl run --federation DIR``.

    ``options`` are further :class:`qtfl.flower.run.FlowerOptions` fields (timeouts).

    Raises:
        InputError: not a federation, another configuration, or its SuperLink never ran.
    """
    from qtfl.flower.run import FlowerOptions

    fed = Federation.load(directory)
    if fed.config_hash != config.config_hash():
        raise InputError(
            f"--federation {fed.directory} was prepared for another configuration; its node "
            "keys are per configuration: prepare a new federation for this one"
        )
    if len(fed.node_ids) != fed.num_supernodes:
        raise InputError(
            f"--federation {fed.directory} has no registered SuperNodes yet: start "
            f"'qtfl flower superlink {fed.directory}' first"
        )
    flower = FlowerOptions(
        num_supernodes=fed.num_supernodes,
        attach=fed.port,
        host=_dial_host(fed),
        tls=fed.tls,
        remote_node_ids=fed.node_ids,
        **options,
    )
    return flower, str(fed.directory / SECRET_FILE)


def check_federation_flags(**given: object) -> None:
    """InputError if ``--federation`` comes with options its directory decides itself
    (``given``: option name with underscores -> value; ``None``/``False``: not given)."""
    clash = ["--" + name.replace("_", "-") for name, value in given.items()
             if value not in (None, False)]  # fmt: skip
    if clash:
        raise InputError(
            f"--federation decides {', '.join(clash)} itself (from its directory); "
            f"drop {'it' if len(clash) == 1 else 'them'}"
        )


__all__ = [
    "Federation",
    "NodeBundle",
    "check_federation_flags",
    "describe_federation",
    "federation_options",
    "prepare_federation",
    "serve_superlink",
    "serve_supernode",
    "split_address",
]
