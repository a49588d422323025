"""The installable package: ``pip install . -c constraints.txt`` in a fresh venv installs the
core only (no flwr, ray, qiskit, opacus), ships the example configs, runs the quickstart, and
a Flower run without the extra names ``pip install 'qtfl[flower]'``.

Cost: one venv and one pip install of the core (torch's CPU wheel from the local wheel
directory or the index; the constraints pin it to 2.13.0, so no CUDA build is fetched):
measured 3.2 and 7.0 min on a loaded 2-core machine (the install 4.4 min in the slower
run), most of it unpacking torch. Runs under ``make test`` (markers ``integration`` and
``packaging``; ``-m 'not packaging'`` skips it locally).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_SHIP = ("src", "configs", "pyproject.toml", "setup.py", "README.md", "constraints.txt")


def _copy_sources(dest: Path) -> Path:
    """The files a build reads, copied so the build leaves the checkout untouched."""
    for name in _SHIP:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.egg-info", ".mypy_cache"))  # fmt: skip
        else:
            shutil.copy2(src, dest / name)
    return dest


@pytest.mark.integration
@pytest.mark.packaging
def test_core_install_runs_the_quickstart_without_extras(tmp_path: Path) -> None:
    # Prepare: a fresh venv and a copy of the sources
    source = _copy_sources(tmp_path / "qtfl-src")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py, qtfl = venv / "bin" / "python", venv / "bin" / "qtfl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    # Execute: install the core with the repository's pins
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", str(source),
         "-c", str(source / "constraints.txt")],
        capture_output=True, text=True, timeout=1800, env=env, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    freeze = subprocess.run([str(py), "-m", "pip", "freeze"], capture_output=True, text=True,
                            check=True, env=env).stdout.lower()  # fmt: skip
    names = {line.split("==")[0] for line in freeze.splitlines()}
    # Assert: core only, torch on its CPU build
    assert {"flwr", "ray", "qiskit", "qiskit-aer", "opacus"}.isdisjoint(names), names
    assert "torch==2.13.0" in freeze and not any(n.startswith("nvidia") for n in names)
    version = subprocess.run([str(qtfl), "-V"], capture_output=True, text=True, env=env,
                             check=True).stdout  # fmt: skip
    assert version.strip() == "qtfl 0.1.0"
    listed = subprocess.run([str(qtfl), "configs", "--json"], capture_output=True, text=True,
                            env=env, check=True, cwd=tmp_path).stdout  # fmt: skip
    shipped = json.loads(listed)["configs"]
    assert "quickstart" in shipped and "site-packages" in shipped["quickstart"]["path"]
    # the quickstart, by its shipped name, one round
    run = subprocess.run(
        [str(qtfl), "run", "quickstart", "--out", str(tmp_path / "run"), "--json",
         "--set", "training.rounds=1"],
        capture_output=True, text=True, env=env, timeout=1200, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert set(summary["scenarios"]) >= {"classical", "teleport-corrected"}
    # a Flower run without the extra: one line naming the extra, exit 2, no traceback
    flower = subprocess.run(
        [str(qtfl), "run", "quickstart", "--out", str(tmp_path / "fl"), "--engine", "flower-sim",
         "--set", "training.rounds=1"],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert flower.returncode == 2
    assert "pip install 'qtfl[flower]'" in flower.stderr
    assert "Traceback" not in flower.stderr
