"""Clients' uplink sends of one round, spread over worker processes.

Within a round the clients' uplinks are independent: each client has its own Channel and,
when the engine keys its randomness per ``(round, client)`` (``uplink_rng`` of
:class:`~qtfl.fl.engine.FederatedSimulation`), its own Generator. :class:`ChannelPool`
sends such a batch in worker processes and hands back the Deliveries in the order given,
bit-identical to sending them one after the other in this process.

Why processes, not threads: a teleport send is Python-heavy (stim sampling, check
statistics, the steps around LDPC decoding), so threads would fight over the GIL. A send's
inputs pickle cheaply (the Channel is a small description plus cached code matrices, the
update a float32 vector), so every task carries a few ``(channel, update, rng)`` jobs (two
tasks per worker, their FEC blocks decoded in one decoder call,
:func:`~qtfl.channel.batched.send_batched`) and returns ``(delivery, channel.state_dict())``
per job; the parent loads that state back into its Channel,
so a stateful channel (an error-feedback residual, :class:`~qtfl.fl.compressed_channel.
CompressedChannel`) continues exactly as if it had sent in-process. A Channel must keep
everything that carries over from one send to the next in ``state_dict()`` — the Channel
contract already asks that for checkpoints. A channel's link secret travels with it to the
worker through the pool's pipe (memory of this run's own child processes, never a file); it
derives each transfer's secret generator from the transfer's keyed ``rng``, so the worker's
secret choices are the ones this process would make.

Workers are started with ``spawn`` (no fork of a process holding torch's threads), lazily,
the first time a batch goes to the pool, and live until :meth:`ChannelPool.close`; each runs
BLAS/OpenMP, torch and numba (when a channel loads them) with one thread, as the engine's
process does. Starting takes seconds (fresh interpreters importing the channel stack: about
2 s on an idle 2-core machine, more under load); batches are sent in-process until the
workers are up, so nobody waits for them. A pool of one worker never starts a process.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from qtfl.channel import Channel, Delivery
from qtfl.channel.batched import send_batched
from qtfl.errors import InputError, require_int, require_range

SendJob = tuple[Channel, npt.NDArray[np.float32], np.random.Generator]
"""One uplink send: the client's Channel, its update and the Generator it draws from."""

_worker_limits: Any = None  # the worker's threadpoolctl limiter, held for its lifetime


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def idle_cpus() -> int:
    """CPUs not already busy: :func:`available_cpus` minus the whole part of the 1-minute
    load average (``os.getloadavg``), at least 1."""
    cpus = available_cpus()
    try:
        busy = int(os.getloadavg()[0])
    except OSError:  # pragma: no cover - platforms without a load average
        busy = 0
    return max(1, min(cpus, cpus - busy))


def resolve_workers(workers: int | Literal["auto"]) -> int:
    """Worker processes for a ``workers`` setting; ``"auto"`` is :func:`idle_cpus`.

    Why not every CPU: on a machine whose cores others already keep busy, worker processes
    add pickling and start-up work without adding CPU time (measured on a 2-core machine at
    load average 10: pooled teleport rounds took 1.3-1.5 s against 0.9-1.05 s in-process;
    at load average below 1 the pool sends a round's ten teleport uplinks 1.8-1.9x faster).
    """
    if workers == "auto":
        return idle_cpus()
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise InputError(f"workers must be a positive integer or 'auto', got {workers!r}")
    return require_int("workers", workers, low=1)


def parse_workers(text: str, *, engine: str = "inprocess") -> int | Literal["auto"]:
    """The ``--workers`` option: a positive integer or ``auto``, for the in-process engine."""
    if engine != "inprocess":
        raise InputError(
            f"--workers applies to --engine inprocess; {engine} runs one process per "
            "SuperNode (use --supernodes)"
        )
    value = text.strip().lower()
    if value == "auto":
        return "auto"
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"--workers must be a positive integer or auto, got {text!r}")
    return int(value)


def _limit_threads() -> None:
    """One thread per worker for torch (if loaded), BLAS/OpenMP and numba (if loaded)."""
    global _worker_limits
    if _worker_limits is None:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        _worker_limits = threadpool_limits(limits=1)
    if "torch" in sys.modules:  # never import torch (1-2 s) for channels that do not use it
        sys.modules["torch"].set_num_threads(1)
    if "numba" in sys.modules:
        sys.modules["numba"].set_num_threads(1)


def _init_worker(modules: tuple[str, ...]) -> None:
    """Import the channels' modules once, at start-up, then limit threads."""
    for name in modules:
        importlib.import_module(name)
    _limit_threads()


def _ready() -> bool:
    return True


def _send(
    jobs: Sequence[SendJob],
) -> list[tuple[Delivery, dict[str, npt.NDArray[np.float32]]]]:
    """A worker's task: some independent sends (their FEC blocks decoded together,
    :func:`~qtfl.channel.batched.send_batched`), and the channel states they leave."""
    _limit_threads()  # unpickling the channel may have imported torch or numba
    sent = send_batched(jobs)
    return [(d, channel.state_dict()) for (channel, _, _), d in zip(jobs, sent, strict=True)]


class ChannelPool:
    """Sends batches of independent uplink sends over ``workers`` processes.

    Args:
        workers: worker processes (``"auto"``: the CPUs not already busy, :func:`idle_cpus`).
            With 1, :meth:`send_all` sends in this process and no process is started.
        min_batch_seconds: the engine hands a simulation's uplinks to the pool only once
            one batch of its sends took at least this long in-process; cheaper channels
            (plaintext, AEAD: microseconds) stay in-process, where a pooled send would
            cost about a millisecond of pickling and messaging. Results never depend on it.

    Use as a context manager (or call :meth:`close`); one pool can serve several
    simulations in turn (the runner shares one across a run's scenarios).

    Example:
        >>> import numpy as np
        >>> from qtfl.channel import PlainChannel
        >>> with ChannelPool(workers=1) as pool:
        ...     [d] = pool.send_all([(PlainChannel(), np.ones(3, np.float32),
        ...                           np.random.default_rng(0))])
        >>> d.received.tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(
        self, *, workers: int | Literal["auto"] = 1, min_batch_seconds: float = 0.2
    ) -> None:
        self.workers = resolve_workers(workers)
        self.min_batch_seconds = require_range("min_batch_seconds", min_batch_seconds, low=0.0)
        self._executor: Executor | None = None
        self._warming: list[Future[bool]] = []
        #: sends that went to the worker processes so far (the rest ran in-process)
        self.pooled_sends = 0

    @property
    def started(self) -> bool:
        """True once worker processes exist."""
        return self._executor is not None

    def send_all(self, jobs: Sequence[SendJob]) -> list[Delivery]:
        """Send every job, each through its own Channel with its own Generator.

        Returns the Deliveries in the order of ``jobs``, identical to
        ``[ch.send(u, rng=g) for ch, u, g in jobs]``. The channels' ``state_dict()`` after
        their send is loaded back into the given Channel objects. The Generators are
        consumed in the workers, not here: give each job a Generator no one draws from
        afterwards (a keyed per-client stream). Jobs that share a Channel or a Generator
        object depend on each other's order, so such a batch is sent here, in order.
        """
        independent = len({id(ch) for ch, _, _ in jobs}) == len(jobs) and len(
            {id(rng) for _, _, rng in jobs}
        ) == len(jobs)
        if self.workers == 1 or len(jobs) < 2 or not independent or not self._warm(jobs):
            return [channel.send(update, rng=rng) for channel, update, rng in jobs]
        assert self._executor is not None
        # two tasks per worker: enough blocks per task to fill the decoder's lanes, and
        # some balance when sends differ in cost (an attacked client aborts early)
        tasks = [list(ix) for ix in np.array_split(np.arange(len(jobs)), 2 * self.workers)]
        futures = [self._executor.submit(_send, [jobs[i] for i in ix]) for ix in tasks if ix]
        self.pooled_sends += len(jobs)
        out = []
        for ix, future in zip([ix for ix in tasks if ix], futures, strict=True):
            for i, (delivery, state) in zip(ix, future.result(), strict=True):
                jobs[i][0].load_state_dict(state)
                out.append(delivery)
        return out

    def _warm(self, jobs: Sequence[SendJob]) -> bool:
        """True once the workers are up; the first call starts them in the background."""
        if self._executor is None:
            self.start(modules=sorted({type(channel).__module__ for channel, _, _ in jobs}))
        if self._warming and all(f.done() for f in self._warming):
            for f in self._warming:
                f.result()  # a worker that failed to start raises here
            self._warming = []
        return not self._warming

    def start(self, *, modules: Sequence[str] = (), wait: bool = False) -> None:
        """Start the worker processes, importing ``modules`` in each (no-op if started).

        Starting takes seconds (fresh interpreters importing the channel stack); without
        ``wait`` it happens in the background and :meth:`send_all` sends in this process
        until the workers are up, so nobody waits for them.
        """
        if self.workers > 1 and self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(tuple(modules),),
            )
            self._warming = [self._executor.submit(_ready) for _ in range(self.workers)]
        if wait:
            for f in self._warming:
                f.result()
            self._warming = []

    def close(self) -> None:
        """Stop the worker processes (if any were started)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
            self._warming = []

    def __enter__(self) -> ChannelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
