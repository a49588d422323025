"""``qtfl run``: turn a configuration into a finished (or resumed) run directory.

:func:`run_experiment` validates everything first (configuration, data, partition, strategy,
existing checkpoints) and only then touches the output directory, which afterwards holds

* ``config.json`` — the resolved configuration (defaults filled in);
* ``checkpoints/<scenario>.pt`` — written atomically after every round
  (:mod:`qtfl.fl.checkpoint`); ``resume=True`` continues from it bit-identically;
* ``metrics.jsonl`` — one object per scenario and round, rewritten atomically every round
  (the round's record, its per-client verdicts and :func:`~qtfl.experiments.metrics.
  round_figures`);
* ``models/<scenario>.pt`` — the final global model's ``state_dict``;
* ``summary.json`` — per scenario: accuracy, rounds to target, Bell pairs, payload qubits,
  classical bits, link seconds, detections and rejected updates
  (:func:`qtfl.experiments.metrics.summarize`); wall-clock figures apart under ``timing``;
* ``report.html`` — the self-contained report (:mod:`qtfl.experiments.report`);
* ``run-secret.key`` — the run secret (:mod:`qtfl.security.run_secret`), owner-only (0600):
  ``resume=True`` reads it back; no other output holds it or anything derived from it.

Every scenario starts from the same initial model and sees the same client sampling and
batches (streams of the run seed); its channels draw from their own stream
(:func:`~qtfl.experiments.channels.scenario_channel_seed`). What protects the run — link
keys, check positions, Bell frames, AEAD keys and nonces, mask keys — comes from the run
secret: fresh from the OS for a new run, or ``secret_file`` (``qtfl run --secret-file``) to
repeat a run bit for bit. Same seed, other secret: an identical ``summary.json`` (timing
aside) where no verdict depends on a secret choice (see ``docs/guide/randomness-and-secrets.md``).

Without ``resume`` a non-empty output directory is refused, so results are never overwritten.
With ``resume`` the directory must hold a run of the *same* configuration (its
``config.json``, ``summary.json`` and every checkpoint are compared with this one's hash); a
run of another configuration, finished or not, is refused and left untouched. An ``out_dir``
under a regular file or in a place that cannot be written is one clear error, before any
work.
"""

from __future__ import annotations

import functools
import io
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from qtfl.channel.split import LinkKey
from qtfl.data import Dataset, load_dataset
from qtfl.data.qdataset_tasks import partition_by_group
from qtfl.errors import InputError
from qtfl.experiments.channels import scenario_channel_seed
from qtfl.experiments.config import ExperimentConfig, Scenario
from qtfl.experiments.metrics import cost_per_parameter, metrics_jsonl, summarize, timing
from qtfl.experiments.scenario_pool import ScenarioOutputs, ScenarioRun, run_scenarios
from qtfl.fl.checkpoint import (
    SimulationState,
    atomic_write_bytes,
    atomic_write_text,
    load_checkpoint,
    save_checkpoint,
)
from qtfl.fl.client import LocalTraining
from qtfl.fl.engine import FederatedSimulation, RoundMetrics, SimulationSettings, model_seed
from qtfl.fl.parallel import ChannelPool
from qtfl.fl.partition import Partition, partition
from qtfl.fl.privacy_keys import PrivacyKeys
from qtfl.fl.strategies import make_strategy
from qtfl.models import build_model
from qtfl.security.run_secret import SECRET_FILE, RunSecret, SecretSource

ProgressCallback = Callable[[str, RoundMetrics, int], None]
"""Called after every round with ``(scenario, metrics, total_rounds)``."""


@dataclass(frozen=True)
class RunInputs:
    """What every scenario of a run shares: the data and its split among clients."""

    dataset: Dataset
    partition: Partition


def prepare_inputs(config: ExperimentConfig) -> RunInputs:
    """Load the data set and partition it (deterministic in ``config.seed``)."""
    q = config.data.qdataset
    ds = load_dataset(
        config.data.name, root=config.data.root, qdataset=None if q is None else q.to_task()
    )
    n = config.data.num_clients
    if n > ds.num_train:
        raise InputError(
            f"data.num_clients must be at most the number of training examples of "
            f"{ds.name} ({ds.num_train}), got {n}"
        )
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(1_000,)))
    groups = ds.groups_train if ds.groups_train is not None else np.zeros(ds.num_train, np.int64)
    if config.data.partition == "noise-profile":
        part = partition_by_group(groups, n, rng=rng)
    else:  # regression targets are no labels: label-skew schemes then act on the groups
        classification = ds.task == "classification"
        part = partition(
            ds.y_train if classification else groups,
            n,
            scheme=config.data.partition,
            alpha=config.data.alpha,
            shards_per_client=config.data.shards_per_client,
            num_classes=ds.num_classes if classification else int(groups.max()) + 1,
            rng=rng,
        )
    return RunInputs(dataset=ds, partition=part)


def build_simulation(
    config: ExperimentConfig,
    inputs: RunInputs,
    scenario: Scenario,
    *,
    secrets: SecretSource | None = None,
    channel_pool: ChannelPool | None = None,
) -> FederatedSimulation:
    """A fresh simulation of ``scenario`` (initial model from the run seed).

    ``secrets`` hands out the run's keys (the whole :class:`RunSecret`, or one Flower node's
    share); ``None`` draws fresh random keys (nothing protected is reproducible then).
    ``channel_pool`` (optional, owned by the caller) sends the clients' uplinks in worker
    processes (:mod:`qtfl.fl.parallel`); the results are the same without it.
    """
    ds = inputs.dataset
    links, memory_t2_s = None, None
    if scenario.network is not None:
        from qtfl.experiments.network_config import client_links

        link_section = getattr(scenario.uplink, "link", None)
        assert link_section is not None  # a quantum uplink (ExperimentConfig checks it)
        links, memory_t2_s = client_links(
            link_section, scenario.network, config.data.num_clients, seed=config.seed
        )
    try:
        uplinks, downlinks = scenario.build_channels(
            config.data.num_clients, secrets=secrets, uplink_links=links
        )
    except InputError as exc:
        if links is None:
            raise
        worst = min(range(len(links)), key=lambda k: links[k].pair.fidelity)
        raise InputError(
            f"scenario {scenario.name!r}, network.clients: {exc} (the worst link: client "
            f"{worst}, pair fidelity {links[worst].pair.fidelity:.4f})"
        ) from None
    x_train, y_train = ds.x_train, ds.y_train
    client_indices: Sequence[npt.NDArray[np.int64]] = inputs.partition.indices
    adversaries = [a.build() for a in scenario.adversaries]
    mask_key = keys = None
    privacy = scenario.privacy
    if secrets is not None:
        keys = PrivacyKeys(secrets, scenario.name)  # each key used by its holder only
    postprocessors = list(privacy.postprocessors(seed=config.seed, mask_key=mask_key, keys=keys))
    if adversaries:
        from qtfl.attacks.poisoning import ModelPoisoning, poison_partition

        attacker_rng = np.random.default_rng(
            np.random.SeedSequence(
                scenario_channel_seed(config.seed, scenario.name), spawn_key=(4_000,)
            )
        )
        if any(a.kind == "data" for a in adversaries):
            if ds.task != "classification":
                raise InputError(
                    f"scenario {scenario.name!r}: label-flip and backdoor need a "
                    f"classification data set, {ds.name} is {ds.task}"
                )
            poisoned = poison_partition(
                x_train,
                y_train,
                client_indices,
                adversaries,
                num_classes=ds.num_classes,
                rng=attacker_rng,
            )
            x_train, y_train, client_indices = poisoned.x, poisoned.y, poisoned.indices
        # last in the per-user order: a malicious client sends what it wants
        noise_seed = np.random.SeedSequence(
            scenario_channel_seed(config.seed, scenario.name), spawn_key=(4_001,)
        )  # gaussian noise keyed by (round, client): equal on any engine
        postprocessors.append(ModelPoisoning(adversaries, rng=attacker_rng, noise_seed=noise_seed))
    strategy = scenario.strategy or config.strategy
    t = config.training
    model = build_model(
        config.model.name,
        input_shape=ds.input_shape,
        num_classes=ds.num_classes,
        hidden=config.model.hidden,
        qubits=config.model.qubits,
        layers=config.model.layers,
        seed=model_seed(config.seed),
    )
    timeline = None
    if scenario.network is not None and scenario.network.server is not None:
        from qtfl.experiments.network_config import build_server_timeline

        assert links is not None and memory_t2_s is not None
        timeline = build_server_timeline(
            scenario,
            links,
            memory_t2_s,
            secrets=secrets,
            num_values=sum(p.numel() for p in model.parameters()),
        )
    return FederatedSimulation(
        model=model,
        x_train=x_train,
        y_train=y_train,
        x_test=ds.x_test,
        y_test=ds.y_test,
        client_indices=client_indices,
        strategy=make_strategy(strategy.name, **strategy.params),
        uplink=uplinks,
        downlink=downlinks,
        training=LocalTraining(
            local_epochs=t.local_epochs,
            batch_size=t.batch_size,
            lr=t.lr,
            optimizer=t.optimizer,
            momentum=t.momentum,
            proximal_mu=t.proximal_mu,
            loss="mse" if ds.task == "regression" else "cross_entropy",
        ),
        settings=SimulationSettings(
            rounds=t.rounds,
            fraction=t.fraction,
            dropout_probability=t.dropout_probability,
            eval_every=config.evaluation.every,
            backend=t.backend,
            client_chunk=t.client_chunk,
        ),
        seed=config.seed,
        channel_seed=scenario_channel_seed(config.seed, scenario.name),
        # Uplink noise keyed by (seed, scenario, round, client), as the Flower engines draw
        # it (secret parts: the link key), so in-process and Flower runs agree bit for bit.
        uplink_rng=lambda r, k: LinkKey(
            seed=config.seed, scenario=scenario.name, round=r, client=k
        ).rng(),
        postprocessors=postprocessors,
        channel_pool=channel_pool,
        network=timeline,
    )


def run_experiment(
    config: ExperimentConfig,
    *,
    out_dir: str | Path,
    resume: bool = False,
    progress: ProgressCallback | None = None,
    secret_file: str | Path | None = None,
    workers: int | Literal["auto"] | None = None,
) -> dict[str, Any]:
    """Run (or resume) every scenario of ``config`` into ``out_dir``; return the summary.

    ``secret_file``: a run secret to use instead of a fresh one (64 hex digits, owner-only),
    to repeat a run bit for bit; it is copied into ``out_dir`` (mode 0600) for ``--resume``.
    ``workers`` (default: ``config.training.workers``) sets the worker processes that send
    the clients' uplinks (:mod:`qtfl.fl.parallel`); the results are bit-identical for any
    value, and a run may be resumed with another.

    Raises:
        InputError: ``out_dir`` holds results and ``resume`` is False; a checkpoint comes
            from a different configuration; data, partition or model options are invalid;
            the secret file is unreadable, open to others, or differs from the run's.
            Nothing in ``out_dir`` is written before all of these checks pass.
    """
    if config.seeds is not None:
        from qtfl.experiments.seeds import run_seeds

        # each seed's run
        one = functools.partial(run_experiment, secret_file=secret_file, workers=workers)
        return run_seeds(config, out_dir=out_dir, resume=resume, run_one=one, progress=progress)
    torch.set_num_threads(1)
    # One BLAS thread: the channels' small products (CRC-32, LDPC syndromes) ran 13x slower
    # with a thread pool on a loaded 2-core machine (0.79 s vs 0.06 s per FEC teleport).
    pool = ChannelPool(workers=config.training.workers if workers is None else workers)
    with threadpool_limits(limits=1), pool:
        return _run(
            config,
            out_dir=out_dir,
            resume=resume,
            progress=progress,
            secret_file=secret_file,
            pool=pool,
        )


def resolve_run_secret(
    out: Path, *, resume: bool, secret_file: str | Path | None
) -> tuple[RunSecret, bool]:
    """The run's secret and whether ``out`` still lacks its copy (nothing is written here).

    Resuming reads ``out/run-secret.key``; a run without it cannot resume bit-identically
    and is refused. A new run uses ``secret_file`` or a fresh secret from the OS.
    """
    stored = out / SECRET_FILE
    given = None if secret_file is None else RunSecret.load(secret_file)
    started = resume and any((out / "checkpoints").glob("*.pt"))
    if stored.exists() or started:
        if not stored.exists():
            raise InputError(
                f"{out} has checkpoints but no {SECRET_FILE}; it cannot be resumed bit for "
                "bit. Choose a new --out"
            )
        secret = RunSecret.load(stored)
        if given is not None and given.key("check") != secret.key("check"):
            raise InputError(f"--secret-file differs from the secret of the run in {out}")
        return secret, False
    return (given or RunSecret.generate()), True


def _run(
    config: ExperimentConfig,
    *,
    out_dir: str | Path,
    resume: bool,
    progress: ProgressCallback | None,
    secret_file: str | Path | None = None,
    pool: ChannelPool | None = None,
) -> dict[str, Any]:
    out = Path(out_dir)
    check_output_dir(out)
    if not resume and _holds_files(out):
        raise InputError(
            f"output directory {out} is not empty; pass --resume to continue that run "
            "or choose a new --out"
        )
    config_json = config.model_dump_json(indent=2) + "\n"
    digest = config.config_hash()
    saved = resume_states(out, config_json=config_json, digest=digest) if resume else {}
    inputs = prepare_inputs(config)
    scenarios = config.resolved_scenarios()
    ckpt_dir = out / "checkpoints"
    secret, unsaved = resolve_run_secret(out, resume=resume, secret_file=secret_file)
    # several scenarios: one runs here at a time, others in worker processes (scenario_pool);
    # one scenario: its clients' uplinks go through the channel pool's workers instead
    sim_pool = pool if len(scenarios) < 2 else None
    sims = {
        sc.name: build_simulation(config, inputs, sc, secrets=secret, channel_pool=sim_pool)
        for sc in scenarios
    }
    for name, state in saved.items():
        if name not in sims:
            continue
        try:
            sims[name].restore(state)
        except InputError as exc:
            raise InputError(f"checkpoint {ckpt_dir / name}.pt: {exc}") from None
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise InputError(
                f"checkpoint {ckpt_dir / name}.pt does not fit this run ({type(exc).__name__}); "
                "delete it or use a new --out"
            ) from None

    try:
        out.mkdir(parents=True, exist_ok=True)
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        (out / "models").mkdir(exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create it ({exc.strerror or exc})") from None
    atomic_write_text(out / "config.json", config_json)
    if unsaved:  # before any checkpoint: a run that has one can always resume
        secret.save(out / SECRET_FILE)
    history = {sc.name: sims[sc.name].history for sc in scenarios}
    known = {sc.name: sc.rate_known for sc in scenarios}
    rounds = config.training.rounds
    by_name = {sc.name: sc for sc in scenarios}

    def run_here(name: str, between_rounds: Callable[[], None]) -> ScenarioRun:
        sim, t0 = sims[name], time.perf_counter()
        while sim.round < rounds:
            record = sim.run_round()
            save_checkpoint(ckpt_dir / f"{name}.pt", sim.state(), config_hash=digest)
            atomic_write_text(out / "metrics.jsonl", metrics_jsonl(history, rate_known=known))
            if progress is not None:
                progress(name, record, rounds)
            between_rounds()
        save_final_model(out, name, sim)
        outputs = scenario_outputs(config, by_name[name], sim, inputs.dataset)
        return ScenarioRun(outputs, time.perf_counter() - t0, os.getpid())

    def arrived(name: str, record: RoundMetrics) -> None:  # a round of a worker's scenario
        history[name].append(record)
        atomic_write_text(out / "metrics.jsonl", metrics_jsonl(history, rate_known=known))
        if progress is not None:
            progress(name, record, rounds)

    runs = run_scenarios(
        config,
        names=[sc.name for sc in scenarios],
        out=out,
        secret=secret,
        saved=saved,
        digest=digest,
        workers=1 if pool is None or len(scenarios) < 2 else pool.workers,
        run_here=run_here,
        on_round=arrived,
    )
    return write_outputs(
        out,
        config,
        {},
        history=history,
        elapsed={sc.name: runs[sc.name].elapsed_seconds for sc in scenarios},
        dataset=inputs.dataset,
        outputs={name: run.outputs for name, run in runs.items()},
    )


def run_one_scenario(
    config: ExperimentConfig,
    name: str,
    *,
    inputs: RunInputs,
    out: Path,
    secret: RunSecret,
    state: SimulationState | None,
    digest: str,
    on_round: Callable[[RoundMetrics], None],
) -> ScenarioOutputs:
    """Run scenario ``name`` of ``config`` on ``inputs`` (:func:`prepare_inputs`) into
    ``out`` (from ``state`` when resuming):
    a checkpoint after every round, then the final model; ``on_round`` gets each round's
    record. Returns the scenario's part of the summary (:func:`scenario_outputs`).

    What one worker of :mod:`qtfl.experiments.scenario_pool` does; the same steps as the
    one-process loop of :func:`run_experiment`, so the results are the same.
    """
    scenario = next(sc for sc in config.resolved_scenarios() if sc.name == name)
    sim = build_simulation(config, inputs, scenario, secrets=secret)
    if state is not None:
        sim.restore(state)
    while sim.round < config.training.rounds:
        record = sim.run_round()
        save_checkpoint(out / "checkpoints" / f"{name}.pt", sim.state(), config_hash=digest)
        on_round(record)
    save_final_model(out, name, sim)
    return scenario_outputs(config, scenario, sim, inputs.dataset)


def save_final_model(out: Path, name: str, sim: FederatedSimulation) -> None:
    """Write ``models/<name>.pt``: the scenario's final global model (a torch state dict)."""
    buf = io.BytesIO()
    torch.save(sim.final_model().state_dict(), buf)
    atomic_write_bytes(out / "models" / f"{name}.pt", buf.getvalue())


def scenario_outputs(
    config: ExperimentConfig,
    scenario: Scenario,
    sim: FederatedSimulation,
    dataset: Dataset,
    *,
    privacy: dict[str, Any] | None = None,
    secure_aggregation: dict[str, Any] | None = None,
) -> ScenarioOutputs:
    """A trained scenario's part of ``summary.json``: its secure aggregation's cost, its
    adversaries' effect, and (with an ``attacks`` section) the attacks' results —
    ``privacy`` and ``secure_aggregation`` when they were computed elsewhere (the Flower
    server)."""
    summary: dict[str, Any] = {}
    for post in sim.postprocessors:
        report = getattr(post, "summary", None)
        if callable(report):
            summary["secure_aggregation"] = (
                report() if secure_aggregation is None else secure_aggregation
            )
    if scenario.adversaries:
        summary.update(poisoning_summary(scenario, sim, dataset))
    if config.attacks is not None and privacy is None:
        privacy = scenario_privacy(config, scenario, sim)
    return ScenarioOutputs(int(sim.global_params.size), summary, privacy)


def write_outputs(
    out: Path,
    config: ExperimentConfig,
    sims: dict[str, FederatedSimulation],
    *,
    history: dict[str, list[RoundMetrics]],
    elapsed: dict[str, float],
    dataset: Dataset,
    head: dict[str, Any] | None = None,
    privacy: dict[str, Any] | None = None,
    outputs: dict[str, ScenarioOutputs] | None = None,
    secure_aggregation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``metrics.jsonl``, ``summary.json`` and ``report.html`` of a finished run.

    ``sims`` hold each scenario's final global model (the privacy attacks and the backdoor
    success rate use it); ``head``: keys put first in the summary (Flower: the engine);
    ``privacy``: the ``attacks`` section's results of the scenarios assessed elsewhere (the
    Flower server), the others are assessed here; ``secure_aggregation``: SecAgg+ summaries
    of the scenarios whose protocol ran elsewhere (the Flower server), the others come from
    ``sims``' post-processors; ``outputs``: scenarios whose part of the summary was computed
    next to their simulation elsewhere (:func:`scenario_outputs` in a worker process), which
    then need no entry in ``sims``.
    Shared by the in-process runner and the Flower engines, so their outputs are the same.
    """
    scenarios = config.resolved_scenarios()
    known = {sc.name: sc.rate_known for sc in scenarios}
    done = dict(outputs or {})
    for sc in scenarios:
        if sc.name not in done:
            done[sc.name] = scenario_outputs(
                config,
                sc,
                sims[sc.name],
                dataset,
                privacy=(privacy or {}).get(sc.name),
                secure_aggregation=(secure_aggregation or {}).get(sc.name),
            )
    atomic_write_text(out / "metrics.jsonl", metrics_jsonl(history, rate_known=known))
    size = next((o.parameters for o in done.values()), None)
    summary = {**(head or {}), **build_summary(config, history, known, elapsed, parameters=size)}
    for sc in scenarios:
        summary["scenarios"][sc.name].update(done[sc.name].summary)
    if config.attacks is not None:
        summary["privacy"] = {sc.name: done[sc.name].privacy for sc in scenarios}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    from qtfl.experiments.report import write_report

    write_report(out)
    return summary


def check_output_dir(out: Path) -> None:
    """Refuse an ``--out`` that is a file, lies under a regular file, or cannot be written.

    Raises:
        InputError: naming the offending path; nothing is created.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    ancestor = out
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"--out {out} lies under {ancestor}, which is a file, not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: {ancestor} is not writable; choose another --out")


def _holds_files(out: Path) -> bool:
    """True when ``out`` holds any file (empty subdirectories left by a kill do not count)."""
    return out.is_dir() and any(p.is_file() or p.is_symlink() for p in out.rglob("*"))


def resume_states(out: Path, *, config_json: str, digest: str) -> dict[str, SimulationState]:
    """The checkpoints of ``out`` to continue from, after checking the run is this config's.

    Raises:
        InputError: ``out`` holds files but no run; its ``config.json``, ``summary.json`` or
            any checkpoint comes from another configuration (that run is left untouched);
            a checkpoint is damaged (:func:`qtfl.fl.checkpoint.load_checkpoint`).
    """
    if not _holds_files(out):
        return {}
    refuse_other_run(out, config_json=config_json, digest=digest, require_config=True)
    saved: dict[str, SimulationState] = {}
    ckpt_dir = out / "checkpoints"
    for path in sorted(ckpt_dir.glob("*.pt")) if ckpt_dir.is_dir() else []:
        state, their_hash = load_checkpoint(path)
        if their_hash != digest:
            raise InputError(
                f"checkpoint {path} was written by a different configuration; "
                "resume with the original configuration or choose a new --out"
            )
        saved[path.stem] = state
    return saved


def refuse_other_run(out: Path, *, config_json: str, digest: str, require_config: bool) -> None:
    """Refuse to resume into ``out`` when its ``config.json`` or finished ``summary.json``
    belongs to another configuration (``require_config``: a missing config.json is refused
    too). Used for single runs and for the top level of a multi-seed run.

    Raises:
        InputError: naming ``out`` and which file differs; nothing is touched.
    """
    other = (
        f"--out {out} holds a run of a different configuration; --resume continues only "
        "the same configuration: pass that one, or choose a new --out"
    )
    config_path, summary_path = out / "config.json", out / "summary.json"
    if config_path.is_file():
        try:
            theirs = config_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{config_path} is unreadable ({type(exc).__name__})") from None
        if theirs != config_json:
            raise InputError(other + " (config.json differs)")
    elif require_config:
        raise InputError(f"--out {out} holds files but no config.json: not a qtfl run to resume")
    if summary_path.is_file():
        try:
            finished = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"{summary_path} is damaged ({type(exc).__name__})") from None
        if not isinstance(finished, dict) or finished.get("config_hash") != digest:
            raise InputError(other + " (summary.json differs)")


def _regression(config: ExperimentConfig) -> bool:
    """True for the QDataSet characterisation task (R² in the accuracy fields, MSE loss)."""
    q = config.data.qdataset
    return config.data.name == "qdataset" and (q is None or q.task == "characterisation")


def privacy_summary(
    config: ExperimentConfig, sims: dict[str, FederatedSimulation], scenarios: list[Scenario]
) -> dict[str, Any]:
    """The ``attacks`` section's results per scenario (:mod:`qtfl.attacks.run_privacy`)."""
    return {sc.name: scenario_privacy(config, sc, sims[sc.name]) for sc in scenarios}


def scenario_privacy(
    config: ExperimentConfig,
    scenario: Scenario,
    sim: FederatedSimulation,
    *,
    deliver: Any = None,
    reveal: Any = None,
    unmask: Any = None,
) -> dict[str, Any]:
    """The ``attacks`` section's results for one trained scenario; ``deliver``: how the
    clients' updates reach the attackers, ``reveal`` / ``unmask``: how the server obtains
    revealed mask seeds, SecAgg+ shares and edge keys
    (:func:`qtfl.attacks.run_privacy.assess_simulation`)."""
    from qtfl.attacks.run_privacy import assess_simulation

    assert config.attacks is not None
    dp = scenario.privacy.dp_settings()
    return {
        **assess_simulation(
            sim,
            methods=config.attacks.inversion,
            membership=config.attacks.membership,
            target_client=(scenario.eavesdropped_clients() or [0])[0],
            encoding_bits=int(getattr(scenario.uplink, "bits", 16)),
            seed=config.seed,
            deliver=deliver,
            reveal=reveal,
            unmask=unmask,
        ),
        "epsilon": None
        if dp is None
        else dp.epsilon(rounds=config.training.rounds, sample_rate=config.training.fraction),
    }


def poisoning_summary(
    scenario: Scenario, sim: FederatedSimulation, dataset: Dataset
) -> dict[str, Any]:
    """The adversaries of ``scenario`` and, for a backdoor, its attack success rate on the
    triggered test set (:func:`qtfl.attacks.poisoning.backdoor_success_rate`)."""
    from qtfl.attacks.poisoning import backdoor_success_rate

    model = sim.final_model().eval()

    def predict(x: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        with torch.no_grad():
            return model(torch.from_numpy(x)).argmax(dim=1).numpy()

    success: float | None = None
    for a in scenario.adversaries:
        if a.attack == "backdoor":
            success = backdoor_success_rate(
                predict,
                dataset.x_test,
                dataset.y_test,
                a.build(),
                trigger_value=float(np.max(dataset.x_train)),
            )
    return {
        "adversaries": [
            {"clients": list(a.clients), "attack": a.attack} for a in scenario.adversaries
        ],
        "malicious_clients": scenario.malicious_clients(),
        "attack_success_rate": success,
    }


def build_summary(
    config: ExperimentConfig,
    history: dict[str, list[RoundMetrics]],
    rate_known: dict[str, bool],
    elapsed: dict[str, float],
    *,
    parameters: int | None = None,
) -> dict[str, Any]:
    """``summary.json``: run facts, per-scenario summaries, and wall-clock ``timing`` apart.

    ``parameters`` (the model size) gives each scenario its ``cost_per_parameter``
    (:func:`~qtfl.experiments.metrics.cost_per_parameter`; ``None`` entries without it);
    ``uplink_encoding``/``downlink_encoding`` and ``..._qec`` name a teleport channel's
    encoding and code (``None`` for other kinds)."""
    target = config.evaluation.target_accuracy
    described = {sc.name: sc for sc in config.resolved_scenarios()}
    return {
        "config_hash": config.config_hash(),
        "seed": config.seed,
        "data": config.data.name,
        "model": config.model.name,
        "metric": "r2" if _regression(config) else "accuracy",
        "strategy": config.strategy.name,
        "num_clients": config.data.num_clients,
        "scenarios": {
            name: {
                "uplink_kind": described[name].uplink.kind,
                "downlink_kind": described[name].downlink.kind,
                "uplink_encoding": getattr(described[name].uplink, "encoding", None),
                "downlink_encoding": getattr(described[name].downlink, "encoding", None),
                "uplink_qec": getattr(described[name].uplink, "qec", None),
                "downlink_qec": getattr(described[name].downlink, "qec", None),
                "cost_per_parameter": cost_per_parameter(recs, parameters=parameters),
                "eavesdropped_clients": described[name].eavesdropped_clients(),
                "strategy": (described[name].strategy or config.strategy).name,
                **dp_accounting(config, described[name], rounds=len(recs)),
                **summarize(recs, target=target, rate_known=rate_known[name]),
            }
            for name, recs in history.items()
        },
        "timing": {
            name: timing(recs, elapsed_seconds=elapsed.get(name)) for name, recs in history.items()
        },
    }


def dp_accounting(config: ExperimentConfig, scenario: Scenario, *, rounds: int) -> dict[str, Any]:
    """``{"dp_epsilon": ε, "dp_delta": δ}`` of a DP scenario after ``rounds`` (else empty).

    Every engine reports the same figure: :meth:`qtfl.fl.privacy.DPSettings.epsilon` over the
    rounds run at the configured sampling rate; ``None`` without the ``privacy`` extra.
    """
    dp = scenario.privacy.dp_settings()
    if dp is None:
        return {}
    delta = 1e-5
    try:
        eps = dp.epsilon(rounds=rounds, sample_rate=config.training.fraction, delta=delta)
    except InputError:  # opacus (qtfl[privacy]) is not installed
        return {"dp_epsilon": None, "dp_delta": delta}
    return {"dp_epsilon": eps, "dp_delta": delta}


class RichProgress:
    """A rich progress bar per scenario showing the latest test accuracy (a ProgressCallback)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("acc {task.fields[accuracy]}"),
            transient=False,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, scenario: str, record: RoundMetrics, total: int) -> None:
        if scenario not in self._tasks:
            self._tasks[scenario] = self._progress.add_task(scenario, total=total, accuracy="-")
        task = self._tasks[scenario]
        if record.accuracy is None:
            self._progress.update(task, completed=record.round)
        else:
            self._progress.update(task, completed=record.round, accuracy=f"{record.accuracy:.4f}")
