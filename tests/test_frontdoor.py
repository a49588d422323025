"""The front door: version, help, ``--set`` overrides, shipped configs, and the small trip-ups
(a typo inside ``link:``, null link times in metrics.jsonl, one run per ``qtfl teleport``
result, an eavesdropper option that does not apply)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import typer

import qtfl
from qtfl import registry
from qtfl.cli import app, main
from qtfl.errors import InputError
from qtfl.experiments.config import apply_overrides, load_config, parse_config
from qtfl.experiments.examples import example_configs, resolve_config
from qtfl.experiments.metrics import metrics_jsonl, read_metrics
from qtfl.fl.engine import RoundMetrics


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    return int(stop.value.code or 0)


def test_version_and_short_help(capsys: pytest.CaptureFixture[str]) -> None:
    main(["-V"])
    assert capsys.readouterr().out.strip() == f"qtfl {qtfl.__version__}"
    main(["-h"])  # help in non-standalone mode returns
    text = capsys.readouterr().out
    assert "privacy" in text and "security" in text and "--version" in text
    main(["run", "-h"])
    text = capsys.readouterr().out
    assert "--set" in text and "KEY.PATH=VALUE" in text and "--engine" in text


# options whose value is free text by nature (names of a file's scenarios or of QDataSet sets,
# number lists, key=value overrides, "N or auto")
_FREE_TEXT = {"overrides", "checks", "fractions", "name", "bench secagg clients", "workers",
              "bench channel scenario", "bench channel baseline",
              # checked by the library against its own subset (names the allowed ones)
              "reproduce paper dataset", "reproduce paper preset",
              # network addresses (HOST:PORT, HOST), checked by the library
              "flower prepare address", "flower prepare bind", "flower supernode superlink",
              "flower supernode bind"}  # fmt: skip


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{prefix}{name} ")
        else:
            out.append((prefix + name, cmd))
    return out


def test_no_choice_or_path_is_plain_text() -> None:
    # Prepare: every command of the CLI, as click sees it
    commands = _commands(typer.main.get_command(app))  # type: ignore[arg-type]
    assert len(commands) >= 15
    # Execute: the parameters typed as bare strings (help would show TEXT)
    text = [
        f"{name} {p.name}"
        for name, cmd in commands
        for p in cmd.params
        if p.type is click.STRING and not {p.name, f"{name} {p.name}"} & _FREE_TEXT
    ]
    # Assert
    assert text == []
    teleport = dict(commands)["teleport"]
    eve = next(p for p in teleport.params if p.name == "eve")
    assert isinstance(eve.type, click.Choice)
    assert tuple(eve.type.choices) == registry.EAVESDROPPERS
    # shell completion offers the registry names
    completions = eve.type.shell_complete(click.Context(teleport), eve, "inter")
    assert [c.value for c in completions] == ["intercept-resend"]


def test_set_overrides_are_typed_and_validated() -> None:
    sets = ["training.rounds=2", "training.lr=0.05", "data.name=digits",
            "evaluation.target_accuracy=null", "channel={kind: aead}"]  # fmt: skip
    raw = apply_overrides({}, sets)
    assert raw == {
        "training": {"rounds": 2, "lr": 0.05},
        "data": {"name": "digits"},
        "evaluation": {"target_accuracy": None},
        "channel": {"kind": "aead"},
    }
    cfg = load_config("configs/quickstart.yaml", overrides=["training.rounds=1"])
    assert cfg.training.rounds == 1


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("trainin.rounds=3", "unknown key 'trainin'; allowed keys at the top level: seed, "),
        ("training.round=3", "unknown key 'training.round'; allowed keys at training: rounds"),
        ("training.rounds", "expected key.path=value"),
        ("scenarios.99.name=x", "scenarios is a list of"),
    ],
)
def test_set_refuses_an_unknown_key_path_with_one_message(override: str, words: str) -> None:
    with pytest.raises(InputError, match=words.replace(".", r"\.").replace("?", r"\?")):
        load_config("configs/quickstart.yaml", overrides=[override])


def test_set_value_is_checked_by_the_config_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _exit_code(["run", "quickstart", "--out", str(tmp_path / "o"),
                       "--set", "training.rounds=many"])  # fmt: skip
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "training.rounds" in err and "'many'" in err and "Traceback" not in err


def test_shipped_configs_are_listed_and_runnable_by_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = [e.name for e in example_configs()]
    assert "quickstart" in names
    assert resolve_config("quickstart").name == "quickstart.yaml"
    main(["configs", "--json"])
    listed = json.loads(capsys.readouterr().out)["configs"]
    assert set(listed) == set(names)
    with pytest.raises(InputError, match=r"shipped: .*quickstart"):
        resolve_config("no-such-config")


def test_typo_inside_link_lists_the_link_keys() -> None:
    # Prepare: a teleport uplink whose link has a misspelt key
    uplink = {"kind": "teleport", "link": {"fidelity": 0.95, "fidelty": 1}}
    raw = {"scenarios": [{"name": "t", "uplink": uplink}]}
    # Execute
    with pytest.raises(InputError) as err:
        parse_config(raw)
    # Assert: the allowed keys are the link's, not the plain channel's
    message = str(err.value)
    assert "unknown key 'scenarios.0.uplink.teleport.link.fidelty'" in message
    assert "allowed keys there: preset, fidelity, pair_rate_hz" in message
    assert "bandwidth_bps" not in message


def test_eavesdropper_option_that_does_not_apply_is_refused() -> None:
    base = {"data": {"num_clients": 2}, "scenarios": [{"name": "t", "uplink": {
        "kind": "teleport", "link": {"fidelity": 0.99}}}]}  # fmt: skip
    mitm = {"clients": [0], "kind": "mitm", "basis": "z"}
    with pytest.raises(InputError, match="basis applies to intercept-resend only"):
        parse_config({**base, "scenarios": [{**base["scenarios"][0], "eavesdroppers": [mitm]}]})
    old_key = {"clients": [0], "attack": "intercept-resend", "basis": "x"}  # former key name
    scenario = {**base["scenarios"][0], "eavesdroppers": [old_key]}
    cfg = parse_config({**base, "scenarios": [scenario]})
    assert cfg.resolved_scenarios()[0].eavesdroppers[0].kind == "intercept-resend"


def test_metrics_jsonl_writes_null_for_unknown_link_time_like_summary() -> None:
    record = RoundMetrics(round=1, accuracy=0.5, loss=1.0, sampled=2, dropped=0, answered=2,
                          aborted=0, detected=0, aggregated=2, uplink={"link_seconds": 0.0},
                          link_seconds=0.0, link_seconds_total=0.0)  # fmt: skip
    line = json.loads(metrics_jsonl({"s": [record]}, rate_known={"s": False}))
    assert line["link_seconds"] is None and line["link_seconds_total"] is None
    assert line["figures"]["link_seconds"] is None and line["uplink"]["link_seconds"] is None
    known = json.loads(metrics_jsonl({"s": [record]}, rate_known={"s": True}))
    assert known["link_seconds"] == 0.0
    back = read_metrics(metrics_jsonl({"s": [record]}, rate_known={"s": False}))
    assert back["s"][0] == record  # the record round-trips for --resume and the report


def test_teleport_json_with_an_eavesdropper_reports_one_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Prepare: a perfect link, so any payload error is the eavesdropper's; few checks, a
    # permissive test, so the attacked payload is (most likely) sent
    argv = ["teleport", "--payload-bits", "20000", "--fidelity", "1.0", "--seed", "2",
            "--eavesdropper", "intercept-resend", "--eavesdropper-fraction", "0.02",
            "--eavesdropper-basis", "x", "--check-fraction", "0.001", "--alpha", "1e-9",
            "--json"]  # fmt: skip
    # Execute
    main(argv)
    out = json.loads(capsys.readouterr().out)
    # Assert: bit error rate, pairs and verdict all belong to the attacked, verified run
    assert out["eavesdropper"] == "intercept-resend" and out["eavesdropper_basis"] == "x"
    assert out["payload_sent"] is True
    assert out["bit_error_rate"] == out["payload_bit_errors"] / 20_000
    assert out["bit_error_rate"] > 0  # X-basis measurements flip Z payload bits; F = 1 cannot
    assert out["bell_pairs"] == out["protocol_bell_pairs"] > 20_000  # checks included


def test_missing_extra_names_the_pip_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Prepare: pretend Flower is not installed
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "flwr" else real(name, *a)
    )
    # Execute
    code = _exit_code(["run", "quickstart", "--out", str(tmp_path / "o"),
                       "--engine", "flower-sim"])  # fmt: skip
    # Assert: one line (rich must not eat the [flower] brackets), exit 2, no traceback
    err = capsys.readouterr().err
    assert code == 2
    assert "flwr is not installed" in err and "pip install 'qtfl[flower]'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", ["teleport", "qkd-otp"])
def test_sign_compression_spends_one_qubit_per_value(kind: str) -> None:
    # Prepare: a perfect link, sign compression, no error feedback memory to consider
    import numpy as np

    from qtfl.fl.compression import sign_compress

    uplink = {"kind": kind, "link": {"fidelity": 1.0}, "bits": 16}
    cfg = parse_config({"data": {"num_clients": 1}, "scenarios": [
        {"name": "s", "uplink": uplink, "compression": {"kind": "sign"}}]})  # fmt: skip
    # 4,000 values: BBM92 blocks under ~2,000 key bits end key-too-short (finite-key terms)
    update = np.random.default_rng(0).normal(0, 0.1, 4000).astype(np.float32)
    up, _ = cfg.resolved_scenarios()[0].build_channels(1)
    # Execute
    delivery = up[0].send(update, rng=np.random.default_rng(1))
    # Assert: 4,000 payload bits, not 64,000; the server gets the signSGD vector exactly
    assert delivery.ledger.payload_bits == 4000
    assert delivery.received is not None
    np.testing.assert_array_equal(delivery.received, sign_compress(update))
