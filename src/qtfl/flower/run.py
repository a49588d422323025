"""``qtfl run --engine flower-sim|flower-deploy``: every scenario on Flower, same outputs.

The output directory gets what the in-process runner writes (``config.json``,
``metrics.jsonl``, ``summary.json``, ``models/<scenario>.pt``) plus ``flower/`` (the
ServerApp's per-scenario results, and for deployed runs the process logs),
``checkpoints/<scenario>.pt``, which the ServerApp writes after every round, and the run
secret ``run-secret.key`` (owner-only). While Flower runs, ``flower/secrets/`` holds one
owner-only file per party (:func:`qtfl.flower.job.write_party_secrets`); it is removed when
the run ends. ``flower/nodes/`` holds each client node's own state (error-feedback residuals
of compression, :mod:`qtfl.flower.node_state`), kept for ``--resume``.

Outputs are written by the in-process runner's own code
(:func:`qtfl.experiments.runner.write_outputs`): ``metrics.jsonl`` (with, per round, the
clients whose node did not answer), ``summary.json`` and ``report.html``. The ``attacks:``
section runs in the ServerApp after the last round: each client node sends its client's
probe update through its uplink's sending end and the attackers read what the server
received (:meth:`qtfl.flower.server.ChannelStrategy.deliver`).
Everything that cannot run on Flower is refused before ``--out`` is touched
(:func:`check_runs_on_flower`); a run that fails later removes what it created
(:func:`removed_on_failure`), so the same command can be run again.

``--resume`` continues an interrupted run: the configuration must equal the one in
``config.json`` (and each checkpoint's hash), the run secret is read back from
``run-secret.key``, finished scenarios are read back from their checkpoints, and the others
continue on Flower from their last completed round. SIGINT and SIGTERM exit 130: a
deployment raises :class:`KeyboardInterrupt` and stops every process it started; a
simulation leaves at the signal (:func:`leave_interrupted`). ``--out`` stays resumable.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

from qtfl import registry
from qtfl.errors import INTERRUPTED_HINT, InputError, require_choice
from qtfl.experiments.config import ExperimentConfig, Scenario, parse_config
from qtfl.fl.checkpoint import atomic_write_bytes, atomic_write_text, load_checkpoint
from qtfl.fl.engine import RoundMetrics
from qtfl.flower.deploy import HOST, LocalFederation, TlsFiles, check_transport, run_deployed
from qtfl.flower.job import (
    FlowerJob,
    build_node,
    build_simulation_for,
    privacy_path,
    secagg_path,
    write_party_secrets,
)
from qtfl.flower.procs import descendants_stopped
from qtfl.security.run_secret import SECRET_FILE, RunSecret

ENGINES = registry.ENGINES
FLOWER_ENGINES = ENGINES[1:]


@dataclass(frozen=True)
class FlowerOptions:
    """How to run on Flower.

    Attributes:
        num_supernodes: SuperNodes (deploy) or virtual nodes (simulation); ``None``: one per
            client in simulation, two when deployed.
        superlink_port: deploy: the SuperLink's port (``None``: a free one).
        attach: deploy: use a SuperLink already listening on this port.
        tls: deploy: the user's TLS files (``None``: a per-run CA and certificate).
        insecure: deploy: plain HTTP without node authentication (loopback experiments).
        node_auth: deploy: admit only SuperNodes whose per-node key qtfl registered.
        host: deploy: the SuperLink's address.
        extra_node_config: deploy: per SuperNode, extra node-config entries.
        round_timeout_s: wait this long for a round's replies.
        start_timeout_s: wait this long for the SuperLink and the SuperNodes.
        fleet_port: deploy: where SuperNodes connect if not the SuperLink port (a proxy).
        remote_node_ids: deploy across hosts: the registered ids (partition order) of the
            SuperNodes of the SuperLink at ``host:attach``, which run elsewhere; no SuperNode
            is started here (:func:`qtfl.flower.hosts.federation_options`).
    """

    num_supernodes: int | None = None
    superlink_port: int | None = None
    attach: int | None = None
    tls: TlsFiles | None = None
    insecure: bool = False
    node_auth: bool = True
    host: str = HOST
    extra_node_config: tuple[Mapping[str, str], ...] = ()
    round_timeout_s: float = 300.0
    start_timeout_s: float = 60.0
    fleet_port: int | None = None
    remote_node_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check_transport(tls=self.tls, insecure=self.insecure, attach=self.attach)
        if self.remote_node_ids and self.num_supernodes != len(self.remote_node_ids):
            raise InputError(
                f"{len(self.remote_node_ids)} remote SuperNodes but num_supernodes="
                f"{self.num_supernodes}; they must agree"
            )


def run_scenarios_on_flower(
    config: ExperimentConfig,
    scenarios: list[str],
    *,
    engine: str,
    workdir: Path,
    options: FlowerOptions,
    secret: RunSecret | None = None,
    checkpoints: Path | None = None,
) -> dict[str, tuple[list[RoundMetrics], np.ndarray]]:
    """Run scenarios on Flower (one deployment serves them all); records and final params.

    Each party receives only its own share of ``secret`` (fresh when ``None``) through an
    owner-only file under ``workdir/secrets``, removed when the run ends. ``checkpoints``:
    directory of the ServerApp's per-round ``<scenario>.pt`` (resumed from when present).
    """
    require_choice("engine", engine, FLOWER_ENGINES)
    workdir.mkdir(parents=True, exist_ok=True)
    n_clients = config.data.num_clients
    default_nodes = n_clients if engine == "flower-sim" else 2
    nodes = min(options.num_supernodes or default_nodes, n_clients)
    secrets_dir = (workdir / "secrets").resolve()
    if secrets_dir.exists():
        shutil.rmtree(secrets_dir)
    write_party_secrets(
        secrets_dir,
        secret or RunSecret.generate(),
        scenarios=scenarios,
        num_clients=n_clients,
        num_nodes=nodes,
    )
    try:
        return _run_jobs(
            config, scenarios, engine, workdir, options, nodes, secrets_dir, checkpoints
        )
    finally:
        shutil.rmtree(secrets_dir, ignore_errors=True)


def _run_jobs(
    config: ExperimentConfig,
    scenarios: list[str],
    engine: str,
    workdir: Path,
    options: FlowerOptions,
    nodes: int,
    secrets_dir: Path,
    checkpoints: Path | None,
) -> dict[str, tuple[list[RoundMetrics], np.ndarray]]:
    n_clients = config.data.num_clients
    jobs = []
    for name in scenarios:
        job = FlowerJob(
            config_json=config.model_dump_json(),
            scenario=name,
            num_nodes=nodes,
            result_path=str((workdir / f"{name}.json").resolve()),
            round_timeout_s=options.round_timeout_s,
            node_timeout_s=options.start_timeout_s,
            secrets_dir=str(secrets_dir),
            state_dir=str((workdir / "nodes").resolve()),
        )
        build_node(job.to_json())  # config/channel errors surface here, before Flower starts
        _check_splittable(job, n_clients)
        jobs.append(job)
        Path(job.result_path).unlink(missing_ok=True)  # an interrupted run's stale result
        privacy_path(Path(job.result_path)).unlink(missing_ok=True)
        secagg_path(Path(job.result_path)).unlink(missing_ok=True)

    def ckpt(job: FlowerJob) -> Path | None:
        return None if checkpoints is None else (checkpoints / f"{job.scenario}.pt").resolve()

    if engine == "flower-sim":
        if jobs:  # one simulation serves every scenario (qtfl.flower.simulation)
            _simulate_jobs(jobs, nodes, checkpoints={job.scenario: ckpt(job) for job in jobs})
    elif jobs:
        fed = LocalFederation(
            workdir / "deploy",
            num_supernodes=0 if options.remote_node_ids else nodes,
            node_ids=list(options.remote_node_ids),
            superlink_port=options.superlink_port,
            attach=options.attach,
            tls=options.tls,
            insecure=options.insecure,
            node_auth=options.node_auth,
            host=options.host,
            extra_node_config=options.extra_node_config,
            start_timeout_s=options.start_timeout_s,
            fleet_port=options.fleet_port,
        )
        timeout = options.start_timeout_s + options.round_timeout_s * config.training.rounds
        with fed.running():
            for job in jobs:
                job_file = (workdir / f"{job.scenario}.job.json").resolve()
                job_file.write_text(job.to_json(), encoding="utf-8")
                run_deployed(
                    fed,
                    job_file=job_file,
                    result_path=Path(job.result_path),
                    timeout_s=timeout,
                    checkpoint_file=ckpt(job),
                )
    out = {}
    for job in jobs:
        result = Path(job.result_path)
        raw = json.loads(result.read_text(encoding="utf-8"))
        out[job.scenario] = (
            [RoundMetrics.from_dict(r) for r in raw],
            np.load(result.with_suffix(".npy")),
        )
    return out


def _check_splittable(job: FlowerJob, n_clients: int) -> None:
    from qtfl.flower.ends import uplink_ends

    sim = build_node(job.to_json())
    for k in range(n_clients):
        uplink_ends(sim.uplink(k))


def _simulate(job: FlowerJob, nodes: int, *, checkpoint: Path | None = None) -> None:
    """One job on Flower's simulation engine (benchmarks)."""
    _simulate_jobs([job], nodes, checkpoints={job.scenario: checkpoint})


def _simulate_jobs(
    jobs: list[FlowerJob], nodes: int, *, checkpoints: Mapping[str, Path | None]
) -> None:
    """``jobs`` in turn in ONE Flower simulation (one Ray start-up for all scenarios)."""
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
    from flwr.simulation import run_simulation

    from qtfl.flower.simulation import (
        backend_config,
        make_jobs_client_app,
        make_jobs_server_app,
    )

    stop = threading.Event()

    def on_interrupt() -> None:
        stop.set()  # the ServerApp thread stops waiting for replies
        # run_simulation's own cleanup kills the Ray actors before our except clause runs,
        # and Flower's worker threads log each dying actor's traceback ("ActorDiedError");
        # the user asked for the stop, so they are noise: silenced at the signal itself
        logging.getLogger("flwr").setLevel(logging.CRITICAL + 1)
        exit_when_threads_stay_blocked()  # armed at the signal, whatever path follows

    with descendants_stopped() as kill_descendants:  # Ray's actors can outlive ray.shutdown()

        def on_signal() -> None:
            on_interrupt()
            leave_interrupted(kill_descendants)

        try:
            with _signals_kept_across_ray_init(on_signal=on_signal):
                run_simulation(
                    server_app=make_jobs_server_app(jobs, checkpoints=checkpoints, stop=stop),
                    client_app=make_jobs_client_app(jobs),
                    num_supernodes=nodes,
                    backend_config=backend_config(min(2, os.cpu_count() or 1)),
                )
        except BaseException:
            on_interrupt()
            import ray

            ray.shutdown()  # Ray's workers and daemons, and any ray.get blocked on them
            raise
    for job in jobs:
        if not Path(job.result_path).is_file():
            raise InputError(
                f"the Flower simulation ended without a result for scenario {job.scenario!r}; "
                "see its log above"
            )


#: After an interrupted simulation, how long the interpreter may take to exit.
EXIT_GRACE_S = 10.0
_WATCHDOG = threading.Event()  # set once the exit watchdog runs (one per process)


def exit_when_threads_stay_blocked(grace_s: float = EXIT_GRACE_S) -> None:
    """End the process ``grace_s`` after the main thread finished if it has not ended by then.

    Flower's simulation waits for each ClientApp's result in worker threads of a
    ``ThreadPoolExecutor`` (``ray.get`` without a timeout). When an interrupt shuts Ray down
    while such a wait is pending, that ``ray.get`` never returns, and the interpreter's exit
    joins those threads forever (measured: 1 of 2 runs hung after printing the abort
    message; the stack showed ``concurrent.futures.thread._python_exit`` joining workers
    blocked in ``ray.get``). A daemon thread waits for the main thread to finish (at
    interpreter shutdown), gives the normal exit ``grace_s``, then flushes stdout/stderr and
    calls ``os._exit(130)`` — the status of an interrupted run. Only in the main thread.
    """
    if not _in_main_thread() or _WATCHDOG.is_set():
        return
    _WATCHDOG.set()

    def watch() -> None:
        threading.main_thread().join()  # returns once the interpreter starts to exit
        time.sleep(grace_s)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(130)

    threading.Thread(target=watch, name="qtfl-exit-watchdog", daemon=True).start()


def leave_interrupted(kill_descendants: Callable[[], None], status: int = 130) -> None:
    """SIGINT/SIGTERM during a Flower simulation: print the abort hint, SIGKILL the processes
    the simulation started, and ``os._exit(status)`` — at the signal, before Flower's own
    cleanup runs.

    Letting the interrupt unwind through ``run_simulation`` failed 2 of 2 CI runs under load
    in different ways: Flower's cleanup shuts Ray down while its worker threads still wait
    in ``ray.get``, and Ray's core worker then ended the whole process with status 1 ("The
    core worker has already been shutdown ... The process will exit"), or the interpreter's
    finalisation blocked in native code with the GIL held (no exit for 300 s; the
    thread-join watchdog, :func:`exit_when_threads_stay_blocked`, cannot run then). Nothing
    is lost by leaving at once: during a simulation the ServerApp writes only its
    checkpoint and result files, each atomically (:func:`qtfl.fl.checkpoint.atomic_write_bytes`),
    so the last complete checkpoint stays for ``--resume``; Ray's processes hold no output.
    """
    sys.stderr.write(INTERRUPTED_HINT + "\n")
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        kill_descendants()
    os._exit(status)


@contextmanager
def _signals_kept_across_ray_init(
    *, on_signal: Callable[[], None] = lambda: None
) -> Iterator[None]:
    """This process's SIGINT/SIGTERM handlers, preceded by ``on_signal``, kept across
    ``ray.init``.

    Ray's core worker installs a native failure-signal handler for SIGTERM in the driver
    (measured: SIGTERM then aborted the process, exit -6, instead of qtfl's clean 130);
    Flower calls ``ray.init`` inside ``run_simulation``, so the call is wrapped and the
    handlers are re-installed right after it. Restored on exit.
    """
    import ray

    real_init = ray.init
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    handlers = {}
    for s, handler in previous.items():
        if callable(handler):

            def wrapped(signum: int, frame: FrameType | None, inner: Any = handler) -> None:
                on_signal()
                inner(signum, frame)

            handlers[s] = wrapped

    def install() -> None:
        if _in_main_thread():
            for s, handler in handlers.items():
                signal.signal(s, handler)

    def init(*args: Any, **kwargs: Any) -> Any:
        result = real_init(*args, **kwargs)
        install()
        return result

    install()
    ray.init = init
    try:
        yield
    finally:
        ray.init = real_init
        if _in_main_thread():
            for s in handlers:
                signal.signal(s, previous[s])


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def run_on_flower(
    config: ExperimentConfig,
    *,
    out_dir: str | Path,
    engine: str,
    options: FlowerOptions | None = None,
    resume: bool = False,
    secret_file: str | Path | None = None,
) -> dict[str, Any]:
    """Every scenario of ``config`` on Flower, written like :func:`run_experiment`.

    ``secret_file``: the run secret to use (as ``qtfl run --secret-file``), else a fresh one;
    a resumed run uses the secret stored in ``--out``.

    Raises:
        InputError: ``--out`` holds results and ``resume`` is False; ``resume`` and ``--out``
            holds no run of this configuration; a scenario cannot run on Flower. Checked
            before anything is written.
    """
    from qtfl.experiments.runner import (
        build_simulation,
        check_output_dir,
        prepare_inputs,
        resolve_run_secret,
        write_outputs,
    )

    require_choice("engine", engine, FLOWER_ENGINES)
    options = options or FlowerOptions()
    out = Path(out_dir)
    check_output_dir(out)
    ckpt_dir = out / "checkpoints"
    scenarios = config.resolved_scenarios()
    names = [sc.name for sc in scenarios]
    done: dict[str, tuple[list[RoundMetrics], np.ndarray]] = {}
    if resume:
        done = _check_resumable(config, out, names)
    elif out.is_dir() and any(out.iterdir()):
        raise InputError(
            f"output directory {out} is not empty; pass --resume to continue that run "
            "or choose a new --out"
        )
    secret, fresh = resolve_run_secret(out, resume=resume, secret_file=secret_file)
    inputs = prepare_inputs(config)
    todo = [name for name in names if name not in done]
    check_runs_on_flower(config, inputs, todo)  # every refusal before anything is written
    with removed_on_failure(out):
        out.mkdir(parents=True, exist_ok=True)
        if fresh:
            secret.save(out / SECRET_FILE)
        (out / "models").mkdir(exist_ok=True)
        ckpt_dir.mkdir(exist_ok=True)
        atomic_write_text(out / "config.json", config.model_dump_json(indent=2) + "\n")
        with interrupts_as_keyboard_interrupt():
            results = run_scenarios_on_flower(
                config, todo, engine=engine, workdir=out / "flower", options=options,
                secret=secret, checkpoints=ckpt_dir,
            )  # fmt: skip
        results.update(done)
        sims = {}
        for sc in scenarios:  # the final models, on the channels of the run, for the attacks
            records, params = results[sc.name]
            sim = build_simulation(config, inputs, sc, secrets=secret)
            sim.global_params = params.astype(np.float32)
            sim.round, sim.history = len(records), records
            buf = io.BytesIO()
            torch.save(sim.final_model().state_dict(), buf)
            atomic_write_bytes(out / "models" / f"{sc.name}.pt", buf.getvalue())
            sims[sc.name] = sim
        history = {name: sims[name].history for name in names}
        elapsed = {name: sum(r.wall_seconds for r in recs) for name, recs in history.items()}
        return write_outputs(
            out, config, sims, history=history, elapsed=elapsed, dataset=inputs.dataset,
            head={"engine": engine}, privacy=_assessed_on_flower(out / "flower", names),
            secure_aggregation=_secagg_on_flower(out / "flower", names),
        )  # fmt: skip


def _assessed_on_flower(workdir: Path, names: list[str]) -> dict[str, Any]:
    """The ``attacks`` results the ServerApp wrote per scenario (absent: not assessed there,
    e.g. a scenario a resumed run found finished before the assessment ran)."""
    return _written_by_server(workdir, names, privacy_path)


def _secagg_on_flower(workdir: Path, names: list[str]) -> dict[str, Any]:
    """The SecAgg+ summaries the ServerApp wrote per scenario (the server ran the protocol's
    rounds; the simulation rebuilt here for the outputs did not)."""
    return _written_by_server(workdir, names, secagg_path)


def _written_by_server(
    workdir: Path, names: list[str], beside: Callable[[Path], Path]
) -> dict[str, Any]:
    """Per scenario, the JSON the ServerApp wrote at ``beside(<scenario>.json)`` in
    ``workdir``; a scenario without that file is absent from the result."""
    found = {}
    for name in names:
        path = beside(workdir / f"{name}.json")
        if path.is_file():
            found[name] = json.loads(path.read_text(encoding="utf-8"))
    return found


def check_runs_on_flower(config: ExperimentConfig, inputs: Any, scenarios: list[str]) -> None:
    """Refuse, before anything is written, what cannot run on Flower yet.

    Raises:
        InputError: a scenario has an uplink whose ends cannot be split
            (:func:`qtfl.flower.ends.uplink_ends`). Every privacy option, adversary and
            the attacks section run on Flower.
    """
    from qtfl.experiments.runner import build_simulation
    from qtfl.flower.ends import uplink_ends

    for sc in config.resolved_scenarios():
        if sc.name not in scenarios:
            continue
        sim = build_simulation(config, inputs, sc)  # fresh keys: nothing is sent
        try:
            for k in range(config.data.num_clients):
                uplink_ends(sim.uplink(k))
        except InputError as exc:
            raise InputError(f"scenario {sc.name!r}: {exc}") from None


@contextmanager
def removed_on_failure(out: Path) -> Iterator[None]:
    """On an error, remove what was created under ``out`` inside this block (``out`` too if
    it did not exist), so the run can be repeated; an interrupt keeps it resumable."""
    existed = out.exists()
    before = set(out.rglob("*")) if existed else set()
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        else:
            created = set(out.rglob("*")) - before
            for path in sorted(created, key=lambda p: len(p.parts), reverse=True):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        raise


def flower_poisoning_summary(
    config: ExperimentConfig, scenario: Scenario, params: np.ndarray
) -> dict[str, Any]:
    """:func:`qtfl.experiments.runner.poisoning_summary` of a Flower run's final parameters."""
    from qtfl.experiments.runner import poisoning_summary, prepare_inputs

    sim = build_simulation_for(FlowerJob(config.model_dump_json(), scenario.name, 1, ""))
    sim.global_params = np.asarray(params, dtype=np.float32)
    return poisoning_summary(scenario, sim, prepare_inputs(config).dataset)


def _check_resumable(
    config: ExperimentConfig, out: Path, names: list[str]
) -> dict[str, tuple[list[RoundMetrics], np.ndarray]]:
    """Refuse to resume anything but this configuration's run; return finished scenarios."""
    saved = out / "config.json"
    if not saved.is_file():
        raise InputError(f"--resume: {out} holds no run to continue (no config.json)")
    try:
        theirs = parse_config(json.loads(saved.read_text(encoding="utf-8")))
    except (ValueError, InputError):
        raise InputError(f"--resume: {saved} is not a readable qtfl configuration") from None
    digest = config.config_hash()
    if theirs.config_hash() != digest:
        raise InputError(
            f"--resume: {out} holds a run of a different configuration; "
            "resume with the original configuration or choose a new --out"
        )
    done = {}
    for name in names:
        path = out / "checkpoints" / f"{name}.pt"
        if not path.is_file():
            continue
        state, their_hash = load_checkpoint(path)
        if their_hash != digest:
            raise InputError(
                f"checkpoint {path} was written by a different configuration; "
                "resume with the original configuration or choose a new --out"
            )
        if state.round >= config.training.rounds:
            records = [RoundMetrics.from_dict(dict(m)) for m in state.metrics]
            done[name] = (records, state.global_params)
    return done


@contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM both raise :class:`KeyboardInterrupt` here (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    for s in previous:
        signal.signal(s, interrupted)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def scratch_dir() -> Path:
    """A fresh temporary directory (benchmarks)."""
    return Path(tempfile.mkdtemp(prefix="qtfl-flower-"))


def run_with_engine(
    config: ExperimentConfig,
    *,
    out_dir: str | Path,
    engine: str,
    resume: bool = False,
    options: FlowerOptions | None = None,
    secret_file: str | Path | None = None,
) -> dict[str, Any]:
    """``qtfl run --engine``: Flower engines here; ``inprocess`` is the experiment runner."""
    require_choice("engine", engine, ENGINES)
    if engine == "inprocess":
        from qtfl.experiments.runner import run_experiment

        return run_experiment(config, out_dir=out_dir, resume=resume, secret_file=secret_file)
    return run_on_flower(
        config, out_dir=out_dir, engine=engine, options=options, resume=resume,
        secret_file=secret_file,
    )  # fmt: skip
