"""The ``qtfl`` command line: parse arguments, call the library, print the result.

No logic lives here: every command calls one library function and prints what it returns,
as a table or (with ``--json``) as one JSON object. A mistake the user can fix raises
:class:`qtfl.errors.InputError`; ``main`` prints its message and exits with status 2,
without a traceback.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qtfl import registry
from qtfl.errors import INTERRUPTED_HINT, InputError, QtflError
from qtfl.present.console import configure_logging, print_result

app = typer.Typer(
    name="qtfl",
    help="Federated learning over quantum teleportation: run, measure, benchmark.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
bench_app = typer.Typer(
    help="Performance benchmarks (figures, not pass/fail tests).", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")

_out = Console()
_err = Console(stderr=True)
log = logging.getLogger("qtfl.cli")


def _choice(names: Any) -> click.Choice:
    """A typed choice: ``-h`` and shell completion list ``names``."""
    return click.Choice(list(names))


class _PathType(click.Path):
    """A path typed for help (FILE / DIRECTORY) and shell completion; the library checks it,
    so a bad path is one ``error:`` line naming what is wrong, as for every other input."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return value


_FILE = _PathType(dir_okay=False)
_DIR = _PathType(file_okay=False)
_FEC = _choice(registry.FEC_CHOICES)


def _version(value: bool) -> None:
    if value:
        from qtfl import __version__

        print(f"qtfl {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    version: bool = typer.Option(
        False, "-V", "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    verbose: int = typer.Option(
        0, "-v", "--verbose", count=True, help="More log lines on stderr (-v info, -vv debug)."
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Errors only on stderr."),
) -> None:
    """Federated learning over quantum teleportation: run, measure, benchmark."""
    configure_logging(-1 if quiet else verbose)


def emit(result: Mapping[str, Any], *, as_json: bool, title: str = "") -> None:
    """Print ``result`` as one JSON object (``--json``) or as a table in human units."""
    print_result(result, as_json=as_json, title=title, console=_out)


@app.command("run")
def run_command(
    config: str = typer.Argument(
        ...,
        metavar="CONFIG",
        click_type=_FILE,
        help="Experiment file (YAML), or the name of a shipped one (see qtfl configs).",
    ),
    out: str | None = typer.Option(
        None,
        "--out",
        click_type=_DIR,
        help="Output directory (must be empty or new; not needed with --dry-run).",
    ),
    overrides: list[str] = typer.Option(  # noqa: B008
        [],
        "--set",
        metavar="KEY.PATH=VALUE",
        help="Override one config value (YAML scalar), e.g. --set training.rounds=5; repeatable.",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run saved in --out."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        help="Also print every scenario's full summary before the table (as does qtfl -v run).",
    ),
    engine: str = typer.Option(
        "inprocess",
        "--engine",
        click_type=_choice(registry.ENGINES),
        help="In-process engine, Flower simulation, or Flower deployed on loopback.",
    ),
    supernodes: int | None = typer.Option(
        None, "--supernodes", help="Flower engines: SuperNodes (default: 2 deployed, 1/client sim)."
    ),
    superlink_port: int | None = typer.Option(
        None, "--superlink-port", help="flower-deploy: SuperLink port (default: a free one)."
    ),
    attach: int | None = typer.Option(
        None, "--attach", help="flower-deploy: use the SuperLink already on this port."
    ),
    round_timeout: float = typer.Option(
        300.0, "--round-timeout", help="Flower engines: seconds to wait for a round's replies."
    ),
    secret_file: str | None = typer.Option(
        None,
        "--secret-file",
        click_type=_FILE,
        help="Run secret (64 hex digits, mode 600) to repeat a run.",
    ),
    workers: str | None = typer.Option(
        None,
        "--workers",
        help="inprocess: processes for the clients' uplinks, N or auto (idle CPUs; default: "
        "training.workers).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the estimated cost per scenario and exit (no output)."
    ),
    max_hours: float = typer.Option(
        12.0, "--max-hours", help="Refuse a new run whose estimated wall time exceeds this."
    ),
    tls_dir: str | None = typer.Option(
        None,
        "--tls-dir",
        click_type=_DIR,
        help="flower-deploy: your ca.pem, server.pem, server.key (default: a per-run CA).",
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="flower-deploy: plain HTTP, no node keys (loopback tests only)."
    ),
    federation: str | None = typer.Option(
        None,
        "--federation",
        click_type=_DIR,
        help="flower-deploy across hosts: the directory of qtfl flower prepare (its SuperLink "
        "and SuperNodes running).",
    ),
) -> None:
    """Run a federated-learning experiment: summary.json, metrics.jsonl, checkpoints in --out."""
    from qtfl.errors import InputError, require_range
    from qtfl.experiments.config import load_config
    from qtfl.experiments.examples import resolve_config
    from qtfl.experiments.runner import RichProgress, check_output_dir, run_experiment
    from qtfl.fl.parallel import parse_workers

    path = resolve_config(config)
    log.info("configuration %s%s", path, f" with --set {' '.join(overrides)}" if overrides else "")
    cfg = load_config(path, overrides=overrides)
    n_workers = None if workers is None else parse_workers(workers, engine=engine)
    require_range("--max-hours", max_hours, low=0.0, low_open=True)
    if federation is not None and engine != "flower-deploy":
        raise InputError(f"--federation runs on --engine flower-deploy, not {engine}")
    if out is None and not dry_run:
        raise InputError("qtfl run needs --out DIR (only --dry-run runs without one)")
    if dry_run or (engine == "inprocess" and not resume):
        from pathlib import Path

        from qtfl.experiments.estimate import check_budget, estimate_run

        if out is not None and not dry_run:
            check_output_dir(Path(out))
        # the run's own guard needs hours, not the seconds of the report page
        estimate = estimate_run(cfg, include_report=dry_run)
        if dry_run:
            emit_estimate(estimate.as_dict(), as_json=as_json)
            return
        check_budget(estimate, max_hours=max_hours)
    assert out is not None
    if engine != "inprocess":
        from qtfl.extras import require_extra

        require_extra("flower", purpose=f"--engine {engine}")
        from qtfl.flower.run import FlowerOptions, run_with_engine
        from qtfl.flower.trust import load_tls_dir

        if federation is not None:
            from qtfl.flower.hosts import check_federation_flags, federation_options

            check_federation_flags(supernodes=supernodes, attach=attach,
                                   superlink_port=superlink_port, tls_dir=tls_dir,
                                   insecure=insecure, secret_file=secret_file)  # fmt: skip
            options, secret_file = federation_options(
                federation, cfg, round_timeout_s=round_timeout
            )
        else:
            options = FlowerOptions(
                num_supernodes=supernodes,
                superlink_port=superlink_port,
                attach=attach,
                tls=None if tls_dir is None else load_tls_dir(tls_dir),
                insecure=insecure,
                round_timeout_s=round_timeout,
            )
        with _terminate_as_interrupt():
            summary = run_with_engine(
                cfg, out_dir=out, engine=engine, resume=resume, options=options,
                secret_file=secret_file,
            )  # fmt: skip
        if as_json:
            emit(summary, as_json=True)
        else:
            _print_run(summary, out_dir=out, verbose=verbose)
        return
    with _terminate_as_interrupt():
        if as_json:
            emit(
                run_experiment(
                    cfg, out_dir=out, resume=resume, secret_file=secret_file, workers=n_workers
                ),
                as_json=True,
            )
            return
        with RichProgress() as bar:
            summary = run_experiment(
                cfg,
                out_dir=out,
                resume=resume,
                progress=bar,
                secret_file=secret_file,
                workers=n_workers,
            )
    _print_run(summary, out_dir=out, verbose=verbose)


def _print_run(summary: Mapping[str, Any], *, out_dir: str, verbose: bool) -> None:
    """The end of ``qtfl run``: (``--verbose``: every scenario's summary,) the comparison
    table, and the files written."""
    from pathlib import Path

    from qtfl.present.run_table import rich_run_table, run_epilogue, run_table, table_caption

    if verbose or logging.getLogger("qtfl").isEnabledFor(logging.INFO):  # --verbose or qtfl -v
        for name, scenario in summary["scenarios"].items():
            emit(scenario, as_json=False, title=f"qtfl run — scenario {name}")
    table = run_table(summary)
    _out.print(rich_run_table(table, width=_out.width))
    _out.print(table_caption(table), style="dim", highlight=False)
    for line in run_epilogue(Path(out_dir)):
        _out.print(line, highlight=False, soft_wrap=True)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt while the in-process engine runs: the round
    in progress is abandoned, the last atomic checkpoint stays, exit status 130. SIGINT is
    installed too because a process started in the background inherits it ignored."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    except KeyboardInterrupt:
        raise RunInterrupted from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class RunInterrupted(Exception):
    """A run stopped by SIGINT/SIGTERM; its last checkpoint is intact (exit status 130)."""


def emit_estimate(estimate: Mapping[str, Any], *, as_json: bool) -> None:
    """``qtfl run --dry-run``: one row per scenario (or the estimate as JSON)."""
    if as_json:
        emit(estimate, as_json=True)
        return
    from qtfl.present import human_count, human_seconds

    table = Table(title="qtfl run --dry-run (estimate on this machine)")
    table.add_column("scenario", no_wrap=True)
    for column in ("Bell pairs", "classical bits", "link time", "wall"):
        table.add_column(column, justify="right", no_wrap=True)
    first: Mapping[str, Any] = {}
    for name, sc in estimate["scenarios"].items():
        first = first or sc
        table.add_row(
            name,
            human_count(sc["bell_pairs"]),
            human_count(sc["classical_bits"]),
            human_seconds(sc["link_seconds"]),
            human_seconds(sc["wall_seconds"]),
        )
    _out.print(table)
    if first:
        _out.print(
            f"{human_count(first['rounds'])} rounds of {human_count(first['clients_per_round'])} "
            "clients per scenario"
        )
    _out.print(
        f"total wall time ≈ {human_seconds(estimate['wall_seconds'])} (data loading "
        f"{human_seconds(estimate['setup_seconds'])}, report page "
        f"{human_seconds(estimate['report_seconds'])}; calibrated in "
        f"{human_seconds(estimate['calibration_seconds'])})"
        + ("; the attacks section is not included" if estimate["attacks_not_estimated"] else "")
    )


@app.command("configs")
def configs_command(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """List the example experiment files shipped with qtfl (run one by name: qtfl run NAME)."""
    from qtfl.experiments.examples import example_configs

    shipped = {e.name: {"path": str(e.path), "about": e.summary} for e in example_configs()}
    if as_json:
        emit({"configs": shipped}, as_json=True)
        return
    emit({k: v["about"] for k, v in shipped.items()}, as_json=False, title="qtfl configs")


@app.command("report")
def report_command(
    run_dir: str = typer.Argument(
        ..., click_type=_DIR, help="The --out directory of a finished qtfl run."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Re-render DIR/report.html from DIR/summary.json and DIR/metrics.jsonl."""
    from qtfl.experiments.report import write_report

    emit({"report": str(write_report(run_dir))}, as_json=as_json, title="qtfl report")


@app.command("link")
def link_command(
    preset: str | None = typer.Option(
        None,
        "--preset",
        click_type=_choice(registry.LINK_PRESETS),
        help="Published link (see --list).",
    ),
    list_presets: bool = typer.Option(False, "--list", help="List the presets and exit."),
    distance_km: float | None = typer.Option(None, "--distance-km", help="Link length (km)."),
    attenuation_db_per_km: float | None = typer.Option(
        None, "--attenuation-db-per-km", help="Fiber loss (default 0.2 dB/km)."
    ),
    extra_loss_db: float | None = typer.Option(None, "--extra-loss-db", help="Fixed extra loss."),
    source: str | None = typer.Option(
        None, "--source", click_type=_choice(("end", "midpoint")), help="Source placement."
    ),
    source_rate_hz: float | None = typer.Option(None, "--source-rate-hz", help="Pairs emitted/s."),
    source_fidelity: float | None = typer.Option(
        None, "--source-fidelity", help="Fidelity of the emitted pairs, in [0.25, 1]."
    ),
    detector_efficiency: float = typer.Option(1.0, "--detector-efficiency"),
    heralded: bool = typer.Option(False, "--heralded", help="Hold pairs in memory until heralded."),
    memory_t2_s: float = typer.Option(math.inf, "--memory-t2-s", help="Memory T2 (s)."),
    model_params: int | None = typer.Option(
        None, "--model-params", help="Parameters per update (default: the quickstart model)."
    ),
    bits_per_param: int = typer.Option(
        16, "--bits", "--bits-per-param", help="Bits per value of the basis encoding."
    ),
    check_fraction: float = typer.Option(0.1, "--check-fraction", help="Pairs sacrificed."),
    target_fidelity: float | None = typer.Option(
        None, "--target-fidelity", help="Purify pairs up to this fidelity."
    ),
    protocol: str = typer.Option(
        "dejmps",
        "--protocol",
        click_type=_choice(registry.PURIFICATION_PROTOCOLS),
        help="Purification protocol.",
    ),
    max_rounds: int = typer.Option(
        registry.DEFAULT_MAX_PURIFICATION_ROUNDS, "--max-rounds", help="Purification round limit."
    ),
    fec: str | None = typer.Option(
        None, "--fec", click_type=_FEC, help="FEC with CRC and resends (auto: best code)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Bell pairs over a link: fidelity, rate, latency, PLOB bound, cost of one update."""
    from qtfl.network.cost import evaluate_link
    from qtfl.present.links import preset_listing

    if list_presets:
        emit(preset_listing(), as_json=as_json, title="qtfl link presets")
        return
    report = evaluate_link(
        preset=preset,
        distance_km=distance_km,
        attenuation_db_per_km=attenuation_db_per_km,
        extra_loss_db=extra_loss_db,
        source=source,
        source_rate_hz=source_rate_hz,
        source_fidelity=source_fidelity,
        detector_efficiency=detector_efficiency,
        heralded=heralded,
        memory_t2_s=memory_t2_s,
        model_params=model_params,
        bits_per_param=bits_per_param,
        check_fraction=check_fraction,
        target_fidelity=target_fidelity,
        protocol=protocol,
        max_rounds=max_rounds,
    )
    if fec is not None:
        from qtfl.channel.integrity import link_fec_summary

        emit(link_fec_summary(report, fec=fec), as_json=as_json, title="qtfl link --fec")
        return
    emit(report.as_dict(), as_json=as_json, title="qtfl link")


def _eavesdropper_option(default: str, choices: tuple[str, ...], help: str) -> Any:
    return typer.Option(default, "--eavesdropper", "--eve", click_type=_choice(choices), help=help)


def _eavesdropper_basis_option() -> Any:
    return typer.Option(
        None,
        "--eavesdropper-basis",
        "--eve-basis",
        click_type=_choice(registry.EAVESDROPPER_BASES),
        help="Measurement basis (intercept-resend only; default random).",
    )


def _eavesdropper_fraction_option(default: float | None, help: str) -> Any:
    return typer.Option(default, "--eavesdropper-fraction", "--eve-fraction", help=help)


@app.command("teleport")
def teleport_command(
    payload_bits: int = typer.Option(
        1_000_000, "--payload-bits", help="Payload qubits N (random bits)."
    ),
    fidelity: float = typer.Option(0.95, "--fidelity", help="Werner pair fidelity, in [0.25, 1]."),
    seed: int = typer.Option(0, "--seed", help="Seed of the payload and the sampler."),
    fec: str | None = typer.Option(
        None, "--fec", click_type=_FEC, help="FEC with CRC and resends (auto: best code)."
    ),
    eve: str = _eavesdropper_option(
        "none", registry.EAVESDROPPERS, "Eavesdropper on the pairs and the classical channel."
    ),
    eve_fraction: float | None = _eavesdropper_fraction_option(
        None, "Pairs attacked, in [0, 1] (intercept-resend, mitm; default 1)."
    ),
    eve_basis: str | None = _eavesdropper_basis_option(),
    check_fraction: float = typer.Option(0.1, "--check-fraction", help="Check pairs, in (0, 1)."),
    alpha: float = typer.Option(0.01, "--alpha", help="False-alarm probability, in (0, 1)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Teleport N random payload bits through Werner pairs (stim): resources and bit errors.

    Without an eavesdropper, one run teleports the bits; the verification fields come from a
    second run with check pairs first (verify, then teleport). With --eavesdropper, every
    figure (bit error rate, verdict, leakage) comes from the one attacked, verified run.
    """
    if fec is not None:
        from qtfl.channel.integrity import teleport_fec_summary

        result = teleport_fec_summary(bits=payload_bits, fidelity=fidelity, fec=fec, seed=seed)
        emit(result, as_json=as_json, title="qtfl teleport --fec")
        return
    from qtfl.channel.teleportation import verified_transfer
    from qtfl.present.teleport import teleport_figures
    from qtfl.quantum.benchmark import teleport_summary

    transfer = verified_transfer(
        bits=payload_bits,
        fidelity=fidelity,
        seed=seed,
        eavesdropper=eve,
        eavesdropper_fraction=eve_fraction,
        eavesdropper_basis=eve_basis,
        check_fraction=check_fraction,
        alpha=alpha,
    )
    plain = None
    if eve == "none":
        plain = teleport_summary(bits=payload_bits, fidelity=fidelity, seed=seed)
    emit(teleport_figures(plain, transfer), as_json=as_json, title="qtfl teleport")


security_app = typer.Typer(
    help="Eavesdropper detection and leakage (figures from circuit-level simulation).",
    no_args_is_help=True,
)
app.add_typer(security_app, name="security")


@security_app.command("curve")
def security_curve_command(
    fidelity: float = typer.Option(0.95, "--fidelity", help="Werner pair fidelity of the link."),
    eve: str = _eavesdropper_option(
        "intercept-resend", registry.LINK_EAVESDROPPERS, "Eavesdropper on the pairs."
    ),
    eve_basis: str | None = _eavesdropper_basis_option(),
    checks: str = typer.Option(
        "1,2,4,8,16,32,64", "--check-counts", metavar="K,K,...", help="Check-pair counts k."
    ),
    fractions: str = typer.Option(
        "0.1,0.25,0.5,1",
        "--eavesdropper-fractions",
        metavar="F,F,...",
        help="Shares of pairs attacked f, each in [0, 1].",
    ),
    alpha: float = typer.Option(0.01, "--alpha", help="False-alarm probability, in (0, 1)."),
    method: str = typer.Option(
        "exact",
        "--threshold-method",
        click_type=_choice(("exact", "hoeffding")),
        help="QBER threshold: exact binomial tail or Hoeffding bound.",
    ),
    trials: int = typer.Option(2000, "--trials", help="Simulated verifications per point."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Detection probability vs check pairs and Eve fraction: binomial prediction and stim."""
    from qtfl.present.security import curve_rows
    from qtfl.security.curve import security_curve

    result = security_curve(
        fidelity=fidelity,
        eve=eve,
        eve_basis=eve_basis,
        check_counts=checks,
        fractions=fractions,
        alpha=alpha,
        method=method,
        trials=trials,
        seed=seed,
    )
    emit(
        result.as_dict() if as_json else curve_rows(result),
        as_json=as_json,
        title="qtfl security curve",
    )


@security_app.command("eavesdroppers")
def security_attacks_command(
    fidelity: float = typer.Option(0.95, "--fidelity", help="Werner pair fidelity of the link."),
    eve_fraction: float = _eavesdropper_fraction_option(
        registry.DEFAULT_EAVESDROPPER_FRACTION, "Pairs attacked, in [0, 1]."
    ),
    checks: int = typer.Option(100, "--checks", help="Check pairs per verification."),
    alpha: float = typer.Option(0.01, "--alpha", help="False-alarm probability, in (0, 1)."),
    trials: int = typer.Option(2000, "--trials", help="Simulated verifications per attacker."),
    payload_bits: int = typer.Option(100_000, "--payload-bits", help="Teleported test bits."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Each eavesdropper on one link: detection probability, payload errors, what Eve learns."""
    from qtfl.present.security import eavesdropper_rows
    from qtfl.security.comparison import compare_eavesdroppers

    result = compare_eavesdroppers(
        fidelity=fidelity,
        fraction=eve_fraction,
        n_checks=checks,
        alpha=alpha,
        trials=trials,
        payload_bits=payload_bits,
        seed=seed,
    )
    emit(
        result.as_dict() if as_json else eavesdropper_rows(result),
        as_json=as_json,
        title="qtfl security eavesdroppers",
    )


security_app.command("attacks", hidden=True, deprecated=True)(security_attacks_command)


@bench_app.command("security")
def bench_security_command(
    params: int = typer.Option(100_000, "--params", help="Update size (float32 values)."),
    bits: int = typer.Option(16, "--bits", help="Bits per value of the basis encoding."),
    fidelity: float = typer.Option(0.95, "--fidelity", help="Werner pair fidelity."),
    pair_rate_hz: float = typer.Option(1e6, "--pair-rate-hz", help="Heralded pairs per second."),
    repeats: int = typer.Option(3, "--repeats", help="Timed sends per channel (best kept)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Teleportation vs QKD + one-time pad vs AES-GCM: cost and simulation speed per update."""
    from qtfl.security.benchmark import benchmark_channels

    result = benchmark_channels(
        params=params, bits=bits, fidelity=fidelity, pair_rate_hz=pair_rate_hz, repeats=repeats
    )
    emit(result, as_json=as_json, title="qtfl bench security")


@app.command("integrity")
def integrity_command(
    fidelity: float = typer.Option(0.95, "--fidelity", help="Werner pair fidelity, in [0.25, 1]."),
    target: float = typer.Option(
        1e-6, "--target-bit-error-rate", help="Residual bit error rate, in (0, 0.5]."
    ),
    max_rounds: int = typer.Option(
        registry.DEFAULT_MAX_PURIFICATION_ROUNDS, "--max-rounds", help="Purification round limit."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Cheapest of FEC, purification or both, in Bell pairs per delivered payload bit."""
    from qtfl.channel.integrity import plan_summary

    result = plan_summary(fidelity=fidelity, target_bit_error_rate=target, max_rounds=max_rounds)
    emit(result, as_json=as_json, title="qtfl integrity")


@bench_app.command("fl")
def bench_fl_command(
    clients: int = typer.Option(100, help="Clients per round."),
    samples: int = typer.Option(60, help="Training examples per client."),
    rounds: int = typer.Option(10, help="Timed rounds per engine (after one warm-up round)."),
    memory_clients: int = typer.Option(1000, help="Clients of the one-round memory probe."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    vs_flower: bool = typer.Option(
        False,
        "--vs-flower",
        help="In-process engine vs Flower's simulation and deployment engines instead.",
    ),
) -> None:
    """FL engine speed: engine vs plain per-client loop, rounds interleaved; peak memory."""
    if vs_flower:
        from qtfl.flower.benchmark import benchmark_vs_flower

        emit(benchmark_vs_flower(), as_json=as_json, title="qtfl bench fl --vs-flower")
        return
    from qtfl.fl.benchmark import benchmark_fl

    result = benchmark_fl(
        clients=clients, samples=samples, rounds=rounds, memory_clients=memory_clients
    )
    emit(result, as_json=as_json, title="qtfl bench fl")


@bench_app.command("channel")
def bench_channel_command(
    config: str = typer.Option(
        "configs/quickstart.yaml",
        "--config",
        click_type=_FILE,
        help="Experiment file holding both scenarios.",
    ),
    scenario: str = typer.Option("teleport-corrected", "--scenario", help="Scenario timed (A)."),
    baseline: str = typer.Option("classical", "--baseline", help="Scenario compared with (B)."),
    rounds: int = typer.Option(6, "--rounds", help="Timed round pairs, A B A B (after warm-up)."),
    update_repeats: int = typer.Option(
        9, "--update-repeats", help="Timed paper-size updates per channel (0: skip that part)."
    ),
    workers: int = typer.Option(1, "--workers", help="Processes for the rounds' uplinks."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Secure-channel cost: interleaved round ratio A/B, seconds per paper-size update."""
    from qtfl.experiments.benchmark import benchmark_channel, channel_bench_lines

    result = benchmark_channel(
        config=config,
        scenario=scenario,
        baseline=baseline,
        rounds=rounds,
        update_repeats=update_repeats,
        workers=workers,
    )
    emit(
        result if as_json else channel_bench_lines(result),
        as_json=as_json,
        title="qtfl bench channel",
    )


@bench_app.command("teleport")
def bench_teleport_command(
    bits: int = typer.Option(10_000_000, "--payload-bits", help="Payload qubits N for stim."),
    aer_shots: int = typer.Option(20_000, "--aer-shots", help="Shots of Aer's dynamic circuit."),
    aer_fast_shots: int = typer.Option(
        200_000, "--aer-fast-shots", help="Shots of Aer's fastest (deferred, bulk) circuit."
    ),
    fidelity: float = typer.Option(0.95, "--fidelity", help="Werner pair fidelity, in [0.25, 1]."),
    repeats: int = typer.Option(3, "--repeats", help="Timed runs per path (best is kept)."),
    threads: int = typer.Option(1, "--threads", help="Aer max_parallel_threads."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Teleportation speed: stim vs Qiskit Aer (dynamic circuit and fastest equivalent)."""
    from qtfl.quantum.benchmark import benchmark_teleport

    result = benchmark_teleport(
        bits=bits,
        aer_shots=aer_shots,
        aer_fast_shots=aer_fast_shots,
        fidelity=fidelity,
        repeats=repeats,
        threads=threads,
    )
    emit(result, as_json=as_json, title="qtfl bench teleport")


@bench_app.command("encodings")
def bench_encodings_command(
    fidelity: float = typer.Option(0.95, "--fidelity", help="Werner pair fidelity, in [0.25, 1]."),
    values: int = typer.Option(650, "--values", help="Values per update (650: digits logreg)."),
    shots: int = typer.Option(1024, "--shots", help="Copies per angle/amplitude readout."),
    repeats: int = typer.Option(5, "--repeats", help="Sends per encoding."),
    seed: int = typer.Option(0, "--seed", help="Seed of the update and the link noise."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Each teleport encoding and protection: measured error and cost per value."""
    from qtfl.channel.encoding_benchmark import compare_encodings

    result = compare_encodings(
        fidelity=fidelity, values=values, shots=shots, repeats=repeats, seed=seed
    )
    if as_json:
        emit(result, as_json=True)
        return
    from qtfl.present.encodings import encodings_table

    _out.print(encodings_table(result))


@bench_app.command("network")
def bench_network_command(
    mode: str = typer.Option(
        "timeline",
        "--mode",
        click_type=_choice(("timeline", "round")),
        help="timeline: events per second and makespan against K; round: one full round "
        "of a 1000-client run (train, teleport, timeline).",
    ),
    clients: int | None = typer.Option(
        None, "--clients", help="Clients (default 1,000,000 for timeline, 1,000 for round)."
    ),
    channels: int = typer.Option(8, "--channels", help="Server channels K (round mode)."),
    repeats: int = typer.Option(3, "--repeats", help="Timed runs per channel count or rounds."),
    workers: str = typer.Option(
        "1", "--workers", help="Uplink worker processes in round mode (a number or auto)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Round timeline speed and makespan against K, or the 1000-client round's seconds."""
    if mode == "round":
        from qtfl.experiments.network_benchmark import benchmark_network_round

        count: Any = "auto" if workers == "auto" else _int_list("--workers", workers)[0]
        result = benchmark_network_round(
            clients=1_000 if clients is None else clients,
            channels=channels,
            repeats=repeats,
            workers=count,
        )
        emit(result, as_json=as_json, title="qtfl bench network --mode round")
        return
    from qtfl.network.timeline_benchmark import benchmark_timeline

    emit(benchmark_timeline(clients=1_000_000 if clients is None else clients, repeats=repeats),
         as_json=as_json, title="qtfl bench network")  # fmt: skip


@bench_app.command("secagg")
def bench_secagg_command(
    clients: str = typer.Option(
        "100,300,1000",
        "--cohort-sizes",
        "--clients",
        metavar="N,N,...",
        help="Cohort sizes (clients per round), comma-separated.",
    ),
    dropout: float = typer.Option(0.3, "--dropout", help="Fraction of clients that drop."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Quantum-keyed secure aggregation: cost per round as the cohort grows."""
    from qtfl.fl.secagg_benchmark import benchmark_secagg

    sizes = _int_list("--cohort-sizes", clients)
    emit(benchmark_secagg(clients=sizes, dropout=dropout), as_json=as_json,
         title="qtfl bench secagg")  # fmt: skip


def _int_list(flag: str, text: str) -> list[int]:
    """``"1,2,3"`` -> ``[1, 2, 3]``; anything else is one clear error naming the flag."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{flag} takes comma-separated whole numbers, got {text[:80]!r}") from None


@bench_app.command("fec")
def bench_fec_command(
    blocks: int = typer.Option(256, "--blocks", help="Error patterns per point."),
    repeats: int = typer.Option(3, "--repeats", help="Interleaved timings per decoder."),
    threads: int = typer.Option(1, "--threads", help="Threads of the new decoder."),
    seed: int = typer.Option(0, "--seed", help="Seed of the error patterns."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """LDPC decoding: lane-batched min-sum vs the ldpc package on identical errors."""
    from qtfl.channel.fec_benchmark import benchmark_fec, fec_rows

    result = benchmark_fec(blocks=blocks, repeats=repeats, threads=threads, seed=seed)
    emit(result if as_json else fec_rows(result), as_json=as_json, title="qtfl bench fec")


attack_app = typer.Typer(
    help="Privacy attacks: what an observer of an update or model recovers (not eavesdroppers: "
    "those are qtfl security).",
    no_args_is_help=True,
)
app.add_typer(attack_app, name="privacy")

_IMAGE_MODELS = ("logreg", "mlp", "lenet", "convnet")


def _dp_settings(sigma: float | None, clip: float, placement: str) -> Any:
    from qtfl.fl.privacy import DPSettings

    if sigma is None:
        return None
    return DPSettings(clip_norm=clip, noise_multiplier=sigma, placement=placement)  # type: ignore[arg-type]


def _dp_placement_option() -> Any:
    return typer.Option(
        registry.DEFAULT_DP_PLACEMENT,
        "--dp-placement",
        click_type=_choice(registry.DP_PLACEMENTS),
        help="Where DP noise is added: server (central) or client (local).",
    )


@attack_app.command("invert")
def attack_invert_command(
    dataset: str = typer.Option(
        "digits", "--dataset", click_type=_choice(registry.IMAGE_DATASETS), help="Data set."
    ),
    model: str = typer.Option("mlp", "--model", click_type=_choice(_IMAGE_MODELS), help="Model."),
    channel: str = typer.Option(
        "plain",
        "--channel",
        click_type=_choice(("plain", "aead", "teleport")),
        help="Channel kind the update travels on.",
    ),
    attacker: str = typer.Option(
        "tap",
        "--observer",
        "--attacker",
        click_type=_choice(registry.OBSERVERS),
        help="Who attacks: the curious server, a wire tap, or an intercept-resend eavesdropper.",
    ),
    method: str = typer.Option(
        "analytic",
        "--method",
        click_type=_choice(registry.INVERSION_METHODS),
        help="Inversion attack.",
    ),
    batch: int = typer.Option(1, "--batch", help="Examples in the client's batch."),
    local_steps: int = typer.Option(1, "--local-steps", help="Local SGD steps (1: gradient)."),
    lr: float = typer.Option(0.1, "--lr", help="Client learning rate."),
    hidden: int = typer.Option(64, "--hidden", help="MLP hidden width."),
    dp_sigma: float | None = typer.Option(None, "--dp-sigma", help="DP noise multiplier."),
    dp_clip: float = typer.Option(1.0, "--dp-clip", help="DP clipping norm C."),
    dp_placement: str = _dp_placement_option(),
    masked_clients: int = typer.Option(
        0, "--masked-clients", help="Secure aggregation: mask among this many clients (0: off)."
    ),
    fidelity: float = typer.Option(0.95, "--fidelity", help="Werner fidelity (teleport)."),
    eve_fraction: float = _eavesdropper_fraction_option(
        registry.DEFAULT_EAVESDROPPER_FRACTION,
        "Pairs an intercept-resend observer measures, in [0, 1].",
    ),
    fec: str = typer.Option("none", "--fec", click_type=_FEC, help="Teleport FEC."),
    iterations: int | None = typer.Option(None, "--iterations", help="Attack iterations."),
    root: str | None = typer.Option(None, "--root", click_type=_DIR, help="Data set directory."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Reconstruct a client's images from what --observer sees on --channel (PSNR, SSIM...)."""
    from qtfl.attacks.assessment import invert_assessment

    result = invert_assessment(
        dataset=dataset,
        model=model,
        hidden=hidden,
        channel=channel,
        attacker=attacker,
        method=method,
        batch=batch,
        local_steps=local_steps,
        lr=lr,
        dp=_dp_settings(dp_sigma, dp_clip, dp_placement),
        secure_aggregation_clients=masked_clients,
        fidelity=fidelity,
        eve_fraction=eve_fraction,
        fec=fec,
        iterations=iterations,
        root=root,
        seed=seed,
    )
    emit(result, as_json=as_json, title="qtfl privacy invert")


@attack_app.command("membership")
def attack_membership_command(
    dataset: str = typer.Option(
        "digits", "--dataset", click_type=_choice(registry.IMAGE_DATASETS), help="Data set."
    ),
    model: str = typer.Option("mlp", "--model", click_type=_choice(_IMAGE_MODELS), help="Model."),
    target: str = typer.Option(
        "global",
        "--target",
        click_type=_choice(registry.MEMBERSHIP_TARGETS),
        help="Attack the global model or one client's update.",
    ),
    attack: str = typer.Option(
        "lira",
        "--method",
        "--attack",
        click_type=_choice(registry.MEMBERSHIP_ATTACKS),
        help="Membership-inference attack.",
    ),
    clients: int = typer.Option(10, "--clients", help="Number of clients."),
    train_examples: int = typer.Option(300, "--train-examples", help="Training examples used."),
    rounds: int = typer.Option(20, "--rounds", help="Federated rounds before the attack."),
    fraction: float = typer.Option(1.0, "--fraction", help="Clients sampled per round."),
    local_epochs: int = typer.Option(5, "--local-epochs"),
    hidden: int = typer.Option(64, "--hidden", help="MLP hidden width."),
    dp_sigma: float | None = typer.Option(None, "--dp-sigma", help="DP noise multiplier."),
    dp_clip: float = typer.Option(1.0, "--dp-clip", help="DP clipping norm C."),
    dp_placement: str = _dp_placement_option(),
    secure_aggregation: bool = typer.Option(False, "--secure-aggregation", help="Pairwise masks."),
    root: str | None = typer.Option(None, "--root", click_type=_DIR, help="Data set directory."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Membership inference on the global model or a client's update (AUC, TPR at 1% FPR)."""
    from qtfl.attacks.membership_run import membership_assessment

    result = membership_assessment(
        dataset=dataset,
        model=model,
        hidden=hidden,
        target=target,
        attack=attack,
        num_clients=clients,
        train_examples=train_examples,
        rounds=rounds,
        fraction=fraction,
        local_epochs=local_epochs,
        dp=_dp_settings(dp_sigma, dp_clip, dp_placement),
        secure_aggregation=secure_aggregation,
        root=root,
        seed=seed,
    )
    emit(result, as_json=as_json, title="qtfl privacy membership")


qdataset_app = typer.Typer(
    help="QDataSet: regenerate the quantum data sets of Perrier, Youssry & Ferrie (2022).",
    no_args_is_help=True,
)
app.add_typer(qdataset_app, name="qdataset")


@qdataset_app.command("generate")
def qdataset_generate_command(
    name: str = typer.Argument(
        ..., help="Data set name, e.g. G_1q_XZ_N1 or S_2q_IX-XI-XX_IZ-ZI_N1-N6_D."
    ),
    examples: int = typer.Option(1000, "--examples", help="Examples (pulse sequences), >= 1."),
    realisations: int = typer.Option(100, "--realisations", help="Noise realisations K, >= 1."),
    seed: int = typer.Option(0, "--seed", help="Seed of everything random."),
    out: str = typer.Option(..., "--out", click_type=_FILE, help="Output file (.npz)."),
    time_steps: int = typer.Option(1024, "--time-steps", help="Piecewise-constant steps M."),
    keep_noise: bool = typer.Option(False, "--keep-noise", help="Also store the noise (large)."),
    evolution: str = typer.Option(
        "faithful",
        "--evolution",
        click_type=_choice(registry.QDATASET_EVOLUTIONS),
        help="faithful (the published generator's stepwise interaction picture, first "
        "order) or exact (exact step propagators, second order).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Generate a QDataSet set (pulses, noise, Pauli expectations, V_O) into an .npz file."""
    from qtfl.data.qdataset_benchmark import generate_summary

    result = generate_summary(
        name,
        examples=examples,
        realisations=realisations,
        seed=seed,
        out=out,
        time_steps=time_steps,
        keep_noise=keep_noise,
        evolution=evolution,
    )
    emit(result, as_json=as_json, title="qtfl qdataset generate")


@qdataset_app.command("list")
def qdataset_list_command(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The 52 published QDataSet names with qubits, noise profile and pulse shape."""
    from qtfl.data.qdataset import published_sets

    sets = published_sets()
    if as_json:
        emit({"sets": sets}, as_json=True)
        return
    table = Table(title=f"QDataSet: {len(sets)} published sets")
    for column in ("name", "qubits", "controls", "noise", "profile", "pulse shape", "distorted"):
        table.add_column(column)
    for s in sets:
        table.add_row(
            s["name"],
            str(s["qubits"]),
            ",".join(s["controls"]),
            ",".join(s["noise_axes"]) or "-",
            s["noise_profile"],
            s["pulse_shape"],
            "yes" if s["distortion"] else "no",
        )
    _out.print(table)


data_app = typer.Typer(
    help="Data sets: list what is present here, fetch MNIST, Fashion-MNIST and CIFAR-10.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@data_app.command("fetch")
def data_fetch_command(
    name: str = typer.Argument(
        ..., click_type=_choice(registry.FETCHABLE_DATASETS), help="Data set to download."
    ),
    root: str | None = typer.Option(
        None,
        "--root",
        click_type=_DIR,
        help="Data directory (default: $QTFL_DATA, else the user cache).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Download a data set from its official source, verify its SHA-256, cache it."""
    from qtfl.data.sources import fetch_dataset
    from qtfl.present.units import human_bytes

    shown: dict[str, int] = {}

    def progress(file: str, done: int, total: int) -> None:
        step = 10 * done // max(1, total)
        if shown.get(file) != step:
            shown[file] = step
            _err.print(f"{file}: {human_bytes(done)} of {human_bytes(total)}", highlight=False)

    r = fetch_dataset(name, root=root, progress=progress)
    result = {
        "dataset": r.name,
        "directory": str(r.directory),
        "already_present": r.already_present,
        "downloaded_bytes": r.downloaded_bytes,
        "resumed_bytes": r.resumed_bytes,
    }
    if as_json:
        emit(result, as_json=True)
        return
    emit(
        {
            "dataset": r.name,
            "directory": str(r.directory),
            "status": "already present" if r.already_present else "fetched and verified",
            "downloaded": human_bytes(r.downloaded_bytes),
            "resumed from a partial file": human_bytes(r.resumed_bytes),
        },
        as_json=False,
        title="qtfl data fetch",
    )


@data_app.command("list")
def data_list_command(
    root: str | None = typer.Option(
        None,
        "--root",
        click_type=_DIR,
        help="Data directory (default: $QTFL_DATA, else the user cache).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Every data set, whether it is present here, and the command that fetches it."""
    from qtfl.data.registry import dataset_status
    from qtfl.data.sources import data_root

    rows = dataset_status(root=root)
    if as_json:
        emit(
            {
                "root": str(data_root(root)),
                "datasets": [
                    {
                        "name": r.name,
                        "present": r.present,
                        "location": r.location,
                        "fetch_command": r.fetch_command,
                    }
                    for r in rows
                ],
            },
            as_json=True,
        )
        return
    table = Table(title=f"data sets (cache {data_root(root)})")
    for column in ("data set", "present", "where", "fetch with"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.name, "yes" if r.present else "no", r.location or "-", r.fetch_command or "-"
        )
    _out.print(table)


@bench_app.command("qdataset")
def bench_qdataset_command(
    examples_1q: int = typer.Option(200, "--examples-1q", help="Examples of G_1q_XZ_N1."),
    examples_2q: int = typer.Option(8, "--examples-2q", help="Examples of the two-qubit set."),
    realisations: int = typer.Option(100, "--realisations", help="Noise realisations K."),
    repeats: int = typer.Option(2, "--repeats", help="Timed runs per set (best kept)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """QDataSet generation speed: examples per second, one-qubit and two-qubit sets."""
    from qtfl.data.qdataset_benchmark import benchmark_qdataset

    result = benchmark_qdataset(
        examples_1q=examples_1q,
        examples_2q=examples_2q,
        realisations=realisations,
        repeats=repeats,
    )
    emit(result, as_json=as_json, title="qtfl bench qdataset")


reproduce_app = typer.Typer(help="Reproduce a published evaluation.", no_args_is_help=True)
app.add_typer(reproduce_app, name="reproduce")


@reproduce_app.command("paper")
def reproduce_paper_command(
    out: str = typer.Option(..., "--out", click_type=_DIR, help="Output directory (new or empty)."),
    quick: bool = typer.Option(False, "--quick", help="Digits only, fewer rounds and seeds."),
    resume: bool = typer.Option(False, "--resume", help="Continue a reproduction in --out."),
    dataset: list[str] | None = typer.Option(  # noqa: B008 (typer reads the default)
        None, "--dataset", help="Only these data sets (repeatable; default: all)."
    ),
    preset: str = typer.Option("shen2023", "--preset", help="Link preset with a published rate."),
    configs: str | None = typer.Option(
        None, "--configs", click_type=_DIR, help="Folder of the paper configs."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Khan 2024 Section 5: every data set x channel over seeds, report in --out/report.html."""
    from qtfl.experiments.reproduce import reproduce_paper
    from qtfl.experiments.runner import RichProgress

    kwargs = dict(out_dir=out, quick=quick, resume=resume, datasets=dataset or None,
                  preset=preset, config_dir=configs)  # fmt: skip
    if as_json:
        emit(reproduce_paper(**kwargs), as_json=True)  # type: ignore[arg-type]
        return
    with RichProgress() as bar:
        result = reproduce_paper(**kwargs, progress=bar)  # type: ignore[arg-type]
    emit({"report": result["report"], "skipped": ", ".join(result["skipped"]) or "none"},
         as_json=False, title="qtfl reproduce paper")  # fmt: skip


flower_app = typer.Typer(
    help="Flower across hosts: prepare a federation, run its SuperLink and its SuperNodes.",
    no_args_is_help=True,
)
app.add_typer(flower_app, name="flower")


@flower_app.command("prepare")
def flower_prepare_command(
    config: str = typer.Argument(
        ...,
        metavar="CONFIG",
        click_type=_FILE,
        help="Experiment file (YAML) or a shipped one's name.",
    ),
    directory: str = typer.Option(
        ..., "--dir", click_type=_DIR, help="Federation directory to create (new or empty)."
    ),
    address: str = typer.Option(
        ...,
        "--address",
        metavar="HOST:PORT",
        help="Where SuperNodes reach the SuperLink (named in its certificate).",
    ),
    supernodes: int = typer.Option(2, "--supernodes", help="Client hosts, one SuperNode each."),
    bind: str | None = typer.Option(
        None, "--bind", help="Address the SuperLink binds (default: HOST)."
    ),
    tls_dir: str | None = typer.Option(
        None,
        "--tls-dir",
        click_type=_DIR,
        help="Your ca.pem, server.pem, server.key (default: a new CA).",
    ),
    overrides: list[str] = typer.Option(  # noqa: B008
        [],
        "--set",
        metavar="KEY.PATH=VALUE",
        help="Override one config value, as for qtfl run.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Server host: TLS files, node keys and per-node secrets for one run, per host."""
    from qtfl.experiments.config import load_config
    from qtfl.experiments.examples import resolve_config
    from qtfl.extras import require_extra

    require_extra("flower", purpose="qtfl flower")
    from qtfl.flower.hosts import describe_federation, prepare_federation

    cfg = load_config(resolve_config(config), overrides=overrides)
    fed = prepare_federation(cfg, directory, address=address, num_supernodes=supernodes,
                             bind=bind, tls_dir=tls_dir)  # fmt: skip
    emit(describe_federation(fed), as_json=as_json, title="qtfl flower prepare")


@flower_app.command("superlink")
def flower_superlink_command(
    directory: str = typer.Argument(
        ..., metavar="DIR", click_type=_DIR, help="The federation directory (qtfl flower prepare)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Server host: run the SuperLink (TLS, node keys registered) until Ctrl-C/SIGTERM."""
    from qtfl.extras import require_extra

    require_extra("flower", purpose="qtfl flower")
    from qtfl.flower.hosts import describe_federation, serve_superlink

    def ready(fed: Any) -> None:
        emit(describe_federation(fed), as_json=as_json, title="SuperLink running (Ctrl-C stops)")
        sys.stdout.flush()

    serve_superlink(directory, on_ready=ready)


@flower_app.command("supernode")
def flower_supernode_command(
    directory: str = typer.Argument(
        ...,
        metavar="NODE_DIR",
        click_type=_DIR,
        help="The node-<i> directory copied from the server host.",
    ),
    superlink: str | None = typer.Option(
        None,
        "--superlink",
        metavar="HOST:PORT",
        help="Dial this address instead of the prepared one.",
    ),
    bind: str = typer.Option("127.0.0.1", "--bind", help="Address of the node's local API."),
    port: int | None = typer.Option(None, "--port", help="Port of that API (default: a free one)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Client host: run one SuperNode from its copied directory until Ctrl-C/SIGTERM."""
    from qtfl.extras import require_extra

    require_extra("flower", purpose="qtfl flower")
    from qtfl.flower.hosts import serve_supernode

    def ready(info: Mapping[str, Any]) -> None:
        emit(info, as_json=as_json, title="SuperNode running (Ctrl-C stops)")
        sys.stdout.flush()

    serve_supernode(directory, superlink=superlink, bind=bind, port=port, on_ready=ready)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app; user mistakes exit 2 with one clear message."""
    try:
        status = app(args=argv, standalone_mode=False)
    except RunInterrupted:
        _err.print(INTERRUPTED_HINT, highlight=False)
        sys.exit(130)
    except QtflError as exc:
        _err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, EOFError):  # click turns EOFError into Abort
            _err.print("error: unexpected end of input", highlight=False)
            sys.exit(2)
        _err.print(INTERRUPTED_HINT)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OSError as exc:  # a file or directory the user named cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        _err.print(f"error: {where}{exc.strerror or exc}", highlight=False, markup=False)
        sys.exit(2)
    except MemoryError:
        _err.print("error: out of memory; reduce the sizes asked for", highlight=False)
        sys.exit(2)
    if isinstance(status, int) and not isinstance(status, bool) and status:
        if status == 130:  # typer's answer to Ctrl-C outside a run
            _err.print("aborted")
        sys.exit(status)


if __name__ == "__main__":
    main()
