"""Configuration: defaults, scenarios, and one clear error per kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from qtfl.errors import InputError
from qtfl.experiments.config import (
    ExperimentConfig,
    PlainChannelConfig,
    load_config,
    parse_config,
)

REPO = Path(__file__).resolve().parents[2]


def test_quickstart_parses() -> None:
    cfg = load_config(REPO / "configs" / "quickstart.yaml")
    assert cfg.data.name == "digits" and cfg.data.num_clients == 10
    assert cfg.channel == PlainChannelConfig()
    scenarios = cfg.resolved_scenarios()
    assert scenarios[0].name == "classical" and scenarios[0].uplink == cfg.channel
    assert [s.uplink.kind for s in scenarios] == ["plain", "pqc", "teleport", "teleport",
                                                  "teleport", "qkd-otp"]  # fmt: skip
    assert all(s.downlink == cfg.channel for s in scenarios)


def test_empty_file_is_refused_not_the_default_job(tmp_path: Path) -> None:
    # an empty file used to run the whole default 30-round job silently
    p = tmp_path / "c.yaml"
    p.write_text("")
    with pytest.raises(InputError, match="is empty"):
        load_config(p)
    p.write_text("seed: 0\n")  # one key is enough; the rest are the documented defaults
    assert load_config(p) == ExperimentConfig()


def test_scenarios_inherit_channels() -> None:
    cfg = parse_config(
        {
            "channel": {"kind": "plain", "latency_s": 0.5},
            "scenarios": [
                {"name": "a"},
                {"name": "b", "channel": {"latency_s": 1.0}},
                {"name": "c", "uplink": {"bandwidth_bps": 1e6}},
            ],
        }
    )
    a, b, c = cfg.resolved_scenarios()
    assert a.uplink.latency_s == a.downlink.latency_s == 0.5
    assert b.uplink.latency_s == b.downlink.latency_s == 1.0
    assert c.uplink.bandwidth_bps == 1e6 and c.downlink.latency_s == 0.5


def test_config_hash_tracks_values() -> None:
    a = parse_config({})
    assert a.config_hash() == parse_config({"seed": 0}).config_hash()
    assert a.config_hash() != parse_config({"seed": 1}).config_hash()


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"trainig": {}}, "unknown key 'trainig'; allowed keys there: seed, seeds, data"),
        (
            {"training": {"round": 3}},
            "unknown key 'training.round'; allowed keys there: rounds, fraction",
        ),
        (
            {"scenarios": [{"name": "x", "chanel": {}}]},
            "unknown key 'scenarios.0.chanel'; allowed keys there: name, channel, uplink",
        ),
        ({"data": {"name": "imagenet"}}, "data.name: unknown data set 'imagenet'; allowed: digits"),
        ({"model": {"name": "resnet"}}, "model.name: unknown model 'resnet'; allowed: logreg, mlp"),
        ({"strategy": {"name": "fedsgd"}}, "unknown strategy 'fedsgd'; allowed: fedavg, fedprox"),
        (
            {"strategy": {"name": "krum", "params": {"beta": 1}}},
            "unknown parameter 'beta' for strategy 'krum'; allowed: f, m",
        ),
        ({"training": {"rounds": 0}}, "training.rounds: Input should be greater than 0, got 0"),
        ({"data": {"num_clients": -1}}, "data.num_clients: Input should be greater than 0"),
        ({"training": {"fraction": 0}}, "training.fraction: Input should be greater than 0"),
        (
            {"training": {"fraction": 1.5}},
            "training.fraction: Input should be less than or equal to 1",
        ),
        ({"data": {"alpha": 0}}, "data.alpha: Input should be greater than 0, got 0"),
        (
            {"training": {"optimizer": "rmsprop"}},
            "training.optimizer: Input should be 'sgd' or 'adam'",
        ),
        (
            {"channel": {"kind": "carrier-pigeon"}},
            "channel.kind: unknown channel kind 'carrier-pigeon'; "
            "allowed: plain, aead, pqc, teleport",
        ),
        ({"scenarios": [{"name": "a"}, {"name": "a"}]}, "scenario names must be unique, 'a'"),
    ],
)
def test_mistakes_raise_one_clear_input_error(raw: dict, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_config(raw)
    assert message in str(info.value)
    assert str(info.value).startswith("invalid configuration: ")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(InputError, match="is not valid YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(InputError, match="must be a mapping of sections, got int"):
        load_config(scalar)


def _qkd(**extra: object) -> ExperimentConfig:
    uplink = {"kind": "qkd-otp", "link": {"fidelity": 0.97}, **extra}
    return parse_config({"scenarios": [{"name": "q", "uplink": uplink}]})


def test_qkd_security_parameters_reach_the_channel_and_the_hash() -> None:
    # the three eps_* keys are QkdSettings' names; at their defaults they leave the canonical
    # form (and so the hash) of files written before them unchanged
    default = _qkd()
    assert default.config_hash() == _qkd(eps_sec=1e-10, eps_cor=1e-15, eps_rob=1e-10).config_hash()
    assert "eps_" not in default.scenarios[0].uplink.model_dump_json()  # config_hash's form
    assert '"eps_sec":1e-6' in _qkd(eps_sec=1e-6).scenarios[0].uplink.model_dump_json()
    settings = _qkd(eps_sec=1e-6, eps_cor=1e-12, eps_rob=1e-4).resolved_scenarios()[0]
    channel = settings.uplink.build()
    assert (channel.settings.eps_sec, channel.settings.eps_cor, channel.settings.eps_rob) == (
        1e-6,
        1e-12,
        1e-4,
    )
    assert _qkd(eps_sec=1e-6).config_hash() != default.config_hash()
    # a looser secrecy parameter buys key: fewer pairs for the same update
    assert channel.pairs_for_key(1000) < default.resolved_scenarios()[
        0
    ].uplink.build().pairs_for_key(1000)


@pytest.mark.parametrize("key", ["eps_sec", "eps_cor", "eps_rob"])
@pytest.mark.parametrize(("value", "words"), [(0, "greater than 0"), (1, "less than 1")])
def test_qkd_security_parameters_outside_zero_one_are_refused(
    key: str, value: float, words: str
) -> None:
    with pytest.raises(InputError) as info:
        _qkd(**{key: value})
    assert f"scenarios.0.uplink.{key}: Input should be {words}" in str(info.value)
