"""A run's scenarios in parallel worker processes.

The scenarios of one configuration are independent: each builds its own simulation from the
run seed and the run secret, and nothing one does reaches another. With ``workers >= 2`` and
at least two scenarios still to run, :func:`run_scenarios` runs each scenario whole in a
worker process (``spawn``; one torch, BLAS and numba thread each), at most ``workers`` at a
time. A worker does exactly what the one-process loop of
:func:`qtfl.experiments.runner.run_experiment` does for its scenario — restore the
checkpoint, run the rounds, write the checkpoint after each round and the final model — and
computes the scenario's part of the summary next to
its simulation (:func:`qtfl.experiments.runner.scenario_outputs`). Every round's metrics
travel back to this process, which alone writes ``metrics.jsonl`` and reports progress, so
the files, the summary and every figure in them are bit-identical to a one-process run;
only the timing fields differ.

Why whole scenarios: the clients' uplinks of one round (:mod:`qtfl.fl.parallel`) leave the
training, aggregation and evaluation in one process; a paper-scale run kept 1.1 of its two
cores busy that way. Scenarios share nothing, so two workers keep both cores busy until the
last scenario; the expected slowest start first (:func:`expected_cost`), which shortens the
tail without changing any result.

The run secret reaches the workers through the pipe that starts them (memory of this run's
own child processes, never a file or an argument list). SIGINT and SIGTERM stop the workers
(SIGTERM, which their handler turns into an interrupt between two atomic writes); each
scenario's last checkpoint stays, and ``--resume`` continues from it.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import queue
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from qtfl.errors import InputError
from qtfl.experiments.config import ExperimentConfig, Scenario
from qtfl.fl.checkpoint import SimulationState
from qtfl.fl.engine import RoundMetrics
from qtfl.security.run_secret import RunSecret


@dataclass(frozen=True)
class ScenarioOutputs:
    """A trained scenario's part of ``summary.json``, computed next to its simulation.

    Attributes:
        parameters: the model's parameter count.
        summary: fields added to the scenario's summary entry (secure aggregation, the
            adversaries' effect); empty when there are none.
        privacy: the ``attacks`` section's results for the scenario, or None without one.
    """

    parameters: int
    summary: dict[str, Any]
    privacy: dict[str, Any] | None


@dataclass(frozen=True)
class ScenarioRun:
    """One scenario's run: its outputs, its seconds of running and the process that ran it."""

    outputs: ScenarioOutputs
    elapsed_seconds: float
    pid: int


def expected_cost(scenario: Scenario) -> int:
    """A rank of how long ``scenario`` takes, to start the slowest first (higher: slower).

    QKD-OTP spends the most pairs and decoding per update, FEC-decoded teleportation of
    unpurified pairs the next most, any other quantum uplink less, classical uplinks least
    (measured on ``configs/paper.yaml``: 569 s, 104-152 s, 49-65 s and 23 s per scenario).
    Only the order of starting depends on it, never a result.
    """
    uplink = scenario.uplink
    kind = getattr(uplink, "kind", "plain")
    if kind == "qkd-otp":
        return 3
    if kind == "teleport":
        unpurified = getattr(uplink, "purify_to", None) is None
        return 2 if unpurified and getattr(uplink, "fec", None) is not None else 1
    return 0


START_AFTER_SECONDS = 10.0
"""Seconds of work in the run's own process before worker processes are started."""

RunHere = Callable[[str, Callable[[], None]], ScenarioRun]
"""Runs one scenario in this process; calls its second argument after every round."""


def run_scenarios(
    config: ExperimentConfig,
    *,
    names: Sequence[str],
    out: Path,
    secret: RunSecret,
    saved: dict[str, SimulationState],
    digest: str,
    workers: int,
    run_here: RunHere,
    on_round: Callable[[str, RoundMetrics], None],
    start_after_seconds: float | None = None,
) -> dict[str, ScenarioRun]:
    """Run the scenarios ``names`` of ``config``: here and in ``workers - 1`` processes.

    This process takes scenarios too (``run_here``), and the workers start only once it has
    worked ``start_after_seconds`` (default :data:`START_AFTER_SECONDS`) with scenarios
    still untaken: a worker costs about 6 CPU
    seconds before its first round (a fresh interpreter importing torch and the channels,
    the data, the codes), more than a short run would gain. With ``workers == 1`` no process
    is ever started. Scenarios are taken slowest first (:func:`expected_cost`) from one
    shared counter. ``saved``: checkpoints to continue from; ``on_round(scenario, record)``
    is called here for every round a worker finishes, as it arrives. Returns each
    scenario's run.

    Raises:
        InputError: what a scenario raised (the first one), after every worker stopped.
        RuntimeError: a worker died without a result (killed, out of memory), naming the
            scenario and its exit code.
        KeyboardInterrupt: as received here; the workers are stopped first.
    """
    by_name = {sc.name: sc for sc in config.resolved_scenarios()}
    order = sorted(names, key=lambda n: -expected_cost(by_name[n]))  # stable: config order
    ctx = multiprocessing.get_context("spawn")
    taken = ctx.Value("i", 0)  # the next scenario of ``order`` to take
    messages = ctx.Queue() if workers > 1 and len(order) > 1 else None
    state = _Progress(on_round)
    procs = []
    if messages is not None:
        material = bytes.fromhex(secret.hex())
        job = _Job(config.model_dump_json(), str(out), material, saved, digest, tuple(order))
        procs = [
            ctx.Process(
                target=_scenario_worker,
                args=(job, taken, messages),
                name=f"qtfl-scenarios-{i}",
                daemon=True,
            )
            for i in range(min(workers, len(order)) - 1)
        ]

    began = time.perf_counter()
    wait = START_AFTER_SECONDS if start_after_seconds is None else start_after_seconds

    def poll(timeout: float = 0.0) -> None:
        if messages is None:
            return
        if (
            procs
            and procs[0].pid is None
            and time.perf_counter() - began >= wait
            and int(taken.value) < len(order)
        ):
            for proc in procs:
                proc.start()
        try:
            message = messages.get(timeout=timeout) if timeout else messages.get_nowait()
        except queue.Empty:
            _check_alive(procs, messages, state)
            return
        state.handle(*message)
        while True:  # everything else already queued
            try:
                state.handle(*messages.get_nowait())
            except queue.Empty:
                return

    try:
        poll()
        while (name := _take(order, taken)) is not None:
            state.done[name] = run_here(name, poll)
        while len(state.done) < len(order):
            poll(timeout=0.5)
            if not any(p.is_alive() for p in procs):
                poll(timeout=0.5)  # the last messages of the last worker
                missing = [n for n in order if n not in state.done]
                if missing:
                    raise RuntimeError(
                        f"scenarios {missing} were left unfinished by worker processes that "
                        "ended; continue with --resume"
                    )
    finally:
        procs = [p for p in procs if p.pid is not None]  # the started ones
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():  # pragma: no cover - a worker ignoring SIGTERM
                proc.kill()
                proc.join()
        if messages is not None:
            messages.close()
            messages.join_thread()
    return state.done


def _take(order: Sequence[str], taken: Any) -> str | None:
    """The next scenario nobody has taken yet, or None."""
    with taken.get_lock():
        i = int(taken.value)
        if i >= len(order):
            return None
        taken.value = i + 1
    return order[i]


class _Progress:
    """The parent's view: which worker runs which scenario, and the finished ones."""

    def __init__(self, on_round: Callable[[str, RoundMetrics], None]) -> None:
        self.on_round = on_round
        self.running: dict[int | None, str] = {}  # worker pid -> its scenario
        self.done: dict[str, ScenarioRun] = {}

    def handle(self, kind: str, pid: int, name: str, payload: Any) -> None:
        if kind == "start":
            self.running[pid] = name
        elif kind == "round":
            self.on_round(name, RoundMetrics.from_dict(payload))
        elif kind == "done":
            self.done[name] = payload
            self.running.pop(pid, None)
        elif kind == "input-error":
            raise InputError(payload)
        else:  # "error": an unexpected exception, with the worker's traceback
            raise RuntimeError(f"scenario {name!r} failed in its worker process:\n{payload}")


def _check_alive(procs: Sequence[BaseProcess], messages: Any, state: _Progress) -> None:
    """Raise for a worker that ended before its scenario did (after reading what it sent)."""
    procs = [p for p in procs if p.pid is not None]  # the started ones
    if all(p.is_alive() or p.exitcode == 0 for p in procs):
        return
    while True:  # its last messages may still be in the pipe
        try:
            message = messages.get(timeout=0.2)
        except queue.Empty:
            break
        state.handle(*message)
    for proc in procs:
        if not proc.is_alive() and proc.exitcode != 0 and proc.pid in state.running:
            raise RuntimeError(
                f"scenario {state.running[proc.pid]!r}: its worker process ended with exit "
                f"code {proc.exitcode} before finishing; continue with --resume"
            )


def _report_round(messages: Any, pid: int, name: str, record: RoundMetrics) -> None:
    messages.put(("round", pid, name, record.as_dict()))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@dataclass(frozen=True)
class _Job:
    """What every worker of one run is given (pickled once, through the starting pipe)."""

    config_json: str
    out_dir: str
    material: bytes  # the run secret
    saved: dict[str, SimulationState]
    digest: str
    order: tuple[str, ...]


def _scenario_worker(job: _Job, taken: Any, messages: Any) -> None:
    """A worker process: take scenarios until none is left, reporting to ``messages``."""
    # the parent stops workers with SIGTERM; Ctrl-C reaches the parent, which does that
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _serve(job, taken, messages)
    except KeyboardInterrupt:  # stopped by the parent (even while starting): no traceback
        os._exit(0)


def _serve(job: _Job, taken: Any, messages: Any) -> None:
    pid = os.getpid()
    name = "?"
    try:
        import torch
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        from qtfl.experiments.config import parse_config
        from qtfl.experiments.runner import prepare_inputs, run_one_scenario

        torch.set_num_threads(1)
        config = parse_config(json.loads(job.config_json))
        secret = RunSecret(job.material)
        with threadpool_limits(limits=1):
            inputs = prepare_inputs(config)  # once per worker: every scenario shares it
            while (task := _take(job.order, taken)) is not None:
                name = task
                messages.put(("start", pid, name, None))
                t0 = time.perf_counter()
                outputs = run_one_scenario(
                    config,
                    name,
                    inputs=inputs,
                    out=Path(job.out_dir),
                    secret=secret,
                    state=job.saved.get(name),
                    digest=job.digest,
                    on_round=functools.partial(_report_round, messages, pid, name),
                )
                run = ScenarioRun(outputs, time.perf_counter() - t0, pid)
                messages.put(("done", pid, name, run))
    except KeyboardInterrupt:
        raise
    except InputError as exc:  # named after its scenario, once one was taken
        text = str(exc) if name == "?" else f"scenario {name!r}: {exc}"
        messages.put(("input-error", pid, name, text))
    except BaseException:  # the parent names the scenario and shows this traceback
        messages.put(("error", pid, name, traceback.format_exc()))
    finally:
        messages.close()
        messages.join_thread()
