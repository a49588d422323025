"""Flower's deployment runtime on 127.0.0.1: SuperLink + 2 SuperNodes, capture of the wire.

One deployment (2 SuperNodes, digits, 2 rounds) runs two scenarios behind a loopback proxy
that records every byte the SuperNodes send to the SuperLink:

* the plain scenario is bit-identical to the in-process engine, and its wire carries each
  client's update as raw float32 bytes;
* the teleportation scenario's wire carries Bell bits that are uniform and agree with the
  update's payload bits only by chance (1/2 within 4 sigma), and no update bytes at all;
  with FEC the same holds for the Bell bits of the LDPC codeword bits (systematic: the
  payload bits are among them);
* the QKD-OTP scenario's wire carries announcements, syndromes, CRCs, hashes and a
  ciphertext that agrees with the update's payload bits only by chance, and no update bytes;
* afterwards no Flower process is left.

That capture deployment runs with ``insecure=True`` so the proxy can read the application
bytes; every other deployment here uses the defaults: TLS under a per-run CA and SuperNode
authentication with per-node keys.

* Over TLS a SuperNode is killed mid-round (its root process only, so its superexec and
  ClientApp are orphaned): the round goes on with the other node, and no orphan outlives
  the run.
* Two rogue SuperNodes that hold only the CA certificate join a running deployment: one
  without a registered key is refused by the SuperLink; one that registered its own key
  through Flower's open Control API is activated but never addressed. Neither receives a
  message; the legitimate nodes serve every client.
* ``qtfl run --engine flower-deploy`` interrupted by SIGINT after its first round exits 130
  with "aborted; continue with --resume", leaves no process, and ``--resume`` finishes the
  run equal to the in-process engine.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

import qtfl.flower.deploy as flower_deploy
import qtfl.flower.run as flower_run
from qtfl.channel import Channel
from qtfl.channel.fec import FecCodec
from qtfl.errors import InputError
from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import build_simulation, prepare_inputs
from qtfl.flower.deploy import LocalFederation, free_port
from qtfl.flower.run import FlowerOptions, run_on_flower
from qtfl.flower.trust import make_node_key
from qtfl.quantum.encoding import BasisEncoding
from qtfl.quantum.noise import WernerPair
from qtfl.security.run_secret import SECRET_FILE, LinkSecret, RunSecret
from tests.flower.certs import make_tls_files
from tests.flower.proxy import CaptureProxy

pytestmark = pytest.mark.integration
CONFIG = {
    "seed": 5,
    "data": {"num_clients": 2},
    "training": {"rounds": 2, "local_epochs": 1},
    "scenarios": [
        {"name": "plain", "channel": {"kind": "plain"}},
        {"name": "teleport", "uplink": {"kind": "teleport", "link": {"fidelity": 0.99}}},
        {"name": "teleport-fec", "uplink": {"kind": "teleport", "link": {"fidelity": 0.99},
                                            "fec": "auto"}},
        {"name": "qkd-otp", "uplink": {"kind": "qkd-otp", "link": {"fidelity": 0.99}}},
    ],
}  # fmt: skip


class _StopTracker:
    """Wraps deploy.stop_processes: records every pid of the trees it is asked to stop."""

    def __init__(self) -> None:
        self.pids: set[int] = set()
        self.real = flower_deploy.stop_processes

    def __call__(self, procs: list[Any], *, timeout_s: float = 10.0, known: Any = ()) -> None:
        known = list(known)
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(p.pid)
                self.pids |= {root.pid} | {c.pid for c in root.children(recursive=True)}
        self.pids |= {p.pid for p in known}
        self.real(procs, timeout_s=timeout_s, known=known)

    def alive(self) -> list[int]:
        return sorted(pid for pid in self.pids if _alive(pid))


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class _Recorder(Channel):
    """In-process uplink that keeps every update it is handed."""

    def __init__(self, inner: Channel, sink: list[np.ndarray]) -> None:
        self.inner, self.sink = inner, sink

    def _send(self, update: np.ndarray, *, rng: np.random.Generator) -> Any:
        self.sink.append(update.copy())
        return self.inner.send(update, rng=rng)


def _npy_arrays(blob: bytes) -> list[np.ndarray]:
    """Every ``.npy`` array serialised somewhere in a byte stream."""
    out, start = [], 0
    while (i := blob.find(b"\x93NUMPY", start)) >= 0:
        with contextlib.suppress(ValueError, EOFError):
            out.append(np.lib.format.read_array(io.BytesIO(blob[i:]), allow_pickle=False))
        start = i + 6
    return out


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    config = parse_config(CONFIG)
    out = tmp_path_factory.mktemp("deploy") / "run"
    link_port = free_port()
    proxy = CaptureProxy(link_port)
    real = flower_run.run_deployed

    def labelled(fed: LocalFederation, *, result_path: Path, **kw: Any) -> None:
        proxy.label = result_path.stem  # the scenario whose traffic follows
        real(fed, result_path=result_path, **kw)

    tracker = _StopTracker()
    flower_run.run_deployed = labelled  # type: ignore[assignment]
    flower_deploy.stop_processes = tracker  # type: ignore[assignment]
    try:
        options = FlowerOptions(num_supernodes=2, superlink_port=link_port, fleet_port=proxy.port,
                                insecure=True, round_timeout_s=120, start_timeout_s=60)  # fmt: skip
        summary = run_on_flower(config, out_dir=out, engine="flower-deploy", options=options)
    finally:
        flower_run.run_deployed = real  # type: ignore[assignment]
        flower_deploy.stop_processes = tracker.real  # type: ignore[assignment]
        proxy.close()
    # in process: the same plain run, recording each round's updates
    sc = config.resolved_scenarios()[0]
    sim = build_simulation(config, prepare_inputs(config), sc)
    sent: list[np.ndarray] = []
    recorders = [_Recorder(sim.uplink(k), sent) for k in range(sim.num_clients)]
    sim.uplink = lambda k: recorders[k]
    expected = [sim.run_round() for _ in range(2)]
    return {"summary": summary, "out": out, "proxy": proxy, "expected": expected,
            "updates": sent, "started": tracker.pids, "leftover": tracker.alive()}  # fmt: skip


def test_two_supernodes_two_rounds_match_in_process_and_leave_no_process(deployed: dict) -> None:
    assert len(deployed["started"]) >= 4  # SuperLink, 2 SuperNodes, their superexecs...
    assert deployed["leftover"] == []
    plain = deployed["summary"]["scenarios"]["plain"]
    lines = [json.loads(x) for x in (deployed["out"] / "metrics.jsonl").read_text().splitlines()]
    got = [(x["round"], x["accuracy"], x["loss"], x["aggregated"]) for x in lines
           if x["scenario"] == "plain"]  # fmt: skip
    want = [(r.round, r.accuracy, r.loss, r.aggregated) for r in deployed["expected"]]
    assert got == want  # bit-identical accuracy and loss
    assert plain["final_accuracy"] == deployed["expected"][-1].accuracy
    assert (deployed["out"] / "models" / "teleport.pt").is_file()


def test_plain_wire_carries_the_updates(deployed: dict) -> None:
    wire = bytes(deployed["proxy"].upstream["plain"])
    updates = deployed["updates"]  # 2 clients x 2 rounds, float32
    assert len(updates) == 4
    for u in updates:
        assert u.tobytes() in wire  # the update, byte for byte, crossed the connection


def test_teleport_wire_carries_no_information_about_the_update(deployed: dict) -> None:
    wire = bytes(deployed["proxy"].upstream["teleport"])
    round1 = deployed["updates"][:2]  # round 1 starts from the same model: same updates
    for u in deployed["updates"]:
        assert u.tobytes()[:64] not in wire
    encoding = BasisEncoding(bits=16)
    payloads = [encoding.encode(u).bit_array() for u in round1]
    n = payloads[0].size
    bell = [a for a in _npy_arrays(wire) if a.dtype == np.uint8 and a.size == 2 * n // 8]
    assert len(bell) >= 4  # two clients, two rounds
    tol = 4 * 0.5 / np.sqrt(n)  # 4 sigma for a fair coin per bit
    for packed in bell:
        bits = np.unpackbits(packed, count=2 * n).reshape(n, 2)
        assert abs(bits.mean() - 0.5) < tol  # uniform Bell bits
        for payload in payloads:  # m1 = frame xor payload: agreement only by chance
            assert abs(float((bits[:, 1] == payload).mean()) - 0.5) < tol
            assert abs(float((bits[:, 0] == payload).mean()) - 0.5) < tol


def test_teleport_fec_wire_carries_no_information_about_the_codewords(deployed: dict) -> None:
    wire = bytes(deployed["proxy"].upstream["teleport-fec"])
    for u in deployed["updates"]:
        assert u.tobytes()[:64] not in wire
    lines = [json.loads(x) for x in (deployed["out"] / "metrics.jsonl").read_text().splitlines()]
    assert all(x["aggregated"] == 2 for x in lines if x["scenario"] == "teleport-fec")
    # the codeword bits each client teleported in round 1 (same start model: same updates)
    codec = FecCodec.for_link("auto", bit_error_rate=WernerPair(0.99).teleported_bit_error)
    assert codec is not None
    words = []
    for u in deployed["updates"][:2]:
        codewords, layout = codec.encode(BasisEncoding(bits=16).encode(u).bit_array())
        words.append(layout.to_channel(codewords))
    n = words[0].size
    bell = [a for a in _npy_arrays(wire) if a.dtype == np.uint8 and a.size == -(-2 * n // 8)]
    assert len(bell) >= 4  # two clients, two rounds (resends would add smaller arrays)
    tol = 4 * 0.5 / np.sqrt(n)
    for packed in bell:
        bits = np.unpackbits(packed, count=2 * n).reshape(n, 2)
        assert abs(bits.mean() - 0.5) < tol
        for x in words:  # m1 = frame xor codeword bit: agreement only by chance
            assert abs(float((bits[:, 1] == x).mean()) - 0.5) < tol


def test_qkd_otp_wire_carries_ciphertext_that_agrees_with_the_update_by_chance(
    deployed: dict,
) -> None:
    wire = bytes(deployed["proxy"].upstream["qkd-otp"])
    for u in deployed["updates"]:
        assert u.tobytes()[:64] not in wire
    lines = [json.loads(x) for x in (deployed["out"] / "metrics.jsonl").read_text().splitlines()]
    rounds = [x for x in lines if x["scenario"] == "qkd-otp"]
    assert rounds and all(x["aggregated"] == 2 for x in rounds)
    payloads = [BasisEncoding(bits=16).encode(u).bit_array() for u in deployed["updates"][:2]]
    n = payloads[0].size
    cipher = [a for a in _npy_arrays(wire) if a.dtype == np.uint8 and a.size == -(-n // 8)]
    assert len(cipher) >= 4  # two clients, two rounds
    tol = 4 * 0.5 / np.sqrt(n)
    for packed in cipher:
        bits = np.unpackbits(packed, count=n)
        for payload in payloads:  # one-time padded: agreement only by chance
            assert abs(float((bits == payload).mean()) - 0.5) < tol


def test_no_secret_reaches_a_file_a_log_or_the_wire(deployed: dict) -> None:
    # Prepare: the run secret and every link key derived from it, raw and in hex
    out: Path = deployed["out"]
    secret = RunSecret.load(out / SECRET_FILE)
    names = [sc["name"] for sc in CONFIG["scenarios"]]
    keys = [bytes.fromhex(secret.hex())]
    for name in names:
        for direction in (0, 1):
            for k in range(CONFIG["data"]["num_clients"]):
                link = secret.key("link", name, direction, k)
                keys += [link, LinkSecret(link).subkey("aead")]
    patterns = {p for key in keys for p in (key, key.hex().encode(), key.hex().upper().encode())}
    # Execute / Assert: job files, logs, results and everything the SuperNodes sent
    files = [p for p in out.rglob("*") if p.is_file() and p.name != SECRET_FILE]
    assert any(p.name.endswith(".job.json") for p in files)
    assert any(p.suffix == ".log" for p in files)
    for path in files:
        data = path.read_bytes()
        assert not any(p in data for p in patterns), f"{path} holds secret material"
    for label, sent in deployed["proxy"].upstream.items():
        assert not any(p in bytes(sent) for p in patterns), f"the {label} wire holds a key"
    assert not (out / "flower" / "secrets").exists()  # per-party files removed after the run


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        fed = LocalFederation(tmp_path, num_supernodes=1, superlink_port=s.getsockname()[1])
        with pytest.raises(InputError, match="already in use"), fed.running():
            pass
    assert fed.procs == []


def test_attaching_to_a_superlink_that_does_not_answer_times_out(tmp_path: Path) -> None:
    fed = LocalFederation(
        tmp_path, num_supernodes=1, attach=free_port(), insecure=True, start_timeout_s=1.0
    )
    with pytest.raises(InputError, match="did not answer within 1 s"), fed.running():
        pass
    assert fed.procs == []


@pytest.mark.parametrize("how", ["sigint", "failure"])
def test_every_started_process_is_stopped_on_ctrl_c_and_on_failure(
    tmp_path: Path, how: str
) -> None:
    import signal
    import subprocess
    import sys
    import time

    script = f"""
import sys, time, psutil
from qtfl.flower.deploy import LocalFederation
fed = LocalFederation({str(tmp_path)!r}, num_supernodes=1)
with fed.running():
    time.sleep(4)  # SuperNodes spawn their flower-superexec
    tree = [c.pid for p in fed.procs for c in psutil.Process(p.pid).children(recursive=True)]
    print(" ".join(str(x) for x in [p.pid for p in fed.procs] + tree), flush=True)
    if {how!r} == "failure":
        raise RuntimeError("boom")
    time.sleep(120)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids = [int(x) for x in proc.stdout.readline().split()]
    assert len(pids) >= 3  # SuperLink, SuperNode and at least one superexec
    if how == "sigint":
        proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    time.sleep(0.5)
    assert [
        p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
    ] == []


def test_a_relative_workdir_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # flwr run executes inside the workdir: a relative app path would be resolved twice
    monkeypatch.chdir(tmp_path)
    fed = LocalFederation(Path("runs") / "x", num_supernodes=1)
    assert fed.workdir == tmp_path / "runs" / "x"
    assert fed.workdir.is_dir()


def test_over_tls_a_supernode_killed_mid_round_is_named_and_leaves_the_round_to_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # one deployment for two checks: TLS between SuperLink and SuperNodes (a CA and server
    # certificate generated here), and a SuperNode killed while it handles its round-1 message
    import threading
    import time

    config = parse_config({"seed": 6, "data": {"num_clients": 2}, "training": {"rounds": 1}})
    tracker = _StopTracker()
    monkeypatch.setattr(flower_deploy, "stop_processes", tracker)
    real = flower_run.run_deployed
    killed: list[int] = []
    orphans: list[int] = []

    def kill_node_1_on_its_first_train_message(fed: LocalFederation) -> None:
        log = fed.workdir / "supernode-1.log"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if log.is_file() and "Receiving: train message" in log.read_text(errors="replace"):
                root = psutil.Process(fed.supernodes[1].pid)
                orphans.extend(c.pid for c in root.children(recursive=True))
                root.kill()  # the root only: its superexec and ClientApp are orphaned
                killed.append(root.pid)
                return
            time.sleep(0.05)

    feds: list[LocalFederation] = []

    def with_killer(fed: LocalFederation, **kw: Any) -> None:
        feds.append(fed)
        threading.Thread(
            target=kill_node_1_on_its_first_train_message, args=(fed,), daemon=True
        ).start()
        real(fed, **kw)

    flower_run.run_deployed = with_killer  # type: ignore[assignment]
    try:
        options = FlowerOptions(
            num_supernodes=2,
            tls=make_tls_files(tmp_path / "tls"),
            round_timeout_s=25,  # the round waits this long for the dead node's reply
            start_timeout_s=60,
        )
        with caplog.at_level("WARNING", logger="qtfl.flower"):
            summary = run_on_flower(
                config, out_dir=tmp_path / "run", engine="flower-deploy", options=options
            )
    finally:
        flower_run.run_deployed = real  # type: ignore[assignment]
    assert killed  # the node died while its round-1 message was being handled
    assert orphans and not [p for p in orphans if _alive(p)]  # no orphan outlived the run
    # the deployment named the dead node: partition, registered id, pid, how it ended
    (fed,) = feds
    assert [(x.partition, x.node_id, x.pid, x.returncode) for x in fed.lost] == [
        (1, fed.node_ids[1], killed[0], -9)
    ]
    warned = [r.getMessage() for r in caplog.records if r.name == "qtfl.flower"]
    assert warned == [
        f"SuperNode 1 (node id {fed.node_ids[1]}, pid {killed[0]}) was killed by SIGKILL; "
        "the clients it serves count as dropped"
    ]
    # nothing is left in the sessions (process groups) of the processes the run started
    sessions = set(tracker.pids)
    stray = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(proc.pid) in sessions and proc.status() != psutil.STATUS_ZOMBIE:
                stray.append(proc.pid)
    assert stray == []
    line = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert (line["answered"], line["dropped"], line["aggregated"]) == (1, 1, 1)
    assert line["unanswered_clients"] == [1]  # the round names the client of the dead node
    assert "did not answer" in (tmp_path / "run" / "report.html").read_text()
    assert summary["scenarios"]["default"]["final_accuracy"] is not None
    log = (tmp_path / "run" / "flower" / "deploy" / "superlink.log").read_text(errors="replace")
    assert "insecure" not in log.lower() and "https://127.0.0.1" in log
    assert "authentication is disabled" not in log  # node keys were required
    streamed = (tmp_path / "run" / "flower" / "deploy" / "flwr-run-default.log").read_text()
    assert "1 of 2 clients did not answer" in streamed  # the ServerApp says what happened
    assert tracker.pids and tracker.alive() == []


def _rogue(fed: LocalFederation, name: str, *extra: str) -> subprocess.Popen[bytes]:
    """A SuperNode started by an outsider who holds the CA certificate and nothing else."""
    assert fed.tls is not None
    log = open(fed.workdir / f"{name}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        ["flower-supernode", "--root-certificates", str(fed.tls.ca_cert), *extra,
         "--superlink", f"{fed.host}:{fed.port}", "--port", str(free_port()),
         "--node-config", "partition-id=0 num-partitions=2", "--max-retries", "3"],
        stdout=log, stderr=subprocess.STDOUT, env=flower_deploy.flower_env(),
        cwd=fed.workdir, start_new_session=True,
    )  # fmt: skip
    log.close()
    return proc


def test_rogue_supernodes_holding_only_the_ca_are_refused_and_receive_no_message(
    tmp_path: Path,
) -> None:
    # Prepare: a default deployment (TLS + node keys); once it runs, two outsiders join:
    # "anonymous" with a key of its own that nobody registered, and "self-registered" which
    # registered its own key through the SuperLink's Control API (open in Flower 1.41 to
    # whoever reaches the port and trusts the CA) before starting.
    config = parse_config({"seed": 9, "data": {"num_clients": 2}, "training": {"rounds": 2}})
    real = flower_run.run_deployed
    rogues: dict[str, subprocess.Popen[bytes]] = {}
    registered: list[int] = []

    def with_rogues(fed: LocalFederation, **kw: Any) -> None:
        rogues["anonymous"] = _rogue(fed, "rogue-anonymous")
        key = make_node_key(tmp_path / "rogue-keys", "rogue")
        env = {**flower_deploy.flower_env(), "FLWR_HOME": str(fed.write_flower_home())}
        done = subprocess.run(
            ["flwr", "supernode", "register", str(key.public_key), "qtfl-local",
             "--format", "json"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        node_id = flower_deploy._json_field(done.stdout, "node-id")
        assert node_id is not None, done.stdout + done.stderr
        registered.append(int(str(node_id)))
        rogues["self-registered"] = _rogue(
            fed, "rogue-self-registered", "--auth-supernode-private-key", str(key.private_key)
        )
        real(fed, **kw)

    flower_run.run_deployed = with_rogues  # type: ignore[assignment]
    try:
        options = FlowerOptions(num_supernodes=2, round_timeout_s=60, start_timeout_s=60)
        run_on_flower(config, out_dir=tmp_path / "run", engine="flower-deploy", options=options)
    finally:
        flower_run.run_deployed = real  # type: ignore[assignment]
        for proc in rogues.values():
            flower_deploy.stop_processes([proc], timeout_s=5)
    deploy = tmp_path / "run" / "flower" / "deploy"
    link = (deploy / "superlink.log").read_text(errors="replace")
    node_logs = [(deploy / f"supernode-{i}.log").read_text() for i in range(2)]
    legit_ids = [int(re.findall(r"SuperNode ID: (\d+)", text)[0]) for text in node_logs]
    # the SuperLink refused the anonymous node and admitted the self-registered one
    assert '/v1/fleet/register-node HTTP/1.1" 412' in link  # self-registration disabled
    activated = re.findall(r"Activated node_id=(\d+)", link)
    assert sorted(map(int, activated)) == sorted([*registered, *legit_ids])
    # neither rogue received a message; the legitimate nodes served both clients every round
    for name in ("rogue-anonymous", "rogue-self-registered"):
        assert "train message" not in (deploy / f"{name}.log").read_text(errors="replace")
    for i in range(2):
        assert "Receiving: train message" in (deploy / f"supernode-{i}.log").read_text()
    assert f"Push replies from node_id={registered[0]}" not in link
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(x["answered"], x["aggregated"]) for x in lines] == [(2, 2), (2, 2)]


def test_sigint_on_flower_deploy_exits_130_and_resume_finishes_the_run(tmp_path: Path) -> None:
    # Prepare: three rounds through the CLI; interrupt once round 1 is checkpointed
    import signal
    import sys
    import time

    import yaml

    from qtfl.fl.checkpoint import load_checkpoint

    raw = {"seed": 12, "data": {"num_clients": 2}, "training": {"rounds": 3}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    ckpt = out / "checkpoints" / "default.pt"
    cmd = [sys.executable, "-m", "qtfl.cli", "run", str(path), "--out", str(out),
           "--engine", "flower-deploy", "--supernodes", "2", "--json"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 300
    while not ckpt.is_file():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    started = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
    # Execute
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    # Assert: 130, one line, nothing left running, --out resumable (no summary yet)
    assert proc.returncode == 130
    assert "aborted; continue with --resume" in err.decode() and "Traceback" not in err.decode()
    time.sleep(0.5)
    assert len(started) >= 5 and [p for p in started if _alive(p)] == []
    reached = load_checkpoint(ckpt)[0].round
    assert 1 <= reached < 3, "the run finished before the interrupt"
    assert not (out / "summary.json").exists()
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    # the resumed run equals the in-process engine (which equals an uninterrupted Flower run)
    config = parse_config(raw)
    sim = build_simulation(config, prepare_inputs(config), config.resolved_scenarios()[0])
    expected = [sim.run_round() for _ in range(3)]
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(x["round"], x["accuracy"], x["loss"]) for x in lines] == [
        (r.round, r.accuracy, r.loss) for r in expected
    ]
    assert load_checkpoint(ckpt)[0].global_params.tobytes() == sim.global_params.tobytes()
    summary = json.loads(resumed.stdout.decode().strip().splitlines()[-1])
    assert summary["scenarios"]["default"]["final_accuracy"] == expected[-1].accuracy
