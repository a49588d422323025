"""One registry of names: every entry point accepts the same names (config, ``qtfl run --set``,
``qtfl privacy invert``, the Flower engine's check) and the implementations match it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qtfl import registry
from qtfl.attacks.assessment import CHANNELS as INVERSION_CHANNELS
from qtfl.attacks.inversion import METHODS
from qtfl.attacks.membership import ATTACKS
from qtfl.attacks.poisoning import POISONING_ATTACKS
from qtfl.channel.fec import FEC_CHOICES
from qtfl.cli import main
from qtfl.data import DATASETS
from qtfl.data._qdataset_evolution import EVOLUTION_MODES
from qtfl.data.sources import FETCHABLE
from qtfl.errors import InputError
from qtfl.experiments.channels import CHANNEL_MODELS
from qtfl.experiments.config import parse_config
from qtfl.fl.strategies import STRATEGIES
from qtfl.models import MODELS
from qtfl.network.presets import PRESETS
from qtfl.security.eavesdropper import EVE_KINDS

# a link every quantum kind can use: fidelity 0.99 (QBER 0.67%, a BBM92 key exists)
_SECTIONS = {
    "plain": {"kind": "plain"},
    "aead": {"kind": "aead"},
    "pqc": {"kind": "pqc"},
    "teleport": {"kind": "teleport", "link": {"fidelity": 0.99}, "bits": 8},
    "qkd-otp": {"kind": "qkd-otp", "link": {"fidelity": 0.99}, "bits": 8},
}
_TINY = {
    "seed": 0,
    "data": {"name": "digits", "num_clients": 2},
    "model": {"name": "mlp", "hidden": 4},
    "training": {"rounds": 1, "local_epochs": 1, "batch_size": 32},
    "evaluation": {"every": 1},
}


def test_implementations_offer_exactly_the_registry_names() -> None:
    assert tuple(STRATEGIES) == registry.STRATEGIES
    assert MODELS == registry.MODELS
    assert DATASETS == registry.DATASETS
    assert EVE_KINDS == registry.EAVESDROPPERS
    assert METHODS == registry.INVERSION_METHODS
    assert ATTACKS == registry.MEMBERSHIP_ATTACKS
    assert tuple(CHANNEL_MODELS) == registry.CHANNEL_KINDS
    assert set(INVERSION_CHANNELS) <= set(registry.CHANNEL_KINDS)
    assert set(_SECTIONS) == set(registry.CHANNEL_KINDS)
    assert FEC_CHOICES == registry.FEC_CHOICES
    assert POISONING_ATTACKS == registry.POISONING_ATTACKS
    assert FETCHABLE == registry.FETCHABLE_DATASETS
    assert EVOLUTION_MODES == registry.QDATASET_EVOLUTIONS
    assert registry.PRIVACY_ATTACKS["inversion"] == METHODS
    assert tuple(PRESETS) == registry.LINK_PRESETS


@pytest.mark.parametrize("kind", registry.CHANNEL_KINDS)
def test_config_builds_a_channel_named_like_its_kind(kind: str) -> None:
    cfg = parse_config({**_TINY, "channel": _SECTIONS[kind]})
    channel = cfg.resolved_scenarios()[0].uplink.build(0)
    assert channel.name == kind


def test_deprecated_channel_alias_is_read_as_the_canonical_name() -> None:
    cfg = parse_config({**_TINY, "channel": {**_SECTIONS["teleport"], "kind": "teleportation"}})
    assert cfg.channel.kind == "teleport"
    assert registry.canonical_channel("teleportation") == "teleport"
    with pytest.raises(InputError, match="allowed: plain, aead, pqc, teleport, qkd-otp"):
        registry.canonical_channel("quantum")


@pytest.mark.integration
@pytest.mark.parametrize("kind", registry.CHANNEL_KINDS)
def test_qtfl_run_set_accepts_every_channel_kind(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: a tiny experiment file; the channel comes from --set as one YAML flow mapping
    config = tmp_path / "tiny.json"  # JSON is YAML
    config.write_text(json.dumps(_TINY))
    section = json.dumps(_SECTIONS[kind])
    # Execute
    main(["run", str(config), "--out", str(tmp_path / "out"), "--json",
          "--set", f"channel={section}", "--set", "seed=3"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    # Assert: the run used that channel kind and the overridden seed
    written = json.loads((tmp_path / "out" / "config.json").read_text())
    assert written["channel"]["kind"] == kind and written["seed"] == 3
    assert out["scenarios"]["default"]["rounds"] == 1


@pytest.mark.parametrize("kind", INVERSION_CHANNELS)
def test_privacy_invert_accepts_the_registry_channel_names(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["privacy", "invert", "--channel", kind, "--observer", "server", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["channel"] == kind


def test_privacy_invert_refuses_a_kind_it_cannot_build_listing_the_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["privacy", "invert", "--channel", "qkd-otp", "--json"])
    assert stop.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "'qkd-otp' is not one of 'plain', 'aead', 'teleport'" in err


@pytest.mark.parametrize("kind", registry.CHANNEL_KINDS)
def test_flower_check_speaks_registry_names(kind: str) -> None:
    pytest.importorskip("flwr")
    from qtfl.flower.ends import SPLIT_KINDS, uplink_ends

    channel = parse_config({**_TINY, "channel": _SECTIONS[kind]}).channel.build(0)
    supported = {k.split()[0] for k in SPLIT_KINDS}
    assert supported <= set(registry.CHANNEL_KINDS)
    if kind in supported:
        assert uplink_ends(channel) is not None
    else:
        with pytest.raises(InputError) as err:
            uplink_ends(channel)
        assert f"uplink channel {kind!r} cannot run on Flower" in str(err.value)
        assert "Supported: plain, aead, pqc, teleport" in str(err.value)
