"""Scenario configuration: channel kinds, links, eavesdroppers; every mistake refused
before training with one message naming the option and what is allowed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from qtfl.channel import AeadChannel, PlainChannel
from qtfl.channel.qkd import QkdOtpChannel
from qtfl.channel.teleportation import TeleportationChannel
from qtfl.errors import InputError
from qtfl.experiments.channels import scenario_channel_seed
from qtfl.experiments.config import load_config, parse_config
from qtfl.security.eavesdropper import InterceptResend, NoEavesdropper
from qtfl.security.run_secret import RunSecret
from tests.experiments.test_runner import run_cli

REPO = Path(__file__).resolve().parents[2]
TELEPORT = {"kind": "teleport", "link": {"fidelity": 0.97}, "fec": "auto"}


def test_each_kind_builds_its_channel_with_its_options() -> None:
    cfg = parse_config(
        {
            "data": {"num_clients": 3},
            "scenarios": [
                {"name": "a", "uplink": {"kind": "aead", "latency_s": 0.1}},
                {
                    "name": "t",
                    "uplink": {**TELEPORT, "check_fraction": 0.2, "purify_to": 0.99, "bits": 8},
                    "eavesdroppers": [{"clients": [2], "attack": "intercept-resend"}],
                },
                {
                    "name": "q",
                    "uplink": {
                        "kind": "qkd-otp",
                        "link": {"preset": "shen2023"},
                        "purify_to": 0.99,
                    },
                },
            ],
        }
    )
    a, t, q = cfg.resolved_scenarios()
    up, down = a.build_channels(3)
    assert all(isinstance(c, AeadChannel) for c in up)
    assert all(isinstance(c, PlainChannel) for c in down)
    up, _ = t.build_channels(3)
    assert all(isinstance(c, TeleportationChannel) for c in up)
    assert [type(c.eavesdropper) for c in up] == [NoEavesdropper, NoEavesdropper, InterceptResend]
    assert up[0].protocol.verification.check_fraction == 0.2 and up[0].encoding.bits == 8
    assert up[0].link.pair.fidelity >= 0.99 and up[0].codec is not None
    assert t.eavesdropped_clients() == [2] and t.rate_known is False
    up, _ = q.build_channels(3)
    assert isinstance(up[0], QkdOtpChannel) and q.rate_known is True  # shen2023 publishes 7.1 Hz


def test_aead_keys_differ_per_client_and_follow_the_run_secret_not_the_seed() -> None:
    # Prepare: an AEAD scenario, two run secrets
    [sc] = parse_config({"channel": {"kind": "aead"}}).resolved_scenarios()
    msg = np.ones(4, np.float32)
    secrets = [RunSecret(bytes([1]) * 32), RunSecret(bytes([2]) * 32)]

    def wire(client: int, which: int, seed: int = 0) -> bytes:
        up, _ = sc.build_channels(2, secrets=secrets[which])
        return up[client].send(msg, rng=np.random.default_rng(seed)).tap.observed.tobytes()

    # Execute/Assert: same secret and noise stream -> same wire; another client or another
    # secret -> another key and nonce; the seed alone does not fix the bytes
    assert wire(0, 0) == wire(0, 0)
    assert wire(0, 0) != wire(1, 0) and wire(0, 0) != wire(0, 1)
    assert wire(0, 0)[:12] != wire(0, 1)[:12]  # the nonce comes from the secret too


def test_channel_seeds_differ_by_scenario_and_are_stable() -> None:
    assert scenario_channel_seed(0, "a") == scenario_channel_seed(0, "a")
    assert len({scenario_channel_seed(s, n) for s in (0, 1) for n in ("a", "b")}) == 4


def test_paper_config_is_valid() -> None:
    cfg = load_config(REPO / "configs" / "paper.yaml")
    names = [s.name for s in cfg.resolved_scenarios()]
    assert cfg.data.name == "fashion-mnist" and "classical" in names
    fids = {s.uplink.link.fidelity for s in cfg.resolved_scenarios() if s.uplink.kind == "teleport"}
    assert {0.99, 0.95, 0.90} <= fids
    fractions = {e.fraction for s in cfg.resolved_scenarios() for e in s.eavesdroppers}
    assert fractions == {0.01, 0.1, 1.0}
    assert any(s.uplink.kind == "teleport" and s.uplink.purify_to for s in cfg.resolved_scenarios())


@pytest.mark.parametrize(
    "scenarios,message",
    [
        (
            [{"name": "x"}, {"name": "x", "uplink": TELEPORT}],
            "scenarios: scenario names must be unique, 'x' repeats",
        ),
        (
            [
                {
                    "name": "x",
                    "uplink": TELEPORT,
                    "eavesdroppers": [{"clients": [0, 4], "attack": "intercept-resend"}],
                }
            ],
            "scenarios.0.eavesdroppers: client 4 does not exist; clients are 0..3",
        ),
        (
            [{"name": "x", "eavesdroppers": [{"clients": [0], "attack": "mitm"}]}],
            "eavesdroppers attack the uplink's Bell pairs, but scenario 'x' has a 'plain' uplink",
        ),
        (
            [{"name": "x", "uplink": {"kind": "plain", "fec": "auto"}}],
            "scenarios.0.uplink: option 'fec' does not apply to channel kind 'plain'; "
            "allowed options: kind, latency_s, bandwidth_bps",
        ),
        (
            [{"name": "x", "uplink": {"kind": "aead", "link": {"fidelity": 0.9}}}],
            "option 'link' does not apply to channel kind 'aead'",
        ),
        (
            [
                {
                    "name": "x",
                    "uplink": {"kind": "qkd-otp", "link": {"fidelity": 0.9}, "check_fraction": 0.1},
                }
            ],
            "option 'check_fraction' does not apply to channel kind 'qkd-otp'",
        ),
        (
            [{"name": "x", "uplink": {**TELEPORT, "fec": "turbo"}}],
            "unknown fec 'turbo'; allowed: none, auto, ldpc-1/4",
        ),
        (
            [{"name": "x", "uplink": {"kind": "teleport", "link": {"preset": "nowhere"}}}],
            "unknown preset 'nowhere'; allowed: valivarthi2020",
        ),
        (
            [{"name": "x", "uplink": {"kind": "teleport", "link": {"preset": "thomas2024"}}}],
            "preset 'thomas2024' publishes no teleportation fidelity",
        ),
        (
            [{"name": "x", "uplink": {"kind": "qkd-otp", "link": {"preset": "shen2023"}}}],
            "qkd-otp: this reconciliation yields no key at the link's QBER 0.0940",
        ),
    ],
)
def test_bad_scenarios_exit_2_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scenarios: list, message: str
) -> None:
    raw = {"data": {"name": "digits", "num_clients": 4}, "scenarios": scenarios}
    with pytest.raises(InputError) as info:
        parse_config(raw)
    assert message in str(info.value)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    assert run_cli(["run", str(cfg), "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err
    assert not out.exists()
