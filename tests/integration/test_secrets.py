"""Run secrets against an outsider, across runs, and in every output file (issue: trust).

Prepare/Execute/Assert throughout. An *outsider* holds everything public: config.json,
summary.json, the Flower job file and one client's complete wire arrays — the seed included.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from qtfl.channel.split import LinkKey, simulate_link
from qtfl.errors import InputError
from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import build_simulation, prepare_inputs
from qtfl.flower.ends import uplink_ends
from qtfl.flower.job import SERVER, FlowerJob, build_node, write_party_secrets
from qtfl.security.run_secret import SECRET_FILE, LinkSecret, RunSecret, hkdf
from tests.experiments.test_runner import run_cli

CONFIG: dict[str, Any] = {
    "seed": 5,
    "data": {"name": "digits", "num_clients": 3},
    "model": {"name": "mlp", "hidden": 8},
    "training": {"rounds": 2, "local_epochs": 1, "batch_size": 20, "lr": 0.2},
    "scenarios": [
        {"name": "plain"},
        {"name": "aead", "uplink": {"kind": "aead"}},
        {"name": "teleport", "uplink": {"kind": "teleport", "link": {"fidelity": 0.97}, "bits": 8}},
        {"name": "masked", "privacy": {"secure_aggregation": True}},
    ],
}
NAMES = [s["name"] for s in CONFIG["scenarios"]]


def _run(tmp_path: Path, name: str, *extra: str) -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    out = tmp_path / name
    assert run_cli(["run", str(cfg), "--out", str(out), "--json", *extra]) == 0
    return out


def _summary(out: Path) -> dict[str, Any]:
    doc = json.loads((out / "summary.json").read_text())
    doc.pop("timing")
    return doc


def _metrics(out: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        for key in [k for k in row if "seconds" in k and "link" not in k]:
            row.pop(key)  # wall-clock figures only
    return rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two runs with the same seed (fresh secrets) and a third repeating the first's secret."""
    tmp = tmp_path_factory.mktemp("secrets")
    a = _run(tmp, "a")
    b = _run(tmp, "b")
    c = _run(tmp, "c", "--secret-file", str(a / SECRET_FILE))
    return {"a": a, "b": b, "c": c, "tmp": tmp}


def test_same_seed_other_secret_gives_an_identical_summary(runs: dict[str, Path]) -> None:
    a, b = runs["a"], runs["b"]
    assert (a / SECRET_FILE).read_bytes() != (b / SECRET_FILE).read_bytes()
    assert _summary(a) == _summary(b)  # honest scenarios: timing aside, identical
    assert _metrics(a) == _metrics(b)


def test_same_seed_other_secret_gives_other_wire_bytes_keys_and_check_positions(
    runs: dict[str, Path],
) -> None:
    # Prepare: both runs' secrets and the same public noise key
    config = parse_config(CONFIG)
    inputs = prepare_inputs(config)
    secrets = [RunSecret.load(runs[x] / SECRET_FILE) for x in ("a", "b")]
    assert secrets[0].key("link", "teleport", 0, 0) != secrets[1].key("link", "teleport", 0, 0)
    update = np.random.default_rng(0).normal(0, 0.1, 650).astype(np.float32)
    sent: dict[str, list[Any]] = {"aead": [], "teleport": [], "positions": []}
    for secret in secrets:
        for name in ("aead", "teleport"):
            sc = next(s for s in config.resolved_scenarios() if s.name == name)
            channel = build_simulation(config, inputs, sc, secrets=secret).uplink(0)
            # Execute: the same update with the same seed-keyed noise stream
            d = channel.send(update, rng=LinkKey(config.seed, name, 1, 0).rng())
            sent[name].append(d)
            if name == "teleport":
                rng = LinkKey(config.seed, name, 1, 0).rng()
                sample = channel.protocol.distribute(
                    update.size * 8, rng=rng, secret_rng=channel.secret.for_transfer(rng)
                )
                sent["positions"].append(sample.check_positions)
    # Assert: other ciphertext and Bell bits, other check positions, same received values
    for name in ("aead", "teleport"):
        first, second = sent[name]
        assert first.tap.observed.tobytes() != second.tap.observed.tobytes()
        np.testing.assert_array_equal(first.received, second.received)
        assert first.verdict == second.verdict and first.ledger == second.ledger
    assert not np.array_equal(*sent["positions"])


def test_the_same_secret_file_repeats_a_run_bit_for_bit(runs: dict[str, Path]) -> None:
    a, c = runs["a"], runs["c"]
    assert (a / SECRET_FILE).read_bytes() == (c / SECRET_FILE).read_bytes()
    assert _summary(a) == _summary(c) and _metrics(a) == _metrics(c)
    for name in NAMES:
        ma = torch.load(a / "models" / f"{name}.pt", weights_only=True)
        mc = torch.load(c / "models" / f"{name}.pt", weights_only=True)
        assert all(torch.equal(ma[k], mc[k]) for k in ma)


def _derived_keys(secret: RunSecret, num_clients: int) -> list[bytes]:
    keys = [secret.key("mask", n) for n in NAMES]
    for name in NAMES:
        for direction in (0, 1):
            for k in range(num_clients):
                link = secret.key("link", name, direction, k)
                keys += [link, LinkSecret(link).subkey("aead")]
    return keys


def test_no_secret_byte_appears_in_any_output_file(runs: dict[str, Path]) -> None:
    # Prepare: the secret, every key derived from it, raw and as hex (either case)
    out = runs["a"]
    secret = RunSecret.load(out / SECRET_FILE)
    material = bytes.fromhex(secret.hex())
    needles = [material, *_derived_keys(secret, 3)]
    patterns = {n for key in needles for n in (key, key.hex().encode(), key.hex().upper().encode())}
    files = [p for p in out.rglob("*") if p.is_file() and p.name != SECRET_FILE]
    assert {p.name for p in files} >= {"summary.json", "config.json", "metrics.jsonl"}
    # Execute / Assert: no file holds any of them; the secret file is owner-only
    for path in files:
        data = path.read_bytes()
        assert not any(p in data for p in patterns), f"{path} holds secret material"
    assert stat.S_IMODE(os.stat(out / SECRET_FILE).st_mode) == 0o600


def test_resume_uses_the_stored_secret_and_refuses_another(runs: dict[str, Path]) -> None:
    tmp, a = runs["tmp"], runs["a"]
    other = tmp / "other.key"
    RunSecret.generate().save(other)
    cfg = tmp / "c.yaml"
    code = run_cli(["run", str(cfg), "--out", str(a), "--resume", "--secret-file", str(other)])
    assert code == 2
    loose = tmp / "loose.key"
    loose.write_text(RunSecret.generate().hex())
    loose.chmod(0o644)
    assert run_cli(["run", str(cfg), "--out", str(tmp / "d"), "--secret-file", str(loose)]) == 2
    assert not (tmp / "d").exists()


def test_an_outsider_recovers_the_update_at_chance_while_the_server_decodes_it(
    tmp_path: Path, runs: dict[str, Path]
) -> None:
    # Prepare: a noise-free teleport link (F = 1), a Flower job with per-party secret files
    raw = dict(CONFIG, scenarios=[{"name": "tp", "uplink": {"kind": "teleport",
               "link": {"fidelity": 1.0}, "bits": 8}}])  # fmt: skip
    config = parse_config(raw)
    secret = RunSecret.generate()
    secrets_dir = write_party_secrets(
        tmp_path / "secrets", secret, scenarios=["tp"], num_clients=3, num_nodes=2
    )
    job = FlowerJob(config.model_dump_json(), "tp", 2, str(tmp_path / "r.json"),
                    secrets_dir=str(secrets_dir))  # fmt: skip
    server = build_node(job.to_json(), SERVER)
    client = build_node(job.to_json(), "node-1")  # serves client 1
    k, round_ = 1, 1
    update = np.random.default_rng(9).normal(0, 0.1, server.layout.size).astype(np.float32)
    key = job.link_key(round_, k)
    # Execute: the real protocol through the split ends
    state, announced = uplink_ends(server.uplink(k)).prepare(key, update.size)
    wire = uplink_ends(client.uplink(k)).send(update, key, announced)
    delivery = uplink_ends(server.uplink(k)).receive(wire, state)
    channel = server.uplink(k)
    expected = channel.encoding.decode(channel.encoding.encode(update))
    bits = channel.encoding.encode(update).bit_array()
    # Assert 1: the server decodes the update exactly (noise-free link)
    assert delivery.verdict.accepted
    np.testing.assert_array_equal(delivery.received, expected)
    # Assert 2: the outsider, with the seed (config), job file and the wire, replays the link
    # simulation with every secret guess the public files allow, and lands at chance level
    public = [job.to_json(), config.model_dump_json()]
    public += [(runs["a"] / f).read_text() for f in ("config.json", "summary.json")]
    assert not any(secret.hex() in text for text in public)
    n = bits.size
    bell = np.unpackbits(wire["bell_bits"], count=2 * n).reshape(n, 2)
    seed_bytes = config.seed.to_bytes(32, "little")
    guesses = [LinkSecret(seed_bytes), LinkSecret(hkdf(seed_bytes, b"link")), LinkSecret()]
    for guess in guesses:
        rng = key.rng()
        half = simulate_link(channel.protocol, n, rng=rng, secret_rng=guess.for_transfer(rng))
        assert half.receiver.raw is not None
        recovered = half.receiver.raw ^ bell[:, 1]
        agreement = float((recovered == bits).mean())
        assert abs(agreement - 0.5) < 4 * 0.5 / math.sqrt(n)
    # Control: the same replay with the link's true key (held by its two ends) is exact
    rng = key.rng()
    true_key = LinkSecret(secret.key("link", "tp", 0, k))
    half = simulate_link(channel.protocol, n, rng=rng, secret_rng=true_key.for_transfer(rng))
    assert half.receiver.raw is not None
    np.testing.assert_array_equal(half.receiver.raw ^ bell[:, 1], bits)
    # Assert 3: a client node holds no key of another client's link
    with pytest.raises(InputError, match="not an end"):
        uplink_ends(client.uplink(0)).send(update, job.link_key(round_, 0), {})
