"""report.html: self-contained, plots and table present, text generated from the numbers;
rendered in headless Chromium to check that the page is not blank."""

from __future__ import annotations

import base64
import csv
import html.parser
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qtfl.experiments.config import parse_config
from qtfl.experiments.metrics import read_metrics
from qtfl.experiments.report import describe_run, render_report, write_report
from qtfl.experiments.runner import run_experiment
from qtfl.present.units import human_count
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


FIGURES = ["learning", "cost", "bell-pairs", "qber"]
E_NOTATION = re.compile(r"\d[eE][+-]?\d")


class Page(html.parser.HTMLParser):
    """Collects figures and their images, table ids, row headers, links, and the text of
    paragraphs and list items."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.figures: list[str] = []
        self.tables: list[str] = []
        self.row_headers: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.bullets: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
            return  # void element
        if tag == "figure":
            self.figures.append(a.get("id") or "")
        if tag == "table":
            self.tables.append(a.get("id") or "")
        if tag == "a":
            self.links.append(a.get("href") or "")
        if tag == "li":
            self.bullets.append("")
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in[-1:] == ["th"] and "tbody" in self._in:
            self.row_headers.append(data)
        if self._in[-1:] == ["p"]:
            self.text.append(data)
        if "li" in self._in:
            self.bullets[-1] += data


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text())
    return page


def _without_images_and_hash(page: str) -> str:
    """``page`` without embedded images and the configuration hash (hex digits such as
    ``8e92`` are no e-notation)."""
    text = re.sub(r'src="data:[^"]*"', "", page)
    return re.sub(r"<code>[0-9a-f]{16,64}</code>", "<code>hash</code>", text)


def visible_text(path: Path) -> str:
    """The page without its embedded images and its configuration hash."""
    return _without_images_and_hash(path.read_text())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    run_experiment(parse_config(RAW), out_dir=out)
    return out


def test_report_has_headlines_summary_four_figures_and_the_eavesdropper_table(
    run_dir: Path,
) -> None:
    page = parse(run_dir / "report.html")
    assert page.figures == FIGURES
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    for src in page.images:
        png = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert png.width >= 800 and png.height >= 250
        assert len(np.unique(np.asarray(png.convert("RGB")).reshape(-1, 3), axis=0)) > 50
    assert page.tables == ["summary", "eavesdroppers", "timing"]
    assert page.row_headers[:2] == ["plain", "tele-eve"]
    summary = json.loads((run_dir / "summary.json").read_text())
    plain = summary["scenarios"]["plain"]
    tele = summary["scenarios"]["tele-eve"]
    assert len(page.bullets) == 3
    acc, cost, detect = page.bullets
    plain_acc = f"{100 * plain['final_accuracy']:.1f}%"
    assert acc.startswith(f"Final accuracy relative to plain (plain uplink, {plain_acc})")
    assert f"tele-eve {human_count(tele['bell_pairs_total'])} Bell pairs" in cost
    assert "rejected 2 of 2 updates from attacked client 3 (100.0%) and 0 of 6 honest" in detect
    text = " ".join(page.text)
    assert f"plain (plain uplink) reached {100 * plain['final_accuracy']:.1f}%" in text
    assert "eavesdropper sat on the links of client 3: 2 of 2 of their updates" in text
    assert not E_NOTATION.search(visible_text(run_dir / "report.html"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_every_plotted_series_is_a_linked_csv_with_the_run_numbers(run_dir: Path) -> None:
    data = run_dir / "report-data"
    names = ["bell_pairs.csv", "qber.csv", "rounds.csv", "summary.csv"]
    assert sorted(p.name for p in data.iterdir()) == names
    assert set(parse(run_dir / "report.html").links) == {f"report-data/{n}" for n in names}
    summary = json.loads((run_dir / "summary.json").read_text())
    records = read_metrics((run_dir / "metrics.jsonl").read_text())

    rounds = read_csv(data / "rounds.csv")
    assert len(rounds) == sum(len(r) for r in records.values())
    for name, recs in records.items():
        rows = [r for r in rounds if r["scenario"] == name]
        assert [float(r["accuracy"]) for r in rows] == [r.accuracy for r in recs]  # exact
        assert [float(r["loss"]) for r in rows] == [r.loss for r in recs]
        assert int(rows[-1]["cumulative_bell_pairs"]) == summary["scenarios"][name][
            "bell_pairs_total"
        ]
        assert float(rows[-1]["cumulative_link_seconds"]) == pytest.approx(
            summary["scenarios"][name]["link_seconds_total"], rel=1e-12
        )
    for row in read_csv(data / "bell_pairs.csv"):
        s = summary["scenarios"][row["scenario"]]
        parts = [int(row[k]) for k in ("payload", "checks", "purification", "discarded")]
        assert parts == [
            s["payload_qubits_total"], s["check_pairs_total"], s["purification_pairs_total"],
            s["discarded_pairs_total"],
        ]  # fmt: skip
        assert sum(parts) == int(row["bell_pairs"]) == s["bell_pairs_total"]
    qber = read_csv(data / "qber.csv")
    measured = [
        (name, r.round, k, q)
        for name, recs in records.items()
        for r in recs
        for k, q in zip(r.clients["client"], r.clients["qber"], strict=True)
        if q is not None
    ]
    assert [(q["scenario"], int(q["round"]), int(q["client"]), float(q["qber"])) for q in qber] == (
        measured
    )
    assert {q["client"] for q in qber if q["eavesdropped"] == "true"} == {"3"}
    text = "".join(p.read_text() for p in data.iterdir())
    assert not E_NOTATION.search(text)


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
    assert "using 1.2 k Bell pairs (1 k payload qubits, 100 checks, 100 for purification)" in text
    assert "link publishes no pair rate, so link time is unknown" in text
    assert "safety net rejected 2 updates" in text


PRIVACY = {
    name: {
        "target_client": 0,
        "inversion": {
            "eavesdropper/analytic": {
                "attacker": "eavesdropper", "method": "analytic", "held_payload": True,
                "psnr_db": psnr, "ssim": -0.00918, "label_accuracy": 0.0,
                "baseline_psnr_db": 6.18,
            },
            "server/ig": {"unsupported": "ig needs a model with a single output"},
        },
        "membership": {
            "members": 180,
            "loss": {"auc": 0.5338, "tpr_at_1pct_fpr": 0.0},
            "lira": {"auc": 0.4854, "tpr_at_1pct_fpr": 1.6e-5},
        },
        "epsilon": None,
    }
    for name, psnr in (("plain", 100.0), ("tele-eve", 6.04))
}  # fmt: skip


def test_privacy_tables_appear_when_attacks_ran_in_human_numbers(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    records = read_metrics((run_dir / "metrics.jsonl").read_text())
    assert 'id="privacy"' not in render_report(summary, records)  # no attacks configured

    page = render_report({**summary, "privacy": PRIVACY}, records)

    parsed = Page()
    parsed.feed(page)
    assert parsed.tables == ["summary", "eavesdroppers", "privacy-0", "privacy-1", "timing"]
    assert "<th>PSNR (dB)</th>" in page and "<th>TPR at 1% FPR</th>" in page
    assert "<td>-0.00918</td>" in page and "<td>0.000016</td>" in page  # never 1.6e-05
    assert "ig needs a model with a single output" in page
    assert not E_NOTATION.search(visible_text(run_dir / "report.html"))


def test_unknown_link_time_and_a_regression_metric(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    records = read_metrics((run_dir / "metrics.jsonl").read_text())
    tele = {**summary["scenarios"]["tele-eve"], "link_seconds_total": None,
            "link_rate_known": False}  # fmt: skip
    changed = {**summary, "metric": "r2", "scenarios": {**summary["scenarios"], "tele-eve": tele}}

    page = render_report(changed, records)

    parsed = Page()
    parsed.feed(page)
    assert parsed.figures == FIGURES  # the cost figure keeps its Bell-pair panel
    assert "link time is unknown and not drawn" in page
    assert parsed.bullets[0].startswith("Final R² relative to plain (plain uplink, ")
    assert "link time unknown (no published pair rate)" in parsed.bullets[1]
    assert "<th>R²</th>" in page and "<th>accuracy</th>" not in page


def written(run_dir: Path) -> dict[str, bytes]:
    files = [run_dir / "report.html", *(run_dir / "report-data").iterdir()]
    return {p.name: p.read_bytes() for p in files}


def test_qtfl_report_rerenders_the_same_page_and_data(run_dir: Path) -> None:
    before = written(run_dir)
    (run_dir / "report.html").unlink()
    shutil.rmtree(run_dir / "report-data")
    assert run_cli(["report", str(run_dir)]) == 0
    assert written(run_dir) == before
    assert write_report(run_dir) == run_dir / "report.html"


CHROMIUM = [
    "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
]  # fmt: skip
PROBE = """<script>window.addEventListener("load", () => {
  const out = document.createElement("pre"); out.id = "probe";
  out.textContent = JSON.stringify([...document.images].map(
    i => [i.closest("figure").id, i.naturalWidth, i.naturalHeight, i.complete]));
  document.body.appendChild(out);
});</script>"""


def colour_pixels(img: np.ndarray, rgb: tuple[int, int, int]) -> int:
    pixels = img.reshape(-1, 3).astype(int)
    return int((np.abs(pixels - rgb).sum(axis=1) < 30).sum())


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (make browser installs it where apt runs as root)",
)
def test_headless_chromium_decodes_and_draws_every_figure(run_dir: Path, tmp_path: Path) -> None:
    # Chromium decodes every embedded figure (a page copy reports each image's natural size)
    probe = tmp_path / "probe.html"
    probe.write_text((run_dir / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [*CHROMIUM, f"--user-data-dir={tmp_path / 'p1'}", "--virtual-time-budget=5000",
         "--dump-dom", probe.resolve().as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found is not None
    decoded = json.loads(html.unescape(found.group(1)))
    assert [d[0] for d in decoded] == FIGURES
    assert all(w >= 800 and h >= 250 and complete for _, w, h, complete in decoded)

    # and the screenshot shows them: colours that only the figures draw
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*CHROMIUM, f"--user-data-dir={tmp_path / 'p2'}", f"--screenshot={shot}",
         "--window-size=1280,4000", (run_dir / "report.html").resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape == (4000, 1280, 3)
    assert img.std() > 20  # a blank page has std 0
    assert colour_pixels(img, (31, 119, 180)) > 500  # C0: the plain scenario's curves
    assert colour_pixels(img, (255, 127, 14)) > 500  # C1: tele-eve's curves (learning, cost)
    assert colour_pixels(img, (76, 114, 176)) > 500  # payload bars
    assert colour_pixels(img, (221, 132, 82)) > 100  # check-pair bars
    assert colour_pixels(img, (196, 78, 82)) > 100  # discarded bars (the attacked attempts)
    assert colour_pixels(img, (214, 39, 40)) > 20  # QBER panel: red crosses, attacked link
