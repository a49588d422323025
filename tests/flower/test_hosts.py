"""qtfl on Flower across hosts, as an operator runs it: SuperLink on one host, SuperNodes on two.

The three "hosts" are three directories and three loopback addresses (Linux routes all of
127/8 to ``lo``): the SuperLink binds 127.0.0.1; SuperNode 0's local API binds 127.0.0.2 and
SuperNode 1's 127.0.0.3, each started from the ``node-<i>`` directory copied to its "host"
(mode bits kept, as ``scp -rp`` does) and running there. Every step is the documented CLI
command, with TLS (a CA made by ``qtfl flower prepare``) and SuperNode authentication on:

* each node directory holds its own private key and its own clients' link keys only;
* the run (plain, teleportation and top-k compression with error feedback, 2 clients, 2
  rounds) gives the summary and the per-round metrics of the in-process engine with the
  same run secret, timing aside; the compression residuals stay on the nodes' hosts;
* SIGTERM stops the SuperNodes and the SuperLink (exit 0), and no process any of the three
  commands started is left.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from qtfl.errors import InputError
from qtfl.experiments.config import parse_config
from qtfl.flower.deploy import free_port
from qtfl.flower.hosts import NodeBundle, federation_options, prepare_federation
from qtfl.security.run_secret import PartySecrets

pytestmark = pytest.mark.integration
CONFIG = {
    "seed": 21,
    "data": {"num_clients": 2},
    "training": {"rounds": 2, "local_epochs": 1},
    "scenarios": [
        {"name": "plain", "channel": {"kind": "plain"}},
        {"name": "teleport", "uplink": {"kind": "teleport", "link": {"fidelity": 0.99}}},
        {"name": "topk", "compression": {"kind": "topk", "ratio": 0.1, "error_feedback": True}},
    ],
}
QTFL = [sys.executable, "-m", "qtfl.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _first_line(proc: subprocess.Popen[str], *, timeout_s: float) -> dict[str, Any]:
    """The JSON object a long-running command prints once it is ready."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, f"no output within {timeout_s:g} s"
    line = proc.stdout.readline()
    assert line, f"exited with {proc.wait()}: {proc.stderr.read() if proc.stderr else ''}"
    return dict(json.loads(line))


def _tree(procs: list[subprocess.Popen[str]]) -> set[int]:
    pids = set()
    for p in procs:
        try:
            root = psutil.Process(p.pid)
            pids |= {root.pid} | {c.pid for c in root.children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
    return pids


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _summary(out: Path) -> dict[str, Any]:
    doc = json.loads((out / "summary.json").read_text())
    doc.pop("timing")
    doc.pop("engine", None)
    return doc


def _metrics(out: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        for key in [k for k in row if "seconds" in k and "link" not in k]:
            row.pop(key)  # wall-clock figures only
    return rows


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_superlink_and_two_supernodes_on_three_addresses_equal_the_in_process_run(
    tmp_path: Path,
) -> None:
    # Prepare: the federation directory on the server host
    cfg = tmp_path / "server" / "c.yaml"
    cfg.parent.mkdir()
    cfg.write_text(yaml.safe_dump(CONFIG))
    fed = tmp_path / "server" / "fed"
    address = f"127.0.0.1:{free_port()}"
    prepared = subprocess.run(
        [*QTFL, "flower", "prepare", str(cfg), "--dir", str(fed), "--address", address,
         "--supernodes", "2", "--json"],
        capture_output=True, text=True, env=ENV, timeout=120, check=False,
    )  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    plan = json.loads(prepared.stdout)
    assert plan["superlink"] == address and "client_host_1" in plan
    for secret in (fed / "run-secret.key", fed / "tls" / "server.key"):
        assert _mode(secret) == 0o600
    # the operator copies node-<i> to client host i (scp -rp keeps the modes)
    hosts = []
    for i in range(2):
        host = tmp_path / f"client-{i}"
        host.mkdir()
        subprocess.run(["cp", "-rp", str(fed / f"node-{i}"), str(host)], check=True)
        hosts.append(host / f"node-{i}")
    for i, node in enumerate(hosts):
        assert _mode(node) == 0o700
        assert _mode(node / "supernode.key") == _mode(node / f"node-{i}.key") == 0o600
        names = {p.name for p in node.iterdir()}
        assert names == {"ca.pem", "supernode.key", "supernode.key.pub", f"node-{i}.key",
                         "supernode.json"}  # fmt: skip
        party = PartySecrets.load(node / f"node-{i}.key")
        party.key("link", "plain", 0, i)  # its own client's link key ...
        with pytest.raises(InputError, match="holds no link key"):
            party.key("link", "plain", 0, 1 - i)  # ... and not the other client's
    started: list[subprocess.Popen[str]] = []
    seen: set[int] = set()
    try:
        # Execute: server host starts the SuperLink; each client host its SuperNode
        link = subprocess.Popen([*QTFL, "flower", "superlink", str(fed), "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=ENV, cwd=fed.parent)  # fmt: skip
        started.append(link)
        ready = _first_line(link, timeout_s=180)
        ids = [int(x) for x in ready["node_ids"].split()]
        assert len(ids) == 2
        infos = []
        for i, node in enumerate(hosts):
            proc = subprocess.Popen(
                [*QTFL, "flower", "supernode", f"node-{i}", "--bind", f"127.0.0.{2 + i}",
                 "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                cwd=node.parent,
            )  # fmt: skip
            started.append(proc)
        for proc in started[1:]:
            infos.append(_first_line(proc, timeout_s=180))
        assert [info["node_id"] for info in infos] == ids  # activated under registered keys
        for i, info in enumerate(infos):
            host, port = info["api"].rsplit(":", 1)
            assert host == f"127.0.0.{2 + i}"
            socket.create_connection((host, int(port)), timeout=5).close()
        seen |= _tree(started)
        out = tmp_path / "server" / "out"
        run = subprocess.Popen(
            [*QTFL, "run", str(cfg), "--out", str(out), "--engine", "flower-deploy",
             "--federation", str(fed), "--round-timeout", "120", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        )  # fmt: skip
        started.append(run)
        while run.poll() is None:
            seen |= _tree(started)
            time.sleep(0.5)
        assert run.returncode == 0, run.stderr.read() if run.stderr else ""
        seen |= _tree(started)
        for proc in started[:3]:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=60) for proc in started[:3]]
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
    # Assert: clean stops, nothing left, TLS and keys in force, the in-process results
    assert codes == [0, 0, 0]
    time.sleep(0.5)
    assert len(seen) >= 7  # 3 commands, SuperLink, 2 SuperNodes, their superexecs ...
    assert [pid for pid in seen if _alive(pid)] == []
    link_log = (fed / "superlink" / "superlink.log").read_text(errors="replace")
    assert f"https://{address}" in link_log and "authentication is disabled" not in link_log
    for node in hosts:
        log = (node / "supernode.log").read_text(errors="replace")
        assert "Receiving: train message" in log  # each host served its own client
        # compression's error-feedback residuals stay on the node's own host
        assert any(p.is_file() for p in (node / "state").rglob("*"))
    assert not (out / "flower" / "nodes").exists() or not any(
        p.is_file() for p in (out / "flower" / "nodes").rglob("*")
    )
    reference = tmp_path / "inprocess"
    done = subprocess.run(
        [*QTFL, "run", str(cfg), "--out", str(reference), "--json",
         "--secret-file", str(fed / "run-secret.key")],
        capture_output=True, text=True, env=ENV, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _summary(out) == _summary(reference)
    assert _metrics(out) == _metrics(reference)


def test_federation_refuses_another_configuration_and_an_unstarted_superlink(
    tmp_path: Path,
) -> None:
    # Prepare
    config = parse_config(CONFIG)
    fed = prepare_federation(config, tmp_path / "fed", address="127.0.0.1:9092")
    other = parse_config({**CONFIG, "seed": 22})
    # Execute / Assert
    with pytest.raises(InputError, match="no registered SuperNodes yet"):
        federation_options(fed.directory, config)
    with pytest.raises(InputError, match="another configuration"):
        federation_options(fed.directory, other)
    with pytest.raises(InputError, match="not an empty directory"):
        prepare_federation(config, fed.directory, address="127.0.0.1:9092")
    with pytest.raises(InputError, match="HOST:PORT"):
        prepare_federation(config, tmp_path / "f2", address="127.0.0.1")
    with pytest.raises(InputError, match="--supernodes"):
        prepare_federation(config, tmp_path / "f3", address="h:1", num_supernodes=3)


def test_a_node_directory_with_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    # Prepare: a copy that lost its modes (cp without -p under a permissive umask)
    fed = prepare_federation(parse_config(CONFIG), tmp_path / "fed", address="10.0.0.1:9092")
    node = fed.node_dir(1)
    os.chmod(node / "supernode.key", 0o644)
    # Execute / Assert
    with pytest.raises(InputError, match=r"readable by others.*chmod 600"):
        NodeBundle.load(node)
    os.chmod(node / "supernode.key", 0o600)
    assert NodeBundle.load(node).partition == 1
    with pytest.raises(InputError, match=r"no supernode\.json"):
        NodeBundle.load(tmp_path)
