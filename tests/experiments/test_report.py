"""report.html: self-contained, plots and table present, text generated from the numbers;
rendered in headless Chromium to check that the page is not blank."""

from __future__ import annotations

import html.parser
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qtfl.experiments.config import parse_config
from qtfl.experiments.report import describe_run, write_report
from qtfl.experiments.runner import run_experiment
from tests.experiments.test_runner import run_cli

RAW = {
    "seed": 1,
    "data": {"name": "digits", "num_clients": 4},
    "model": {"name": "mlp", "hidden": 16},
    "training": {"rounds": 2, "local_epochs": 1, "batch_size": 20},
    "evaluation": {"target_accuracy": 0.5},
    "scenarios": [
        {"name": "plain"},
        {
            "name": "tele-eve",
            "uplink": {"kind": "teleport", "link": {"fidelity": 0.99, "pair_rate_hz": 1e6},
                       "fec": "auto"},
            "eavesdroppers": [{"clients": [3], "attack": "intercept-resend"}],
        },
    ],
}  # fmt: skip


class Page(html.parser.HTMLParser):
    """Collects the <img> sources, table ids and row headers, and the paragraphs' text."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables: list[str] = []
        self.row_headers: list[str] = []
        self.text: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        if tag == "table":
            self.tables.append(a.get("id") or "")
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in[-1:] == ["th"] and "tbody" in self._in:
            self.row_headers.append(data)
        if self._in[-1:] == ["p"]:
            self.text.append(data)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    run_experiment(parse_config(RAW), out_dir=out)
    return out


def test_report_embeds_three_plots_and_the_summary_table(run_dir: Path) -> None:
    page = Page()
    page.feed((run_dir / "report.html").read_text())
    assert len(page.images) == 3  # accuracy, pairs + link time, QBER per link
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert all(len(src) > 10_000 for src in page.images)
    assert page.tables == ["summary", "timing"]
    assert page.row_headers[:2] == ["plain", "tele-eve"]
    text = " ".join(page.text)
    summary = json.loads((run_dir / "summary.json").read_text())
    plain = summary["scenarios"]["plain"]
    assert f"plain (plain uplink) reached {100 * plain['final_accuracy']:.1f}%" in text
    assert "eavesdropper sat on the links of client 3: 2 of 2 of their updates" in text


def test_describe_run_reports_the_numbers_it_is_given() -> None:
    scen = {
        "uplink_kind": "teleport", "final_accuracy": 0.9, "rounds_to_target": None,
        "target_accuracy": 0.95, "bell_pairs_total": 1200, "payload_qubits_total": 1000,
        "check_pairs_total": 100, "purification_pairs_total": 100, "discarded_pairs_total": 0,
        "classical_bits_total": 2000, "link_seconds_total": None, "eavesdropped_clients": [],
        "rejected_by_safety_net": 2,
    }  # fmt: skip
    base = {**scen, "uplink_kind": "plain", "final_accuracy": 0.925, "bell_pairs_total": 0}
    summary = {"model": "mlp", "data": "digits", "num_clients": 2, "seed": 0,
               "scenarios": {"base": base, "q": scen}}  # fmt: skip
    text = " ".join(describe_run(summary))
    assert "q (teleport uplink) reached 90.0%, 2.5 points below base" in text
    assert "it never reached the target 95.0%" in text
    assert "using 1,200 Bell pairs (1,000 payload qubits, 100 checks, 100 for purification)" in text
    assert "link publishes no pair rate, so link time is unknown" in text
    assert "safety net rejected 2 updates" in text


def test_qtfl_report_rerenders_the_same_page(run_dir: Path) -> None:
    before = (run_dir / "report.html").read_bytes()
    (run_dir / "report.html").unlink()
    assert run_cli(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").read_bytes() == before
    assert write_report(run_dir) == run_dir / "report.html"


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (make browser installs it where apt runs as root)",
)
def test_headless_chromium_renders_a_page_that_is_not_blank(run_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "shot.png"
    cmd = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
        "--window-size=1280,2400", (run_dir / "report.html").resolve().as_uri(),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape == (2400, 1280, 3)
    assert img.std() > 20  # a blank page has std 0
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 200  # text, table shading and the plots' lines and markers
    # the plots are drawn: pixels of the first line colour (matplotlib C0, #1f77b4)
    pixels = img.reshape(-1, 3).astype(int)
    assert (np.abs(pixels - [31, 119, 180]).sum(axis=1) < 30).sum() > 500
