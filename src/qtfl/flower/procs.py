"""The processes a Flower deployment starts, and stopping every one of them.

Flower's daemons start children of their own: as qtfl runs them
(:mod:`qtfl.flower.node_runtime`), the SuperLink and each SuperNode a launcher with a fork
server that starts one app process per task; Flower's own (``flower-superexec``) detaches
into a session of its own. When a SuperNode dies abruptly (killed, out of memory) those
children are re-parented to init and no longer appear among anyone's descendants: a plain
"terminate the tree" misses them, and they outlive the run until they notice their parent
is gone.

:class:`ProcessTracker` therefore keeps every process it has ever seen below the roots it
started (polled every ``interval_s``, remembered with its start time so a recycled pid is
never mistaken for it), and every root runs in a session of its own, so a process spawned
and orphaned between two polls is still found by its session id. :func:`stop_processes`
sends SIGTERM to all of them, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress

import psutil  # type: ignore[import-untyped]


def _session_members(sessions: set[int]) -> list[psutil.Process]:
    """Live processes whose session id is one of ``sessions``."""
    found = []
    for proc in psutil.process_iter():
        with suppress(psutil.Error, OSError):
            if os.getsid(proc.pid) in sessions:
                found.append(proc)
    return found


def process_tree(procs: Iterable[subprocess.Popen[bytes]]) -> list[psutil.Process]:
    """Every live process below (and including) ``procs``, plus their sessions' members.

    Each root is expected to lead its own session (``start_new_session=True``).
    """
    tree: dict[int, psutil.Process] = {}
    sessions: set[int] = set()
    for p in procs:
        try:
            root = psutil.Process(p.pid)
            sessions.add(p.pid)
            for proc in [*root.children(recursive=True), root]:
                tree[proc.pid] = proc
        except psutil.NoSuchProcess:
            sessions.add(p.pid)  # its session may outlive it
    for proc in _session_members(sessions):
        tree.setdefault(proc.pid, proc)
    return list(tree.values())


def stop_processes(
    procs: list[subprocess.Popen[bytes]],
    *,
    timeout_s: float = 10.0,
    known: Iterable[psutil.Process] = (),
) -> None:
    """SIGTERM ``procs``, their descendants, sessions and ``known`` processes; then SIGKILL.

    ``known`` are processes seen earlier below these roots (a :class:`ProcessTracker`); a
    ``psutil.Process`` checks its start time before signalling, so a recycled pid is safe.
    """
    tree = {p.pid: p for p in process_tree(procs)}
    for proc in known:
        with suppress(psutil.Error):
            if proc.is_running():
                tree.setdefault(proc.pid, proc)
    everything = list(tree.values())
    for proc in everything:
        with suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(everything, timeout=timeout_s)
    for proc in alive:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout_s)
    for p in procs:
        with suppress(subprocess.TimeoutExpired):
            p.wait(timeout=1)


class ProcessTracker:
    """Remembers every descendant of the watched roots, polled on a daemon thread."""

    def __init__(self, *, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.roots: list[subprocess.Popen[bytes]] = []
        self.seen: dict[tuple[int, float], psutil.Process] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, proc: subprocess.Popen[bytes]) -> None:
        """Track ``proc`` and its descendants from now on (starts the poller)."""
        with self._lock:
            self.roots.append(proc)
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="qtfl-procs", daemon=True)
            self._thread.start()
        self.poll()

    def poll(self) -> None:
        """Record the current descendants of every root."""
        with self._lock:
            roots = list(self.roots)
        for proc in process_tree(roots):
            with suppress(psutil.Error):
                key = (proc.pid, proc.create_time())
                with self._lock:
                    self.seen.setdefault(key, proc)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            with contextlib.suppress(Exception):  # a vanished process mid-scan: next poll
                self.poll()

    def known(self) -> list[psutil.Process]:
        with self._lock:
            return list(self.seen.values())

    def descendants_of(self, root: subprocess.Popen[bytes]) -> list[psutil.Process]:
        """Processes recorded in ``root``'s session (its descendants unless they left it)."""
        found = []
        for proc in self.known():
            with suppress(psutil.Error, OSError):
                if proc.is_running() and os.getsid(proc.pid) == root.pid:
                    found.append(proc)
        return found

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.interval_s + 1)
            self._thread = None
        with self._lock:
            self.roots.clear()
            self.seen.clear()


@contextmanager
def descendants_stopped(
    *, interval_s: float = 0.5, timeout_s: float = 10.0
) -> Iterator[Callable[[], None]]:
    """Stop, on exit, every process this process started meanwhile (polled while inside).

    For runtimes started in-process (Ray, by Flower's simulation engine): their workers are
    grandchildren that an orderly shutdown can orphan before they exit, so they are
    recorded while they are still descendants and stopped at the end. Yields
    ``kill_now()``: SIGKILL at once every such process seen so far or still a descendant
    (for a process about to leave with ``os._exit``, which has no time for a grace period).
    """
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    seen: dict[tuple[int, float], psutil.Process] = {}
    done = threading.Event()

    def poll() -> None:
        for proc in me.children(recursive=True):
            with suppress(psutil.Error):
                if proc.pid not in before:
                    seen.setdefault((proc.pid, proc.create_time()), proc)

    def loop() -> None:
        while not done.wait(interval_s):
            with contextlib.suppress(Exception):
                poll()

    def kill_now() -> None:
        with contextlib.suppress(Exception):
            poll()
        for proc in seen.values():
            with suppress(psutil.Error):
                proc.kill()

    thread = threading.Thread(target=loop, name="qtfl-descendants", daemon=True)
    thread.start()
    try:
        yield kill_now
    finally:
        done.set()
        thread.join(timeout=2 * interval_s + 1)
        with contextlib.suppress(Exception):
            poll()
        stop_processes([], timeout_s=timeout_s, known=list(seen.values()))
