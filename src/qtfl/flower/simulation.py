"""Several scenarios in one Flower simulation: one Ray start-up instead of one per scenario.

``qtfl run --engine flower-sim`` used to call Flower's ``run_simulation`` once per scenario,
and each call starts Ray, its actor processes (each importing torch and qtfl) and shuts them
down again. Here one simulation serves every scenario of the run in turn, as a deployment
serves each scenario's ``flwr run`` on the same SuperNodes:

* the ServerApp (:func:`make_jobs_server_app`, :func:`serve_jobs`) serves the jobs one
  after the other (:func:`qtfl.flower.server.serve`, each with its own checkpoint),
  sending every message through a :class:`TaggedGrid` that adds a ``qtfl-job`` config
  record naming the job's scenario (a public name, no secret);
* every ClientApp call first passes :func:`job_mod`, which reads that tag, makes the node
  forget what it kept for the previous scenario (a deployed node starts each scenario as a
  new Flower run with an empty ``Context.state``), and remembers the scenario in the node's
  state, where :func:`tagged_job` finds the job for the handlers and the channel mod.

A message without the tag, or naming a scenario the simulation does not run, is an error
reply, never another scenario's keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flwr.app import ConfigRecord, Context, Message
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from qtfl.errors import InputError
from qtfl.flower.client import JobSource, Mod, make_client_app
from qtfl.flower.interrupt import DelegatingGrid, StoppableGrid
from qtfl.flower.job import FlowerJob

#: The config record, on every message of a multi-scenario simulation, naming its scenario.
JOB_TAG = "qtfl-job"


class TaggedGrid(DelegatingGrid):
    """``inner`` whose outgoing messages carry ``{JOB_TAG: {"scenario": scenario}}``."""

    def __init__(self, inner: Grid, scenario: str) -> None:
        super().__init__(inner)
        self.scenario = scenario

    def _tagged(self, messages: Iterable[Message]) -> list[Message]:
        out = list(messages)
        for msg in out:
            msg.content[JOB_TAG] = ConfigRecord({"scenario": self.scenario})
        return out

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self.inner.push_messages(self._tagged(messages))

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self.inner.send_and_receive(self._tagged(messages), timeout=timeout)


def make_jobs_server_app(
    jobs: Sequence[FlowerJob],
    *,
    checkpoints: Mapping[str, Path | None],
    stop: threading.Event | None = None,
) -> ServerApp:
    """A ServerApp serving ``jobs`` in turn; ``checkpoints``: scenario -> its checkpoint.

    ``stop``: set it to end the ServerApp's waits at once (an interrupted simulation)."""
    app = ServerApp()

    @app.main()
    def _main(grid: Grid, context: Context) -> None:
        import torch
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        # one BLAS and torch thread, as the in-process runner and make_server_app: threaded
        # float32 gemv (FedAvg's weighted mean) rounds some columns differently
        torch.set_num_threads(1)
        with threadpool_limits(limits=1):
            if stop is not None:
                grid = StoppableGrid(grid, stop)
            serve_jobs(grid, jobs, checkpoints=checkpoints)

    return app


def serve_jobs(
    grid: Grid, jobs: Sequence[FlowerJob], *, checkpoints: Mapping[str, Path | None]
) -> None:
    """Serve ``jobs`` one after the other on ``grid``, each job's messages tagged."""
    from qtfl.flower.server import serve

    for job in jobs:
        serve(TaggedGrid(grid, job.scenario), job, checkpoint=checkpoints.get(job.scenario))


def job_mod(jobs: Sequence[FlowerJob]) -> Mod:
    """The ClientApp mod that selects the job a message belongs to (module docstring)."""
    names = {job.scenario for job in jobs}

    def mod(msg: Message, context: Context, call_next: Callable) -> Message:
        tag = msg.content.config_records.get(JOB_TAG)
        scenario = str(tag["scenario"]) if tag is not None and "scenario" in tag else None
        if scenario not in names:
            raise InputError(f"message without a known {JOB_TAG} tag (got {scenario!r})")
        current = context.state.config_records.get(JOB_TAG)
        if current is None or str(current["scenario"]) != scenario:
            for key in list(context.state.keys()):  # a new scenario: a fresh node state
                del context.state[key]
            context.state[JOB_TAG] = ConfigRecord({"scenario": scenario})
        return call_next(msg, context)

    return mod


def tagged_job(jobs: Sequence[FlowerJob]) -> JobSource:
    """The job of the scenario :func:`job_mod` recorded in the node's state."""
    by_name = {job.scenario: job for job in jobs}

    def job_of(context: Context) -> FlowerJob:
        return by_name[str(context.state.config_records[JOB_TAG]["scenario"])]

    return job_of


def make_jobs_client_app(jobs: Sequence[FlowerJob]) -> ClientApp:
    """The ClientApp of a simulation serving ``jobs`` (:func:`make_jobs_server_app`)."""
    return make_client_app(tagged_job(jobs), mods=[job_mod(jobs)])


def backend_config(num_cpus: int) -> dict[str, Any]:
    """Ray: one CPU per ClientApp actor, at most ``num_cpus`` actors, no GPU."""
    return {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {"num_cpus": num_cpus, "num_gpus": 0},
    }
