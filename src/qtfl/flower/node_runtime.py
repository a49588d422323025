"""The SuperNode process qtfl starts: Flower's SuperNode, shorter polls, warm ClientApps.

Flower 1.41's ``flower-supernode`` (default ``--isolation subprocess``) starts a
``flower-superexec`` that launches one ``flwr-clientapp`` process per message; each spends
2.5-3.9 s importing torch, Flower and qtfl before it handles its message. The SuperNode
also sleeps a fixed 3 s whenever the SuperLink has no message for it, and polls every
0.5 s for the ClientApp's reply. A deployed round exchanges several messages per node,
so those waits were most of a round's 15-27 s.

``python -m qtfl.flower.node_runtime supernode ARGS...`` (what :mod:`qtfl.flower.deploy` and
:func:`qtfl.flower.hosts.serve_supernode` start, ARGS being ``flower-supernode``'s own) runs
the same SuperNode with ``--isolation process`` and, as its child, one **warm ClientApp
launcher** (``... launcher``) that takes the SuperNode's tasks from its Runtime API as
``flower-superexec`` does, and runs each in a process forked from a server that imported
torch, Flower and qtfl once (:mod:`multiprocessing`'s ``forkserver``, preloading
:data:`PRELOAD`). Each message still gets a process of its own that runs Flower's own
``run_clientapp`` (pull the task, install the app, call it, push the reply), as
``flwr-clientapp`` would: nothing of one message's handling is left for the next, and the
node's TLS to the SuperLink and its authentication key are unchanged. The launcher exits
with its SuperNode (it watches the SuperNode's pid) and stops its running ClientApps.

The two fixed waits are shortened in **this one place**, :func:`shorten_supernode_waits`:
it gives ``flwr.supernode.start_client_internal`` (and only that module) a ``time``
whose ``sleep(3)`` (no message) lasts :data:`IDLE_POLL_S` and whose ``sleep(0.5)`` (reply
not yet there) lasts :data:`REPLY_POLL_S`; every other call is the real ``time``. Flower
has no option for either wait. If the installed Flower's source no longer has those two
calls, nothing is changed and a warning says so (the node works, only slower).

Forked children share the server's imported state, never a message's: the server handles
no message. Python's ``random`` is reseeded in each child (``os.register_at_fork``); run
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
    "main",
    "serve_clientapps",
    "shorten_supernode_waits",
    "supernode_command",
]

log = logging.getLogger("qtfl.flower")

#: How long an idle SuperNode waits before asking the SuperLink again (Flower: 3 s).
IDLE_POLL_S = 0.5
#: How often a SuperNode looks for its ClientApp's reply (Flower: 0.5 s).
REPLY_POLL_S = 0.1
#: How often the launcher asks its SuperNode for a task (``flower-superexec``: 1 s).
TASK_POLL_S = 0.1
#: The fixed sleeps of ``flwr.supernode.start_client_internal`` and what they become.
FLOWER_WAITS_S: Mapping[float, float] = {3: IDLE_POLL_S, 0.5: REPLY_POLL_S}
#: Modules the ClientApp fork server imports once (a ClientApp's own imports).
PRELOAD = (
    "torch",
    "flwr.supernode.runtime.run_clientapp",
    "qtfl.flower.apps",
    "qtfl.flower.node_runtime",
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


def _runtime_api_address(flower_args: Sequence[str]) -> str:
    """``HOST:PORT`` of the SuperNode's Runtime API, as ``flower-supernode`` parses it."""
    from flwr.supercore.constant import SUPERNODE_UVICORN_DEFAULT_PORT, UVICORN_DEFAULT_HOST

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--host", default=UVICORN_DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=SUPERNODE_UVICORN_DEFAULT_PORT)
    parser.add_argument("--isolation", default=None)
    parser.add_argument("--ssl-certfile", default=None)
    known, _ = parser.parse_known_args(list(flower_args))
    if known.isolation is not None:
        raise SystemExit("qtfl's SuperNode chooses --isolation itself (process)")
    if known.ssl_certfile is not None:
        raise SystemExit("qtfl's SuperNode serves its Runtime API on the loopback without TLS")
    host = f"[{known.host}]" if ":" in known.host else known.host
    return f"{host}:{known.port}"


def run_supernode(flower_args: Sequence[str]) -> None:
    """Start the warm launcher as a child, then run ``flower-supernode`` in this process."""
    address = _runtime_api_address(flower_args)
    shorten_supernode_waits()
    launcher = ["--runtime-api-address", address, "--parent-pid", str(os.getpid())]
    subprocess.Popen([sys.executable, "-m", "qtfl.flower.node_runtime", "launcher", *launcher])
    from flwr.supernode.cli import flower_supernode

    sys.argv = ["flower-supernode", *flower_args, "--isolation", "process"]
    flower_supernode()


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


def _run_clientapp(runtime_api_address: str, token: str, parent_pid: int) -> None:
    """One task in a forked process: exactly what ``flwr-clientapp --token ...`` does."""
    from flwr.supernode.runtime.run_clientapp import run_clientapp

    run_clientapp(
        runtime_api_address=runtime_api_address,
        token=token,
        insecure=True,
        certificates=None,
        parent_pid=parent_pid,
        runtime_dependency_install=False,
    )


def _task_target() -> Any:
    """:func:`_run_clientapp` under this module's import name (also when run as ``-m``,
    so a forked child finds it in the preloaded module)."""
    from qtfl.flower import node_runtime

    return node_runtime._run_clientapp


class _Stop(Exception):
    """SIGINT or SIGTERM reached the launcher."""


def serve_clientapps(
    runtime_api_address: str, *, parent_pid: int, poll_s: float = TASK_POLL_S
) -> int:
    """Run the SuperNode's ClientApp tasks, each in a fork of a warm server, until it exits.

    Takes tasks as ``flower-superexec`` does (``AcquireTask`` on the Runtime API, ClientApp
    tasks only; a failed call is retried while the SuperNode ``parent_pid`` lives) and stops
    when that SuperNode is gone or on SIGINT/SIGTERM; running ClientApps then get SIGTERM
    (Flower's handler reports them failed), then SIGKILL. Returns 0.
    """
    import httpx
    from flwr.proto.runtime_pb2 import AcquireTaskRequest
    from flwr.supercore.constant import TaskType
    from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor
    from flwr.supercore.retry import RetryInvoker, exponential
    from flwr.supercore.runtime import RuntimeHttpClient

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stop(signum)

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, stop)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    from multiprocessing import forkserver

    running: list[BaseProcess] = []
    client = None
    try:
        forkserver.ensure_running()  # imports PRELOAD while the SuperNode starts
        if not _wait_for_api(runtime_api_address, parent_pid=parent_pid):
            return 0
        client = RuntimeHttpClient.from_server_address(
            server_address=runtime_api_address,
            insecure=True,
            root_certificates=None,
            interceptors=[RuntimeVersionHttpInterceptor(component_name="SuperExec")],
            retry_invoker=RetryInvoker(
                wait_gen_factory=lambda: exponential(max_delay=2),
                recoverable_exceptions=(httpx.TransportError, httpx.HTTPStatusError),
                max_tries=None,
                max_time=None,
                should_giveup=lambda exc: not _alive(parent_pid),
            ),
        )
        request = AcquireTaskRequest(supported_task_types=[str(TaskType.CLIENT_APP)])
        while _alive(parent_pid):
            running = [p for p in running if p.is_alive()]
            reply = client.AcquireTask(request)
            if reply.HasField("task") and reply.token:
                child: BaseProcess = context.Process(
                    target=_task_target(),
                    args=(runtime_api_address, reply.token, os.getpid()),
                    name=f"clientapp-task-{reply.task.task_id}",
                )
                child.start()
                running.append(child)
                continue  # another message may be waiting
            time.sleep(poll_s)
    except _Stop:
        pass
    except Exception:  # the SuperNode went away mid-call: stop as on its exit
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
    """``supernode FLOWER_ARGS...`` or ``launcher --runtime-api-address A --parent-pid P``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["supernode"]:
        run_supernode(args[1:])
        return 0
    if args[:1] == ["launcher"]:
        parser = argparse.ArgumentParser(prog="qtfl.flower.node_runtime launcher")
        parser.add_argument("--runtime-api-address", required=True)
        parser.add_argument("--parent-pid", type=int, required=True)
        known = parser.parse_args(args[1:])
        logging.basicConfig(level=logging.INFO)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
        return serve_clientapps(known.runtime_api_address, parent_pid=known.parent_pid)
    print("usage: python -m qtfl.flower.node_runtime {supernode|launcher} ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
