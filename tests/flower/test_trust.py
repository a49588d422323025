"""Credentials, option checks, process cleanup and resume of the Flower engines (fast checks).

The deployments themselves (TLS handshakes, node authentication against a rogue SuperNode,
SIGINT and --resume through the CLI) are in test_deploy.py; here the pieces they rely on are
checked without starting Flower's daemons: certificates against their CA, key files'
modes, the node-config text against Flower's own parser, the orphan reaper against real
processes, and resume on the in-memory Grid against an uninterrupted run.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key
from flwr.common.config import parse_config_args

import qtfl.flower.server as flower_server
from qtfl.errors import InputError
from qtfl.experiments.config import parse_config
from qtfl.fl.checkpoint import load_checkpoint
from qtfl.flower.client import make_client_app
from qtfl.flower.deploy import LocalFederation, node_config_arg
from qtfl.flower.job import FlowerJob, write_party_secrets
from qtfl.flower.procs import ProcessTracker, stop_processes
from qtfl.flower.run import FlowerOptions, run_on_flower
from qtfl.flower.server import serve
from qtfl.flower.trust import load_tls_dir, make_node_key, make_tls
from qtfl.security.run_secret import RunSecret
from tests.flower.inline import InlineGrid


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- TLS ----------------------------------------------------------------------------------


def test_generated_tls_is_a_valid_chain_for_the_hosts_with_an_owner_only_key(
    tmp_path: Path,
) -> None:
    # Prepare / Execute
    files = make_tls(tmp_path / "tls", hosts=("10.1.2.3", "link.example"))
    # Assert: three files, no CA key anywhere; server key 0600 in a 0700 directory
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == [
        "ca.pem", "server.key", "server.pem"
    ]  # fmt: skip
    assert _mode(files.server_key) == 0o600 and _mode(tmp_path / "tls") == 0o700
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    cert.verify_directly_issued_by(ca)  # raises if not signed by the CA
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.1.2.3")
    }  # fmt: skip
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "link.example"}
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # and the loader accepts what the generator wrote
    assert load_tls_dir(tmp_path / "tls", hosts=("10.1.2.3",)) == files


def test_two_generated_cas_differ_and_do_not_vouch_for_each_other(tmp_path: Path) -> None:
    a, b = make_tls(tmp_path / "a"), make_tls(tmp_path / "b")
    ca_a = x509.load_pem_x509_certificate(a.ca_cert.read_bytes())
    cert_b = x509.load_pem_x509_certificate(b.server_cert.read_bytes())
    with pytest.raises(Exception):  # noqa: B017 - InvalidSignature or ValueError
        cert_b.verify_directly_issued_by(ca_a)


@pytest.mark.parametrize("problem", ["missing", "world-readable", "other-ca", "host", "garbage"])
def test_a_bad_tls_dir_is_one_clear_error(tmp_path: Path, problem: str) -> None:
    # Prepare: a good directory, then break one thing
    files = make_tls(tmp_path / "tls")
    hosts: tuple[str, ...] = ()
    if problem == "missing":
        files.server_cert.unlink()
        expected = "has no server.pem"
    elif problem == "world-readable":
        os.chmod(files.server_key, 0o644)
        expected = "chmod 600"
    elif problem == "other-ca":
        other = make_tls(tmp_path / "other")
        files.ca_cert.write_bytes(other.ca_cert.read_bytes())
        expected = "is not signed by"
    elif problem == "host":
        hosts = ("192.0.2.7",)
        expected = "does not name 192.0.2.7"
    else:
        files.server_cert.write_text("not a certificate")
        expected = "is not a PEM certificate"
    # Execute / Assert
    with pytest.raises(InputError, match=expected) as info:
        load_tls_dir(tmp_path / "tls", hosts=hosts)
    assert len(str(info.value)) < 300


def test_node_keys_are_p384_openssh_pairs_with_an_owner_only_private_half(tmp_path: Path) -> None:
    key = make_node_key(tmp_path / "nodes", "supernode-0")
    assert _mode(key.private_key) == 0o600 and _mode(tmp_path / "nodes") == 0o700
    private = load_ssh_private_key(key.private_key.read_bytes(), None)
    public = load_ssh_public_key(key.public_key.read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert private.curve.name == public.curve.name == "secp384r1"
    assert private.public_key().public_numbers() == public.public_numbers()
    with pytest.raises(FileExistsError):  # never overwrites an existing key
        make_node_key(tmp_path / "nodes", "supernode-0")


def test_node_config_text_is_what_flower_parses_back() -> None:
    entries = {"partition-id": "3", "num-partitions": "4", "secrets": "/a b/node-3.key"}
    parsed = parse_config_args([node_config_arg(entries)])
    assert parsed == {"partition-id": 3, "num-partitions": 4, "secrets": "/a b/node-3.key"}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"insecure": True, "tls": "files"}, "exclude each other"),
        ({"attach": 9999}, "--attach needs the SuperLink's CA"),
        ({"extra_node_config": ({"a": "1"},)}, "one per SuperNode"),
    ],
)
def test_contradictory_federation_options_are_refused(
    tmp_path: Path, kwargs: dict[str, Any], expected: str
) -> None:
    if kwargs.get("tls") == "files":
        kwargs["tls"] = make_tls(tmp_path / "tls")
    with pytest.raises(InputError, match=expected):
        LocalFederation(tmp_path / "fed", num_supernodes=2, **kwargs)


# -- processes ----------------------------------------------------------------------------

ORPHAN_MAKER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("tracked", [True, False])
def test_a_killed_roots_orphan_is_stopped(tracked: bool) -> None:
    # Prepare: a root in its own session whose child outlives it when the root is SIGKILLed
    root = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_MAKER], stdout=subprocess.PIPE, start_new_session=True
    )
    assert root.stdout is not None
    child = int(root.stdout.readline())
    tracker = ProcessTracker(interval_s=0.1)
    if tracked:
        tracker.watch(root)  # sees the child as a descendant before the root dies
    root.send_signal(signal.SIGKILL)
    root.wait()
    time.sleep(0.2)
    assert _alive(child)  # the orphan lives on: a plain tree walk from the root finds nothing
    # Execute: tracked -> found by the tracker; untracked -> found by its session id
    stop_processes([root], timeout_s=5, known=tracker.known())
    tracker.close()
    # Assert
    assert not _alive(child)


# -- resume on the in-memory grid -----------------------------------------------------------


def test_resume_from_the_serverapp_checkpoint_equals_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: sampling, dropout and a stateful server optimiser, so every stream matters
    config = parse_config(
        {
            "seed": 8,
            "data": {"num_clients": 4},
            "training": {"rounds": 3, "fraction": 0.75, "dropout_probability": 0.2},
            "strategy": {"name": "fedyogi", "params": {"server_lr": 0.03}},
            "scenarios": [{"name": "t", "uplink": {"kind": "teleport",
                           "link": {"fidelity": 0.97}, "bits": 16}}],
        }
    )  # fmt: skip
    # one run secret for all three serves, read by each end from its own party file as in a
    # real run (ends with unrelated secrets would disagree on every check and abort)
    secrets = write_party_secrets(
        tmp_path / "secrets", RunSecret.generate(), scenarios=["t"], num_clients=4, num_nodes=2
    )
    job = FlowerJob(
        config.model_dump_json(), "t", 2, str(tmp_path / "t.json"), secrets_dir=str(secrets)
    )

    def grid() -> InlineGrid:
        return InlineGrid(make_client_app(lambda _ctx: job), 2)

    reference = serve(grid(), job)
    reference_params = np.load(tmp_path / "t.npy")
    # Execute: interrupt while round 3 is aggregated, then serve again from the checkpoint
    ckpt = tmp_path / "t.pt"
    real = flower_server.ChannelStrategy.aggregate_train

    def interrupted(self: Any, server_round: int, replies: Any) -> Any:
        if server_round + self.round_offset == 3:
            raise KeyboardInterrupt
        return real(self, server_round, replies)

    monkeypatch.setattr(flower_server.ChannelStrategy, "aggregate_train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        serve(grid(), job, checkpoint=ckpt)
    assert load_checkpoint(ckpt)[0].round == 2
    monkeypatch.setattr(flower_server.ChannelStrategy, "aggregate_train", real)
    second = grid()
    resumed = serve(second, job, checkpoint=ckpt)
    # Assert: only round 3 was sent; records and parameters equal the uninterrupted run
    trained = [m for m in second.sent if m.metadata.message_type == "train"]
    assert {int(str(m.content.config_records["qtfl"]["round"])) for m in trained} == {3}
    clockless = [{**r.as_dict(), "wall_seconds": 0, "train_seconds": 0} for r in resumed]
    assert clockless == [{**r.as_dict(), "wall_seconds": 0, "train_seconds": 0} for r in reference]
    assert np.load(tmp_path / "t.npy").tobytes() == reference_params.tobytes()
    assert load_checkpoint(ckpt)[0].round == 3


def test_resume_of_another_configuration_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    # Prepare: an --out holding a (started) run of one configuration
    first = parse_config({"seed": 1, "data": {"num_clients": 2}, "training": {"rounds": 2}})
    other = parse_config({"seed": 2, "data": {"num_clients": 2}, "training": {"rounds": 2}})
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text(first.model_dump_json())
    before = sorted(p.name for p in out.rglob("*"))
    # Execute / Assert
    with pytest.raises(InputError, match="different configuration"):
        run_on_flower(other, out_dir=out, engine="flower-sim", resume=True)
    with pytest.raises(InputError, match="holds no run to continue"):
        run_on_flower(first, out_dir=tmp_path / "empty", engine="flower-sim", resume=True)
    with pytest.raises(InputError, match="exclude each other"):
        FlowerOptions(insecure=True, tls=make_tls(tmp_path / "tls"))
    assert sorted(p.name for p in out.rglob("*")) == before
    assert not (tmp_path / "empty").exists()


def test_a_stoppable_grid_stops_waiting_for_replies_once_stopped() -> None:
    # Prepare: a grid whose nodes never answer, and a 60 s round timeout
    import threading

    from qtfl.flower.interrupt import RunInterrupted, StoppableGrid

    class Silent(InlineGrid):
        def push_messages(self, messages: Any) -> list[str]:
            return ["m1", "m2"]

        def pull_messages(self, message_ids: Any) -> list[Any]:
            return []

    stop = threading.Event()
    grid = StoppableGrid(Silent(make_client_app(lambda _ctx: None), 1), stop)  # type: ignore[arg-type]
    threading.Timer(0.3, stop.set).start()
    # Execute / Assert: raises within a second of the stop, not after the timeout
    t0 = time.monotonic()
    with pytest.raises(RunInterrupted):
        grid.send_and_receive([], timeout=60.0)
    assert time.monotonic() - t0 < 1.5
