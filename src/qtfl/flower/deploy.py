"""Flower's deployment runtime: a SuperLink, N SuperNodes and ``flwr run``, TLS and node keys.

:class:`LocalFederation` starts (or attaches to) a SuperLink and starts ``num_supernodes``
SuperNodes, each with ``partition-id=i num-partitions=N`` (plus any extra per-node entries)
in its node config; :func:`run_deployed` writes the Flower app's ``pyproject.toml`` by hand
(``flwr new`` would fetch templates from the network), a Flower home with one SuperLink
connection, submits the run with ``flwr run`` and waits for the ServerApp's result file.

Trust, by default:

* **TLS.** Without user files a per-run CA and SuperLink certificate are generated
  (:func:`qtfl.flower.trust.make_tls`, subject alternative names for ``host``); the
  SuperLink serves HTTPS, SuperNodes and ``flwr`` verify it against the CA. ``insecure=True``
  (``--insecure``) is plain HTTP and is meant for loopback experiments only.
* **SuperNode authentication.** Every SuperNode gets its own P-384 key pair; the SuperLink
  runs with ``--enable-supernode-auth`` (Fleet-API self-registration disabled) and each
  public key is registered through its Control API (``flwr supernode register``) before the
  node starts. The ServerApp is told the registered node ids (run config ``node-ids``) and
  sends messages to those nodes only; a node with another key is refused at activation.
* Generated private keys (server key, node keys) are mode 0600 in a 0700 directory and are
  deleted when the federation stops; the CA key is never written.

The SuperLink and every SuperNode run through :mod:`qtfl.flower.node_runtime`: Flower's
daemon with ``--isolation process`` and, as its child, a launcher that forks each
ServerApp/ClientApp from a warm server (no per-message imports), and shorter fixed waits.

Every process is started in its own session and watched (:mod:`qtfl.flower.procs`); on
exit — normal, failure, or SIGINT/SIGTERM — each started process, its descendants and any
orphan a dead SuperNode left behind get SIGTERM, then SIGKILL after ``stop_timeout_s``.
Telemetry and update checks are off (``FLWR_TELEMETRY_ENABLED=0``,
``FLWR_DISABLE_UPDATE_CHECK=1``) and the SuperLink never installs dependencies, so nothing
is contacted but the SuperLink's address.

Across hosts (:mod:`qtfl.flower.hosts`): the SuperLink binds ``bind`` (default ``host``) and
registers keys made beforehand (``node_keys``) without starting any SuperNode
(``num_supernodes=0``); an orchestrator attaches with the registered ``node_ids``. The job
travels inline in the run config (``job``), so a SuperNode on another host needs no file of
the server host's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from qtfl.errors import InputError, require_int, require_range
from qtfl.flower.node_runtime import superlink_command, supernode_command
from qtfl.flower.procs import ProcessTracker, stop_processes
from qtfl.flower.trust import NodeKey, TlsFiles, make_node_key, make_tls

__all__ = [
    "HOST",
    "LocalFederation",
    "LostSupernode",
    "TlsFiles",
    "free_port",
    "run_deployed",
    "stop_processes",
]

HOST = "127.0.0.1"
log = logging.getLogger("qtfl.flower")


def free_port(host: str = HOST) -> int:
    """A currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def require_free_port(port: int, what: str, host: str = HOST) -> int:
    """``port`` if nothing listens on it, else InputError naming it."""
    require_int(what, port, low=1, high=65535)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            raise InputError(
                f"{what} {port} on {host} is already in use; choose another port"
            ) from None
    return port


def wait_for_port(
    port: int,
    *,
    timeout_s: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    host: str = HOST,
) -> None:
    """Block until something accepts on ``port``, else InputError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise InputError(
                f"{what} exited with code {proc.returncode} before listening on port {port}"
            )
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise InputError(f"{what} on {host}:{port} did not answer within {timeout_s:g} s")


#: How often a ``flower-superexec`` asks its SuperLink or SuperNode for a task to launch
#: (Flower 1.41's default: every 1 s). The daemons qtfl starts use their own launchers
#: (:mod:`qtfl.flower.node_runtime`, every 0.1 s); this is for any other superexec.
SUPEREXEC_POLL_S = 0.2


def flower_env() -> dict[str, str]:
    """The environment for Flower processes: no telemetry, no update check, our venv first,
    and a ``flower-superexec`` that looks for tasks every :data:`SUPEREXEC_POLL_S` (unless
    ``FLWR_SUPEREXEC_TASK_POLL_INTERVAL`` is set)."""
    env = dict(os.environ)
    env["FLWR_TELEMETRY_ENABLED"] = "0"
    env["FLWR_DISABLE_UPDATE_CHECK"] = "1"
    env.setdefault("FLWR_SUPEREXEC_TASK_POLL_INTERVAL", str(SUPEREXEC_POLL_S))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def check_transport(*, tls: TlsFiles | None, insecure: bool, attach: int | None) -> None:
    """InputError unless the TLS options make sense together."""
    if insecure and tls is not None:
        raise InputError("--insecure and --tls-dir exclude each other; choose one")
    if attach is not None and tls is None and not insecure:
        raise InputError(
            "--attach needs the SuperLink's CA: pass --tls-dir (with its ca.pem) "
            "or --insecure for a plain-HTTP SuperLink"
        )


@dataclass(frozen=True)
class LostSupernode:
    """A SuperNode of a :class:`LocalFederation` that exited while the federation ran."""

    partition: int
    node_id: int | None
    pid: int
    returncode: int

    def describe(self) -> str:
        """``SuperNode 1 (node id 42, pid 1234) was killed by SIGKILL`` and the like."""
        ids = f"node id {self.node_id}, " if self.node_id is not None else ""
        if self.returncode < 0:
            try:
                how = f"was killed by {signal.Signals(-self.returncode).name}"
            except ValueError:
                how = f"was killed by signal {-self.returncode}"
        else:
            how = f"exited with code {self.returncode}"
        return f"SuperNode {self.partition} ({ids}pid {self.pid}) {how}"

    def as_dict(self) -> dict[str, object]:
        return {"partition": self.partition, "node_id": self.node_id, "pid": self.pid,
                "returncode": self.returncode, "description": self.describe()}  # fmt: skip


@dataclass
class LocalFederation:
    """A SuperLink (started or attached) and ``num_supernodes`` SuperNodes.

    Args:
        workdir: where logs, the Flower home, the app and generated credentials go.
        num_supernodes: SuperNodes to start (>= 1).
        superlink_port: the SuperLink's port; ``None`` picks a free one. A port in use is an
            InputError (unless ``attach`` is set).
        attach: connect to an already running SuperLink on this port instead of starting one
            (its CA must be given in ``tls``, or ``insecure`` set).
        tls: TLS files to serve with (``None``: generate a per-run CA and certificate).
        insecure: plain HTTP, no TLS and no node authentication (loopback experiments).
        node_auth: SuperNode authentication with per-node keys (requires TLS).
        host: address the SuperLink binds and every client dials.
        extra_node_config: per SuperNode ``i``, entries added to its node config (e.g. the
            path of that node's own secrets).
        start_timeout_s: how long the SuperLink may take to listen.
        stop_timeout_s: SIGTERM-to-SIGKILL grace.
        fleet_port: where SuperNodes connect (default: the SuperLink port; a test's
            loopback proxy can sit in between).
        bind: address the SuperLink binds if not ``host`` (e.g. ``0.0.0.0``; ``host`` is then
            the address this host dials).
        node_keys: keys made beforehand (:func:`qtfl.flower.trust.make_node_key`) to register
            instead of fresh ones, one per SuperNode (across hosts: ``num_supernodes=0``,
            the nodes run elsewhere). Registration fills :attr:`node_ids`.
        node_ids: attaching to a SuperLink whose SuperNodes run elsewhere: their registered
            ids in partition order (``num_supernodes=0``).
    """

    workdir: Path
    num_supernodes: int = 2
    superlink_port: int | None = None
    attach: int | None = None
    tls: TlsFiles | None = None
    insecure: bool = False
    node_auth: bool = True
    host: str = HOST
    extra_node_config: tuple[Mapping[str, str], ...] = ()
    start_timeout_s: float = 30.0
    stop_timeout_s: float = 10.0
    fleet_port: int | None = None
    bind: str | None = None
    node_keys: tuple[NodeKey, ...] = ()
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    supernodes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    node_ids: list[int] = field(default_factory=list)
    tracker: ProcessTracker = field(default_factory=ProcessTracker)
    lost: list[LostSupernode] = field(default_factory=list)

    def __post_init__(self) -> None:
        remote = bool(self.node_keys) or bool(self.node_ids)
        require_int("num_supernodes", self.num_supernodes, low=0 if remote else 1)
        if remote and self.num_supernodes:
            raise InputError("node_keys and node_ids are for SuperNodes on other hosts: "
                             "set num_supernodes=0")  # fmt: skip
        if self.node_ids and self.attach is None:
            raise InputError("node_ids name the SuperNodes of a running SuperLink: set attach")
        require_range("start_timeout_s", self.start_timeout_s, low=0.0, low_open=True)
        check_transport(tls=self.tls, insecure=self.insecure, attach=self.attach)
        if len(self.extra_node_config) not in (0, self.num_supernodes):
            raise InputError(
                f"extra_node_config has {len(self.extra_node_config)} entries; "
                f"give one per SuperNode ({self.num_supernodes}) or none"
            )
        self.workdir = Path(self.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._generated: list[Path] = []

    @property
    def port(self) -> int:
        assert self.superlink_port is not None
        return self.superlink_port

    @property
    def authenticated(self) -> bool:
        """True when SuperNodes must prove a registered key."""
        return self.node_auth and not self.insecure

    @property
    def credentials_dir(self) -> Path:
        """Generated per-run credentials (0700; private keys removed on stop)."""
        return self.workdir / "credentials"

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / log_name, "wb")  # noqa: SIM115 - closed with the process
        env = flower_env()
        self.flower_home.mkdir(exist_ok=True)
        env["FLWR_HOME"] = str(self.flower_home)  # installed apps stay in the workdir
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        self.tracker.watch(proc)
        return proc

    def _tls_args(self, *, server: bool) -> list[str]:
        if self.insecure:
            return ["--insecure"]
        assert self.tls is not None
        if server:
            return [
                "--ssl-certfile",
                str(self.tls.server_cert),
                "--ssl-keyfile",
                str(self.tls.server_key),
                "--ssl-ca-certfile",
                str(self.tls.ca_cert),
            ]
        return ["--root-certificates", str(self.tls.ca_cert)]

    def start(self) -> None:
        """Start (or attach to) the SuperLink, register node keys, start the SuperNodes."""
        shutil.rmtree(self.credentials_dir, ignore_errors=True)  # a killed run's leftovers
        if not self.insecure and self.tls is None:
            self.tls = make_tls(self.credentials_dir / "tls", hosts=(self.host,))
            self._generated.append(self.tls.server_key)
        if self.attach is not None:
            self.superlink_port = self.attach
            wait_for_port(self.port, timeout_s=self.start_timeout_s,
                          what="SuperLink to attach to", host=self.host)  # fmt: skip
        else:
            if self.superlink_port is None:
                self.superlink_port = free_port(self.bind or self.host)
            require_free_port(self.port, "SuperLink port", self.bind or self.host)
            auth = ["--enable-supernode-auth"] if self.authenticated else []
            link = self._spawn(
                superlink_command(
                    [
                        *self._tls_args(server=True),
                        *auth,
                        "--host",
                        self.bind or self.host,
                        "--port",
                        str(self.port),
                        "--disable-runtime-dependency-installation",
                    ]
                ),
                "superlink.log",
            )
            wait_for_port(self.port, timeout_s=self.start_timeout_s, what="SuperLink",
                          proc=link, host=self.host)  # fmt: skip
        fleet = self.fleet_port or self.port
        n = self.num_supernodes
        if self.node_keys:
            self.register(list(self.node_keys))
        keys = self.register(self._fresh_keys(n)) if self.authenticated and n else []
        for i in range(n):
            entries = {"partition-id": str(i), "num-partitions": str(n)}
            if self.extra_node_config:
                entries.update(self.extra_node_config[i])
            auth = ["--auth-supernode-private-key", str(keys[i].private_key)] if keys else []
            node = self._spawn(
                supernode_command([
                    *self._tls_args(server=False),
                    *auth,
                    "--superlink",
                    f"{self.host}:{fleet}",
                    "--port",
                    str(free_port()),
                    "--node-config",
                    node_config_arg(entries),
                ]),
                f"supernode-{i}.log",
            )
            self.supernodes.append(node)

    def _fresh_keys(self, n: int) -> list[NodeKey]:
        """Keys for local SuperNodes ``0..n-1`` (private halves deleted on stop)."""
        keys = []
        for i in range(n):
            key = make_node_key(self.credentials_dir / "nodes", f"supernode-{i}")
            self._generated.append(key.private_key)
            keys.append(key)
        return keys

    def register(self, keys: list[NodeKey]) -> list[NodeKey]:
        """Register the public halves of ``keys`` with the SuperLink (in parallel).

        Appends the node ids to :attr:`node_ids` in the order of ``keys`` (partition order).
        The ``flwr`` processes count as started processes while they run, so an interrupt
        stops them too.
        """
        env = flower_env()
        env["FLWR_HOME"] = str(self.write_flower_home())
        pending = []
        for i, key in enumerate(keys):
            proc = subprocess.Popen(
                ["flwr", "supernode", "register", str(key.public_key), "qtfl-local",
                 "--name", f"qtfl-{i}", "--format", "json"],
                env=env, cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            self.procs.append(proc)
            pending.append((i, key, proc))
        for i, _key, proc in pending:
            try:
                raw, _ = proc.communicate(timeout=self.start_timeout_s)
            except subprocess.TimeoutExpired:
                raise InputError(
                    f"registering SuperNode {i}'s key took over {self.start_timeout_s:g} s"
                ) from None
            self.procs.remove(proc)
            text = raw.decode(errors="replace")
            node_id = _json_field(text, "node-id")
            if proc.returncode != 0 or node_id is None:
                raise InputError(
                    f"the SuperLink refused to register SuperNode {i}'s key: {text.strip()[-400:]}"
                )
            self.node_ids.append(int(str(node_id)))
        return keys

    def stop(self) -> None:
        """Stop every process this federation started (their descendants and orphans too)."""
        stop_processes(self.procs, timeout_s=self.stop_timeout_s, known=self.tracker.known())
        self.procs.clear()
        self.tracker.close()
        for path in self._generated:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._generated.clear()

    def reap_dead_supernodes(self) -> list[LostSupernode]:
        """Name each SuperNode that died (once) and stop what it left behind.

        A SuperNode that exits while the federation runs (killed, out of memory, crashed) is
        recorded in :attr:`lost` and logged as a warning on the ``qtfl`` logger, naming its
        partition, node id, pid and how it ended; its orphaned ClientApp launcher and apps are
        stopped. Returns the SuperNodes newly found dead.
        """
        found = []
        known = {lost.partition for lost in self.lost}
        for i, node in enumerate(self.supernodes):
            if node.poll() is None:
                continue
            if i not in known:
                node_id = self.node_ids[i] if i < len(self.node_ids) else None
                lost = LostSupernode(i, node_id, node.pid, int(node.returncode))
                self.lost.append(lost)
                found.append(lost)
                log.warning("%s; the clients it serves count as dropped", lost.describe())
            orphans = self.tracker.descendants_of(node)
            if orphans:
                stop_processes([], timeout_s=self.stop_timeout_s, known=orphans)
        return found

    @contextmanager
    def running(self) -> Iterator[LocalFederation]:
        """Start; yield; always stop — also on failure, SIGINT and SIGTERM."""
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def interrupted(signum: int, frame: FrameType | None) -> None:
            for s in previous:  # a second signal while stopping must not cut the cleanup
                signal.signal(s, signal.SIG_IGN)
            self.stop()
            raise KeyboardInterrupt(f"stopped by signal {signum}")

        in_main = _in_main_thread()
        if in_main:
            for s in previous:
                signal.signal(s, interrupted)
        try:
            self.start()
            yield self
        finally:
            self.stop()
            if in_main:
                for s, handler in previous.items():
                    signal.signal(s, handler)

    @property
    def flower_home(self) -> Path:
        """``FLWR_HOME`` of every process here: apps Flower installs stay in the workdir."""
        return self.workdir / "flwr-home"

    def write_flower_home(self) -> Path:
        """A Flower home whose default SuperLink connection is this federation."""
        home = self.flower_home
        home.mkdir(exist_ok=True)
        lines = [
            "[superlink]",
            'default = "qtfl-local"',
            "",
            "[superlink.qtfl-local]",
            f'address = "{self.host}:{self.port}"',
        ]
        if self.insecure:
            lines.append("insecure = true")
        else:
            assert self.tls is not None
            lines.append(f'root-certificates = "{self.tls.ca_cert}"')
        (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return home


def node_config_arg(entries: Mapping[str, str]) -> str:
    """Flower's ``--node-config`` text: integers bare, everything else a quoted TOML string."""
    parts = []
    for key, value in entries.items():
        text = str(value)
        parts.append(f"{key}={text}" if text.isdigit() else f"{key}={json.dumps(text)}")
    return " ".join(parts)


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (JSON's escapes are TOML's; DEL must be escaped too)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _json_field(text: str, name: str) -> object | None:
    """``name`` of the last JSON object printed in ``text`` (``flwr ... --format json``)."""
    start = text.find("{")
    while start >= 0:
        with contextlib.suppress(ValueError):
            value = json.loads(text[start : text.rindex("}") + 1])
            if isinstance(value, dict) and name in value:
                return value[name]
        start = text.find("{", start + 1)
    return None


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


APP_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "qtfl-flower-app"
version = "1.0.0"
description = "qtfl scenario on Flower (written by qtfl run --engine flower-deploy)"
license = "Apache-2.0"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "qtfl"

[tool.flwr.app.components]
serverapp = "qtfl.flower.apps:server_app"
clientapp = "qtfl.flower.apps:client_app"

[tool.flwr.app.config]
job = {job}
checkpoint-file = {checkpoint_file}
node-ids = {node_ids}
"""


def write_app(
    directory: Path,
    job_file: Path,
    *,
    checkpoint_file: Path | None = None,
    node_ids: list[int] | tuple[int, ...] = (),
) -> Path:
    """The Flower app directory: a hand-written ``pyproject.toml`` naming qtfl's apps.

    Its run config carries the job itself (the text of ``job_file``, inline: a SuperNode on
    another host has no access to the server's files; the job holds no secret), the
    ServerApp's per-round checkpoint (``""``: none) and the registered SuperNode ids in
    partition order (``""``: any connected node).
    """
    directory.mkdir(parents=True, exist_ok=True)
    text = APP_PYPROJECT.format(
        job=toml_string(job_file.read_text(encoding="utf-8")),
        checkpoint_file=json.dumps("" if checkpoint_file is None else str(checkpoint_file)),
        node_ids=json.dumps(" ".join(str(i) for i in node_ids)),
    )
    (directory / "pyproject.toml").write_text(text, encoding="utf-8")
    return directory


def run_deployed(
    federation: LocalFederation,
    *,
    job_file: Path,
    result_path: Path,
    timeout_s: float,
    checkpoint_file: Path | None = None,
) -> None:
    """Submit the app, stream its logs to ``flwr-run-<scenario>.log``, wait for the result.

    ``flwr run --stream`` follows the run until it ends, so the ServerApp's own messages
    (a node that did not answer, a failure) land in that log; if the run ends without a
    result, the end of the log is the error message. ``checkpoint_file``: where the
    ServerApp keeps its per-round checkpoint (and resumes from, if present).
    """
    app = write_app(
        federation.workdir / f"app-{result_path.stem}",
        job_file,
        checkpoint_file=checkpoint_file,
        node_ids=federation.node_ids,
    )
    env = flower_env()
    env["FLWR_HOME"] = str(federation.write_flower_home())
    log_path = federation.workdir / f"flwr-run-{result_path.stem}.log"

    def tail() -> str:
        return log_path.read_text(errors="replace").strip()[-800:]

    with open(log_path, "wb") as log:
        runner = subprocess.Popen(
            ["flwr", "run", str(app), "--stream"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=federation.workdir,
            start_new_session=True,  # a terminal's Ctrl-C reaches qtfl, which stops it
        )
    deadline = time.monotonic() + timeout_s
    try:
        while not result_path.is_file():
            if runner.poll() is not None:  # the run ended; give the result file a moment
                for _ in range(50):
                    if result_path.is_file():
                        return
                    time.sleep(0.1)
                raise InputError(f"the Flower run ended without a result: {tail()}")
            if time.monotonic() > deadline:
                raise InputError(
                    f"the Flower run did not finish within {timeout_s:g} s; "
                    f"logs in {federation.workdir}"
                )
            link = federation.procs[0] if federation.procs and federation.attach is None else None
            if link is not None and link.poll() is not None:
                raise InputError(
                    f"the SuperLink exited (code {link.returncode}); logs in {federation.workdir}"
                )
            federation.reap_dead_supernodes()
            time.sleep(0.2)
        with contextlib.suppress(subprocess.TimeoutExpired):
            runner.wait(timeout=30)  # let the log stream catch up with the finished run
    finally:
        stop_processes([runner], timeout_s=federation.stop_timeout_s)
