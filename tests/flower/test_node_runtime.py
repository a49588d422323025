"""The SuperNode process qtfl starts (:mod:`qtfl.flower.node_runtime`).

* The SuperNode's two fixed waits are found in the installed Flower's source and shortened
  there only; other sleeps keep their length; a Flower without them is left alone.
* The Runtime API address (and the SuperLink's CA) come from the daemon's own options, as
  Flower's superexec gets them; options qtfl sets itself are refused.
* A launcher whose SuperNode dies exits and leaves no process behind (its fork server too).

Deployed runs through the launcher (results equal to in-process, a killed SuperNode leaving
no orphan) are in test_deploy.py, test_quickstart.py and test_hosts.py.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from flwr.supernode import start_client_internal

from qtfl.flower import node_runtime
from qtfl.flower.deploy import flower_env, free_port


class _Clock:
    """Records the sleeps it is asked for; anything else comes from :mod:`time`."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


def test_polled_time_shortens_only_the_named_waits() -> None:
    # Prepare
    clock = _Clock()
    polled = node_runtime._PolledTime({3: 0.5, 0.5: 0.1}, real=clock)
    # Execute
    for seconds in (3, 0.5, 1.25, 3.5, 0):
        polled.sleep(seconds)
    # Assert
    assert clock.slept == [0.5, 0.1, 1.25, 3.5, 0]
    assert polled.monotonic is time.monotonic  # everything else is the real module


def test_the_installed_supernode_has_both_waits_and_only_its_module_is_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prepare: restore the module's own ``time`` afterwards
    monkeypatch.setattr(start_client_internal, "time", time)
    # Execute
    changed = node_runtime.shorten_supernode_waits()
    # Assert: a Flower upgrade that drops either wait fails here, not silently in use
    assert changed
    patched = start_client_internal.time
    assert isinstance(patched, node_runtime._PolledTime)
    assert patched.waits == {3: node_runtime.IDLE_POLL_S, 0.5: node_runtime.REPLY_POLL_S}
    assert node_runtime.IDLE_POLL_S < 3 and node_runtime.REPLY_POLL_S < 0.5
    assert time.sleep is not patched.sleep  # the process-wide time module is untouched


def test_a_flower_without_those_waits_is_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Prepare: a module that sleeps 2 s, not 3 s
    path = tmp_path / "other_loop.py"
    path.write_text("import time\n\ndef loop():\n    time.sleep(2)\n    time.sleep(0.5)\n")
    spec = importlib.util.spec_from_file_location("other_loop", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Execute
    with caplog.at_level("WARNING", logger="qtfl.flower"):
        changed = node_runtime.shorten_supernode_waits(module)
    # Assert
    assert not changed
    assert module.time is time
    assert "other_loop has no time.sleep(3): its waits are left as they are" in caplog.text


@pytest.mark.parametrize(
    ("args", "link", "address", "ca"),
    [
        (["--superlink", "10.0.0.1:9092", "--port", "40123"], False, "127.0.0.1:40123", None),
        (["--host", "0.0.0.0", "--port", "40124", "--insecure"], False, "127.0.0.1:40124", None),
        (["--host", "::1", "--port", "40125"], False, "[::1]:40125", None),
        (["--superlink", "10.0.0.1:9092"], False, "127.0.0.1:9094", None),  # Flower's default
        (["--ssl-certfile", "s.pem", "--ssl-keyfile", "s.key", "--ssl-ca-certfile", "ca.pem",
          "--host", "127.0.0.2", "--port", "40126"], True, "127.0.0.2:40126", "ca.pem"),
        (["--insecure", "--port", "40127"], True, "127.0.0.1:40127", None),
    ],
)  # fmt: skip
def test_the_runtime_api_is_the_daemons_own(
    args: list[str], link: bool, address: str, ca: str | None
) -> None:
    # the address and CA Flower's own superexec would be given
    assert node_runtime._runtime_api(args, link=link) == (address, ca)


@pytest.mark.parametrize(
    ("args", "link", "named"),
    [
        (["--isolation", "subprocess"], False, "--isolation"),
        (["--isolation", "process"], True, "--isolation"),
        (["--ssl-certfile", "c.pem"], False, "without TLS"),
    ],
)
def test_options_qtfl_sets_itself_are_refused(args: list[str], link: bool, named: str) -> None:
    with pytest.raises(SystemExit, match=named):
        node_runtime._runtime_api(args, link=link)


def test_the_commands_run_this_module_with_flowers_arguments() -> None:
    module = [sys.executable, "-m", "qtfl.flower.node_runtime"]
    args = ["--insecure", "--port", "1"]
    assert node_runtime.supernode_command(args) == [*module, "supernode", *args]
    assert node_runtime.superlink_command(args) == [*module, "superlink", *args]


def test_a_launcher_whose_supernode_died_exits_and_leaves_no_process() -> None:
    # Prepare: a stand-in SuperNode (a sleeping process) whose API never answers
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    launcher = subprocess.Popen(
        [sys.executable, "-m", "qtfl.flower.node_runtime", "launcher", "--task", "clientapp",
         "--runtime-api-address", f"127.0.0.1:{free_port()}",
         "--parent-pid", str(parent.pid)],
        env=flower_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    root = psutil.Process(launcher.pid)
    deadline = time.monotonic() + 60
    children: list[psutil.Process] = []
    while not children and time.monotonic() < deadline:  # its fork server has started
        children = root.children(recursive=True)
        time.sleep(0.1)
    # Execute
    parent.kill()
    parent.wait()
    code = launcher.wait(timeout=60)
    # Assert
    assert children  # the fork server was running
    assert code == 0
    gone, alive = psutil.wait_procs(children, timeout=60)
    assert alive == [] and len(gone) == len(children)
