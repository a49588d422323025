"""``qtfl reproduce paper``: a reduced quick run with a skipped data set, resume, bad input."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from qtfl.errors import InputError
from qtfl.experiments.paper_report import write_paper_report
from qtfl.experiments.reproduce import PAPER_DATASETS, paper_config, reproduce_paper
from tests.experiments.test_report import CHROMIUM, PROBE
from tests.experiments.test_runner import run_cli

# The shipped scenarios, cut to the cheap ones (no FEC decoding) and two rounds, so the test
# runs in seconds: the Shen 2023 link (published rate), an eavesdropper on every pair of two
# clients, and sign-flip poisoning over plaintext and teleportation.
SCENARIOS: list[dict[str, Any]] = [
    {"name": "classical"},
    {"name": "teleport-raw", "uplink": {"kind": "teleport", "link": {"preset": "shen2023"}}},
    {"name": "teleport-raw-f95", "uplink": {"kind": "teleport", "link": {"fidelity": 0.95}}},
    {"name": "eve-1", "uplink": {"kind": "teleport", "link": {"preset": "shen2023"}},
     "eavesdroppers": [{"clients": [0, 1], "attack": "intercept-resend", "fraction": 1.0}]},
    {"name": "poison-classical",
     "adversaries": [{"clients": [0, 1, 2], "attack": "sign-flip", "scale": 3.0}]},
    {"name": "poison-teleport", "uplink": {"kind": "teleport", "link": {"fidelity": 0.95}},
     "adversaries": [{"clients": [0, 1, 2], "attack": "sign-flip", "scale": 3.0}]},
]  # fmt: skip
SMALL = {"training": {"rounds": 2}, "seeds": [0, 1], "scenarios": SCENARIOS}


def overrides(empty: Path) -> dict[str, dict[str, Any]]:
    return {"*": SMALL, "mnist": {"data": {"root": str(empty)}}}


@pytest.fixture(scope="module")
def quick_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("reproduce")
    (base / "empty").mkdir()
    out = base / "out"
    reproduce_paper(out_dir=out, quick=True, datasets=["digits", "mnist"],
                    overrides=overrides(base / "empty"))  # fmt: skip
    return out


def page_text(out: Path) -> str:
    page = (out / "report.html").read_text(encoding="utf-8")
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", page)))


def test_quick_report_has_every_section_and_names_the_skipped_data_set(quick_dir: Path) -> None:
    # Prepare: the fixture ran digits and an mnist whose root is an empty folder
    result = json.loads((quick_dir / "reproduce.json").read_text())
    page = (quick_dir / "report.html").read_text(encoding="utf-8")

    # Assert: digits ran from quick.yaml (reduced), mnist skipped with its fetch command
    assert [d["status"] for d in result["datasets"]] == ["ran", "skipped"]
    assert result["skipped"] == ["mnist"]
    assert result["datasets"][0]["seeds"] == [0, 1] and result["datasets"][0]["rounds"] == 2
    text = page_text(quick_dir)
    assert "qtfl data fetch mnist" in text
    assert "then run again with --resume" in text
    for section in ("findings", "dataset-digits", "skipped", "wall-time"):
        assert f'id="{section}"' in page
    for fig in ("digits-bands", "digits-cost", "digits-overhead", "digits-detection"):
        assert f'<figure id="{fig}"><img' in page
    for table in ("findings-digits", "digits-scenarios", "digits-privacy"):
        assert f'<table id="{table}">' in page
    assert 'id="dataset-mnist"' not in page
    # the privacy table has both attacker positions, the findings table every claim
    text = re.sub(r"\s+", " ", text)
    assert "eavesdropper analytic" in text and "server analytic" in text
    assert "The curious server still sees every update" not in text  # no FEC scenario here
    assert "Teleportation does nothing against poisoning" in text or "helps against" in text
    assert "Not at today's published pair rate" not in text  # teleport-fec absent: not measured
    # every CSV it links exists
    for name in re.findall(r'href="report-data/([^"]+)"', page):
        assert (quick_dir / "report-data" / name).is_file()
    rows = (quick_dir / "report-data" / "digits-detection.csv").read_text().splitlines()
    assert rows[0].startswith("scenario,fraction,detection_rate") and rows[1].startswith("eve-1,1")


def test_each_data_set_is_an_ordinary_multi_seed_run(quick_dir: Path) -> None:
    run = quick_dir / "digits"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["seeds"] == [0, 1]
    assert set(summary["scenarios"]) == {s["name"] for s in SCENARIOS}
    assert (run / "seeds" / "1" / "summary.json").is_file()
    # link time is real on the preset with a published rate, unknown on the direct pair
    assert summary["scenarios"]["teleport-raw"]["link_seconds_total"] > 0
    assert summary["scenarios"]["teleport-raw-f95"]["link_seconds_total"] is None


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_headless_chromium_draws_every_figure(quick_dir: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.html"
    probe.write_text((quick_dir / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [*CHROMIUM, f"--user-data-dir={tmp_path / 'p'}", "--virtual-time-budget=5000",
         "--dump-dom", probe.resolve().as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found is not None
    decoded = json.loads(html.unescape(found.group(1)))
    assert [d[0] for d in decoded] == [
        "digits-bands", "digits-cost", "digits-overhead", "digits-detection"
    ]  # fmt: skip
    assert all(w >= 600 and h >= 250 and complete for _, w, h, complete in decoded)


class Interrupt(Exception):
    pass


def test_an_interrupted_reproduction_continues_with_resume(tmp_path: Path) -> None:
    # Prepare: stop the run in the first round of seed 1 (seed 0 finished)
    small = {"*": {**SMALL, "scenarios": SCENARIOS[:2], "attacks": None}}

    def stop(label: str, record: Any, total: int) -> None:
        if "(seed 1)" in label:
            raise Interrupt

    out = tmp_path / "out"
    with pytest.raises(Interrupt):
        reproduce_paper(out_dir=out, quick=True, overrides=small, progress=stop)
    seed0 = out / "digits" / "seeds" / "0" / "summary.json"
    before = seed0.stat().st_mtime_ns
    assert not (out / "report.html").exists()

    # Execute: without --resume it refuses; with it, it finishes
    with pytest.raises(InputError, match="--resume"):
        reproduce_paper(out_dir=out, quick=True, overrides=small)
    result = reproduce_paper(out_dir=out, quick=True, resume=True, overrides=small)

    # Assert: seed 0 was not run again, the report exists, a second resume runs nothing
    assert seed0.stat().st_mtime_ns == before
    assert Path(result["report"]).is_file()
    summary = json.loads((out / "digits" / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["scenarios"]["classical"]["rounds"] == 2
    again = reproduce_paper(out_dir=out, quick=True, resume=True, overrides=small)
    assert again["datasets"][0]["wall_seconds"] == result["datasets"][0]["wall_seconds"]


def test_unknown_data_set_or_preset_names_the_allowed_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InputError, match="allowed: digits, fashion-mnist, mnist, cifar10"):
        reproduce_paper(out_dir=tmp_path / "a", datasets=["imagenet"])
    with pytest.raises(InputError, match="allowed: valivarthi2020, shen2023"):
        reproduce_paper(out_dir=tmp_path / "a", preset="nowhere")
    with pytest.raises(InputError, match="presets with a published rate: shen2023"):
        reproduce_paper(out_dir=tmp_path / "a", preset="sun2016")
    # the CLI prints one line, no traceback, exit status 2
    assert run_cli(["reproduce", "paper", "--out", str(tmp_path / "b"), "--dataset", "x"]) == 2
    err = capsys.readouterr().err
    assert "unknown data set 'x'" in err and "Traceback" not in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_shipped_configurations_parse_with_every_scenario() -> None:
    names = None
    for ds in (*PAPER_DATASETS, "quick"):
        cfg = paper_config(ds)
        got = [s.name for s in cfg.scenarios or []]
        assert names is None or got == names
        names = got
        assert cfg.seeds and cfg.attacks is not None
    assert names is not None and {"classical", "aead", "pqc", "teleport-raw", "teleport-fec",
                                  "teleport-purified-fec", "qkd-otp-purified", "eve-0.05",
                                  "eve-0.25", "eve-1", "poison-teleport"} <= set(names)


def test_report_needs_a_reproduction(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"reproduce\.json does not exist"):
        write_paper_report(tmp_path)
