"""The Flower daemons qtfl starts: shorter polls and warm app processes.

Flower 1.41's ``flower-supernode`` (default ``--isolation subprocess``) starts a
``flower-superexec`` that launches one ``flwr-clientapp`` process per message; each spends
2.5-3.9 s importing torch, Flower and qtfl before it handles its message. The SuperLink
does the same with one ``flwr-serverapp`` per run (one per scenario). The SuperNode also
sleeps a fixed 3 s whenever the SuperLink has no message for it and polls every 0.5 s for
its ClientApp's reply. A deployed round exchanges a message per node and more with some
channels, so those waits and imports were most of a round's 15-27 s.

``python -m qtfl.flower.node_runtime supernode ARGS...`` (``superlink ARGS...``), what
:mod:`qtfl.flower.deploy` and :func:`qtfl.flower.hosts.serve_supernode` start, ``ARGS`` being
``flower-supernode``'s (``flower-superlink``'s) own, runs that daemon in this process with
``--isolation process`` and, as its child, one **warm launcher** (``... launcher``) that
takes the daemon's app tasks from its Runtime API as ``flower-superexec`` does and runs each
in a process forked from a server that imported torch, Flower and qtfl once
(:mod:`multiprocessing`'s ``forkserver``, preloading :data:`PRELOAD`). Each task still gets
a process of its own running Flower's own ``flwr-clientapp`` (``flwr-serverapp``) entry
point with the task's token, as ``flower-superexec`` would start it: nothing of one
message's handling is left for the next; the TLS between SuperLink and SuperNodes, node
authentication and the SuperLink's TLS Runtime API are unchanged. The launcher watches its
daemon's pid, exits with it and stops the app processes still running.

The SuperNode's two fixed waits are shortened in **this one place**,
:func:`shorten_supernode_waits`: it gives ``flwr.supernode.start_client_internal`` (and
only that module) a ``time`` whose ``sleep(3)`` (no message) lasts :data:`IDLE_POLL_S`
and whose ``sleep(0.5)`` (reply not there yet) lasts :data:`REPLY_POLL_S`; every other
call is the real ``time``. Flower has no option for either wait. If the installed Flower's
source no longer has those two calls, nothing is changed and a warning says so (the node
works, only slower).

Forked children share the server's imported modules, never a task's data: the server runs
no task. Python's ``random`` is reseeded in each child (``os.register_at_fork``); run
secrets come from the OS CSPRNG (:mod:`secrets`), which a fork does not copy.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from multiprocessing.process import BaseProcess
from types import FrameType, ModuleType
from typing import Any

__all__ = [
    "IDLE_POLL_S",
    "PRELOAD",
    "REPLY_POLL_S",
    "TASKS",
    "main",
    "serve_tasks",
    "shorten_supernode_waits",
    "superlink_command",
    "supernode_command",
]

log = logging.getLogger("qtfl.flower")

#: How long an idle SuperNode waits before asking the SuperLink again (Flower: 3 s).
IDLE_POLL_S = 0.5
#: How often a SuperNode looks for its ClientApp's reply (Flower: 0.5 s).
REPLY_POLL_S = 0.1
#: How often a launcher asks its daemon for a task (``flower-superexec``: 1 s).
TASK_POLL_S = 0.1
#: The fixed sleeps of ``flwr.supernode.start_client_internal`` and what they become.
FLOWER_WAITS_S: Mapping[float, float] = {3: IDLE_POLL_S, 0.5: REPLY_POLL_S}
#: Modules a launcher's fork server imports once (what an app process imports).
PRELOAD = (
    "torch",
    "flwr.supernode.cli",
    "flwr.superlink.cli",
    "qtfl.flower.apps",
)


class _PolledTime:
    """The :mod:`time` module (``real``), with the sleeps named in ``waits`` replaced by their
    values."""

    def __init__(self, waits: Mapping[float, float], *, real: Any = time) -> None:
        self.waits = dict(waits)
        self.real = real

    def sleep(self, seconds: float) -> None:
        self.real.sleep(self.waits.get(seconds, seconds))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def shorten_supernode_waits(
    module: ModuleType | None = None, *, waits: Mapping[float, float] = FLOWER_WAITS_S
) -> bool:
    """Give the SuperNode's main loop shorter fixed waits; True if they were found and changed.

    ``module`` defaults to ``flwr.supernode.start_client_internal``. Its source must call
    ``time.sleep(w)`` for every ``w`` in ``waits``; otherwise it is left alone, a warning is
    logged and False returned.
    """
    if module is None:
        from flwr.supernode import start_client_internal as module_

        module = module_
    source = inspect.getsource(module)
    missing = [w for w in waits if f"time.sleep({w:g})" not in source]
    if missing or not isinstance(getattr(module, "time", None), ModuleType):
        log.warning("%s has no time.sleep(%s): its waits are left as they are",
                    module.__name__, ", ".join(f"{w:g}" for w in missing) or "...")  # fmt: skip
        return False
    module.time = _PolledTime(waits)  # type: ignore[attr-defined]
    return True


def supernode_command(flower_args: Sequence[str]) -> list[str]:
    """The command that runs a SuperNode with ``flower-supernode``'s ``flower_args``."""
    return [sys.executable, "-m", "qtfl.flower.node_runtime", "supernode", *flower_args]


def superlink_command(flower_args: Sequence[str]) -> list[str]:
    """The command that runs a SuperLink with ``flower-superlink``'s ``flower_args``."""
    return [sys.executable, "-m", "qtfl.flower.node_runtime", "superlink", *flower_args]


def _runtime_api(flower_args: Sequence[str], *, link: bool) -> tuple[str, str | None]:
    """``HOST:PORT`` of a daemon's Runtime API as its ``flower_args`` set it, and the CA file
    its apps verify it with (``None``: plain HTTP), as Flower's own superexec gets them."""
    from flwr.supercore.address import resolve_bind_address
    from flwr.supercore.constant import (
        SUPERLINK_UVICORN_DEFAULT_PORT,
        SUPERNODE_UVICORN_DEFAULT_PORT,
        UVICORN_DEFAULT_HOST,
    )

    default_port = SUPERLINK_UVICORN_DEFAULT_PORT if link else SUPERNODE_UVICORN_DEFAULT_PORT
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--host", default=UVICORN_DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--isolation", default=None)
    parser.add_argument("--insecure", action="store_true")
    parser.add_argument("--ssl-certfile", default=None)
    parser.add_argument("--ssl-ca-certfile", default=None)
    known, _ = parser.parse_known_args(list(flower_args))
    if known.isolation is not None:
        raise SystemExit("qtfl runs Flower's daemons with --isolation process; do not set it")
    if not link and known.ssl_certfile is not None:
        raise SystemExit("qtfl's SuperNode serves its Runtime API on the loopback without TLS")
    host = f"[{known.host}]" if ":" in known.host else known.host
    address = resolve_bind_address(f"{host}:{known.port}")
    secure = link and not known.insecure and known.ssl_certfile is not None
    return address, (known.ssl_ca_certfile if secure else None)


def _start_launcher(task: str, address: str, ca_file: str | None) -> None:
    """The warm launcher for ``task`` apps, a child of this daemon process."""
    args = ["--task", task, "--runtime-api-address", address, "--parent-pid", str(os.getpid())]
    if ca_file is not None:
        args += ["--root-certificates", ca_file]
    subprocess.Popen([sys.executable, "-m", "qtfl.flower.node_runtime", "launcher", *args])


def run_supernode(flower_args: Sequence[str]) -> None:
    """Start the warm ClientApp launcher, then run ``flower-supernode`` in this process."""
    address, _ = _runtime_api(flower_args, link=False)
    shorten_supernode_waits()
    _start_launcher("clientapp", address, None)
    from flwr.supernode.cli import flower_supernode

    sys.argv = ["flower-supernode", *flower_args, "--isolation", "process"]
    flower_supernode()


def run_superlink(flower_args: Sequence[str]) -> None:
    """Start the warm ServerApp launcher, then run ``flower-superlink`` in this process."""
    address, ca_file = _runtime_api(flower_args, link=True)
    _start_launcher("serverapp", address, ca_file)
    from flwr.superlink.cli import flower_superlink

    sys.argv = ["flower-superlink", *flower_args, "--isolation", "process"]
    flower_superlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_for_api(address: str, *, parent_pid: int) -> bool:
    """True once the Runtime API accepts connections; False if the SuperNode died first."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    while _alive(parent_pid):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.settimeout(0.5)
            if s.connect_ex((host, int(port))) == 0:
                return True
        time.sleep(0.05)
    return False


#: The tasks a launcher serves: Flower's task type and the entry point that runs one.
TASKS: Mapping[str, tuple[str, str]] = {
    "clientapp": ("flwr-clientapp", "flwr.supernode.cli:flwr_clientapp"),
    "serverapp": ("flwr-serverapp", "flwr.superlink.cli:flwr_serverapp"),
}


def _run_task(entry: str, argv: list[str]) -> None:
    """One task in a forked process: Flower's own ``flwr-clientapp``/``flwr-serverapp``
    entry point with ``argv`` (its exit code is the process's)."""
    import importlib

    module, _, name = entry.partition(":")
    sys.argv = argv
    getattr(importlib.import_module(module), name)()


def _task_target() -> Any:
    """:func:`_run_task` under this module's import name, also when it runs as ``-m``."""
    from qtfl.flower import node_runtime

    return node_runtime._run_task


class _Stop(Exception):
    """SIGINT or SIGTERM reached the launcher."""


def serve_tasks(
    task: str,
    runtime_api_address: str,
    *,
    parent_pid: int,
    root_certificates: str | None = None,
    poll_s: float = TASK_POLL_S,
) -> int:
    """Run a daemon's ``task`` apps, each in a fork of a warm server, until the daemon exits.

    Takes tasks as ``flower-superexec`` does (``AcquireTask`` on the Runtime API at
    ``runtime_api_address``, over TLS verified with ``root_certificates`` if given; a failed
    call is retried while the daemon ``parent_pid`` lives) and stops when that daemon is
    gone or on SIGINT/SIGTERM; app processes still running then get SIGTERM (Flower's
    handler reports their task failed), then SIGKILL. Returns 0.
    """
    import httpx
    from flwr.proto.runtime_pb2 import AcquireTaskRequest
    from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor
    from flwr.supercore.retry import RetryInvoker, exponential
    from flwr.supercore.runtime import RuntimeHttpClient

    task_type, entry = TASKS[task]

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stop(signum)

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, stop)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    from multiprocessing import forkserver

    tls = (
        ["--insecure"] if root_certificates is None else ["--root-certificates", root_certificates]
    )
    running: list[BaseProcess] = []
    client = None
    try:
        forkserver.ensure_running()  # imports PRELOAD while the daemon starts
        if not _wait_for_api(runtime_api_address, parent_pid=parent_pid):
            return 0
        client = RuntimeHttpClient.from_server_address(
            server_address=runtime_api_address,
            insecure=root_certificates is None,
            root_certificates=root_certificates,
            interceptors=[RuntimeVersionHttpInterceptor(component_name="SuperExec")],
            retry_invoker=RetryInvoker(
                wait_gen_factory=lambda: exponential(max_delay=2),
                recoverable_exceptions=(httpx.TransportError, httpx.HTTPStatusError),
                max_tries=None,
                max_time=None,
                should_giveup=lambda exc: not _alive(parent_pid),
            ),
        )
        request = AcquireTaskRequest(supported_task_types=[task_type])
        while _alive(parent_pid):
            running = [p for p in running if p.is_alive()]
            reply = client.AcquireTask(request)
            if reply.HasField("task") and reply.token:
                argv = [task_type, "--runtime-api-address", runtime_api_address,
                        "--token", reply.token, *tls, "--parent-pid", str(os.getpid())]  # fmt: skip
                child: BaseProcess = context.Process(
                    target=_task_target(), args=(entry, argv), name=f"{task}-{reply.task.task_id}"
                )
                child.start()
                running.append(child)
                continue  # another task may be waiting
            time.sleep(poll_s)
    except _Stop:
        pass
    except Exception:  # the daemon went away mid-call: stop as on its exit
        if _alive(parent_pid):
            raise
    finally:
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)  # a second signal must not cut the cleanup
        if client is not None:
            client.close()
        for child in running:
            child.terminate()
        for child in running:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()
                child.join(timeout=5)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``supernode ARGS...``, ``superlink ARGS...`` or ``launcher --task T ...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["supernode"]:
        run_supernode(args[1:])
        return 0
    if args[:1] == ["superlink"]:
        run_superlink(args[1:])
        return 0
    if args[:1] == ["launcher"]:
        parser = argparse.ArgumentParser(prog="python -m qtfl.flower.node_runtime launcher")
        parser.add_argument("--task", choices=sorted(TASKS), required=True)
        parser.add_argument("--runtime-api-address", required=True)
        parser.add_argument("--parent-pid", type=int, required=True)
        parser.add_argument("--root-certificates", default=None)
        known = parser.parse_args(args[1:])
        logging.basicConfig(level=logging.INFO)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
        return serve_tasks(known.task, known.runtime_api_address, parent_pid=known.parent_pid,
                           root_certificates=known.root_certificates)  # fmt: skip
    print("usage: python -m qtfl.flower.node_runtime {supernode|superlink|launcher} ...",
          file=sys.stderr)  # fmt: skip
    return 2


if __name__ == "__main__":
    sys.exit(main())
