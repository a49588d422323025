"""Flower's deployment runtime on loopback: a SuperLink, N SuperNodes and ``flwr run``.

:class:`LocalFederation` starts (or attaches to) a SuperLink and starts ``num_supernodes``
SuperNodes on 127.0.0.1, each with ``partition-id=i num-partitions=N`` in its node config;
:func:`run_deployed` writes the Flower app's ``pyproject.toml`` by hand (``flwr new`` would
fetch templates from the network), a Flower home with one SuperLink connection, submits the
run with ``flwr run`` and waits for the ServerApp's result file.

Every process is started in its own session; on exit — normal, failure, or Ctrl-C
(SIGINT/SIGTERM) — each started process and all its descendants (the ``flower-superexec``
and app processes Flower spawns) get SIGTERM, then SIGKILL after ``stop_timeout_s``.
Telemetry and update checks are off (``FLWR_TELEMETRY_ENABLED=0``,
``FLWR_DISABLE_UPDATE_CHECK=1``) and the SuperLink never installs dependencies, so nothing
is contacted but 127.0.0.1.

TLS (optional): :class:`TlsFiles` gives the CA, certificate and key; the SuperLink serves
with them and SuperNodes and ``flwr`` verify against the CA.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil  # type: ignore[import-untyped]

from qtfl.errors import InputError, require_int, require_range

HOST = "127.0.0.1"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for TLS between SuperLink, SuperNodes and ``flwr``."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def require_free_port(port: int, what: str) -> int:
    """``port`` if nothing listens on it, else InputError naming it."""
    require_int(what, port, low=1, high=65535)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            raise InputError(
                f"{what} {port} on {HOST} is already in use; choose another port"
            ) from None
    return port


def wait_for_port(
    port: int, *, timeout_s: float, what: str, proc: subprocess.Popen[bytes] | None = None
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
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise InputError(f"{what} on {HOST}:{port} did not answer within {timeout_s:g} s")


def flower_env() -> dict[str, str]:
    """The environment for Flower processes: no telemetry, no update check, our venv first."""
    env = dict(os.environ)
    env["FLWR_TELEMETRY_ENABLED"] = "0"
    env["FLWR_DISABLE_UPDATE_CHECK"] = "1"
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def stop_processes(procs: list[subprocess.Popen[bytes]], *, timeout_s: float = 10.0) -> None:
    """SIGTERM every process and its descendants, then SIGKILL what is left."""
    tree: list[psutil.Process] = []
    for p in procs:
        try:
            root = psutil.Process(p.pid)
            tree.extend(root.children(recursive=True))
            tree.append(root)
        except psutil.NoSuchProcess:
            continue
    for proc in tree:
        with suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(tree, timeout=timeout_s)
    for proc in alive:
        with suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout_s)
    for p in procs:
        with suppress(subprocess.TimeoutExpired):
            p.wait(timeout=1)


@dataclass
class LocalFederation:
    """A SuperLink (started or attached) and ``num_supernodes`` SuperNodes on loopback.

    Args:
        workdir: where logs, the Flower home and the app go.
        num_supernodes: SuperNodes to start (>= 1).
        superlink_port: the SuperLink's port; ``None`` picks a free one. A port in use is an
            InputError (unless ``attach`` is set).
        attach: connect to an already running SuperLink on this port instead of starting one.
        tls: serve TLS with these files (``None``: insecure HTTP on loopback).
        start_timeout_s: how long the SuperLink may take to listen.
        stop_timeout_s: SIGTERM-to-SIGKILL grace.
        fleet_port: where SuperNodes connect (default: the SuperLink port; a test's
            loopback proxy can sit in between).
    """

    workdir: Path
    num_supernodes: int = 2
    superlink_port: int | None = None
    attach: int | None = None
    tls: TlsFiles | None = None
    start_timeout_s: float = 30.0
    stop_timeout_s: float = 10.0
    fleet_port: int | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    supernodes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        require_int("num_supernodes", self.num_supernodes, low=1)
        require_range("start_timeout_s", self.start_timeout_s, low=0.0, low_open=True)
        self.workdir = Path(self.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def port(self) -> int:
        assert self.superlink_port is not None
        return self.superlink_port

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
        return proc

    def _tls_args(self, *, server: bool) -> list[str]:
        if self.tls is None:
            return ["--insecure"]
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
        """Start (or attach to) the SuperLink, then the SuperNodes."""
        if self.attach is not None:
            self.superlink_port = self.attach
            wait_for_port(self.port, timeout_s=self.start_timeout_s, what="SuperLink to attach to")
        else:
            if self.superlink_port is None:
                self.superlink_port = free_port()
            require_free_port(self.port, "SuperLink port")
            link = self._spawn(
                [
                    "flower-superlink",
                    *self._tls_args(server=True),
                    "--port",
                    str(self.port),
                    "--disable-runtime-dependency-installation",
                ],
                "superlink.log",
            )
            wait_for_port(self.port, timeout_s=self.start_timeout_s, what="SuperLink", proc=link)
        fleet = self.fleet_port or self.port
        n = self.num_supernodes
        for i in range(n):
            node = self._spawn(
                [
                    "flower-supernode",
                    *self._tls_args(server=False),
                    "--superlink",
                    f"{HOST}:{fleet}",
                    "--port",
                    str(free_port()),
                    "--node-config",
                    f"partition-id={i} num-partitions={n}",
                ],
                f"supernode-{i}.log",
            )
            self.supernodes.append(node)

    def stop(self) -> None:
        """Stop every process this federation started (and their descendants)."""
        stop_processes(self.procs, timeout_s=self.stop_timeout_s)
        self.procs.clear()

    @contextmanager
    def running(self) -> Iterator[LocalFederation]:
        """Start; yield; always stop — also on failure, SIGINT and SIGTERM."""
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def interrupted(signum: int, frame: FrameType | None) -> None:
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
            f'address = "{HOST}:{self.port}"',
        ]
        if self.tls is None:
            lines.append("insecure = true")
        else:
            lines.append(f'root-certificates = "{self.tls.ca_cert}"')
        (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return home


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
job-file = "{job_file}"
"""


def write_app(directory: Path, job_file: Path) -> Path:
    """The Flower app directory: a hand-written ``pyproject.toml`` naming qtfl's apps."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pyproject.toml").write_text(
        APP_PYPROJECT.format(job_file=str(job_file).replace("\\", "/")), encoding="utf-8"
    )
    return directory


def run_deployed(
    federation: LocalFederation, *, job_file: Path, result_path: Path, timeout_s: float
) -> None:
    """Submit the app, stream its logs to ``flwr-run-<scenario>.log``, wait for the result.

    ``flwr run --stream`` follows the run until it ends, so the ServerApp's own messages
    (a node that did not answer, a failure) land in that log; if the run ends without a
    result, the end of the log is the error message.
    """
    app = write_app(federation.workdir / f"app-{result_path.stem}", job_file)
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
            time.sleep(0.2)
        with contextlib.suppress(subprocess.TimeoutExpired):
            runner.wait(timeout=30)  # let the log stream catch up with the finished run
    finally:
        stop_processes([runner], timeout_s=federation.stop_timeout_s)
