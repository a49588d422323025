"""The comparison table's rows: values computed from summary.json by hand, human text,
dashes for unknowns, and a rich rendering that keeps every scenario name whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from qtfl.present.run_table import (
    EavesdropperTally,
    baseline_name,
    format_metric_delta,
    headlines,
    rich_run_table,
    run_epilogue,
    run_table,
    table_caption,
    terminal_cells,
)


def scenario(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "uplink_kind": "plain", "final_accuracy": 0.9, "final_loss": 0.4, "rounds": 30,
        "target_accuracy": 0.95, "rounds_to_target": None, "bell_pairs_total": 0,
        "payload_qubits_total": 0, "check_pairs_total": 0, "purification_pairs_total": 0,
        "discarded_pairs_total": 0, "classical_bits_total": 1000, "link_seconds_total": 0.0,
        "link_rate_known": True, "detections": 0, "rejected_updates": 0,
        "rejected_by_checks": 0, "eavesdropped_clients": [], "mean_qber": None,
        "uplink": {"payload_bits": 1000, "bell_pairs": 0},
        "downlink": {"payload_bits": 1000, "bell_pairs": 0},
    }  # fmt: skip
    return {**base, **over}


SUMMARY = {
    "metric": "accuracy",
    "scenarios": {
        "teleport-eavesdropped-by-a-long-name": scenario(
            uplink_kind="teleport", final_accuracy=0.915, rounds_to_target=12,
            bell_pairs_total=66_597_400, payload_qubits_total=2_766_848,
            check_pairs_total=538_048, purification_pairs_total=61_217_368,
            discarded_pairs_total=2_075_136, link_seconds_total=2_010_817.8,
            detections=8, rejected_updates=8, rejected_by_checks=8,
            eavesdropped_clients=[0, 1], mean_qber=0.05,
            uplink={"payload_bits": 3_078_400, "bell_pairs": 66_597_400},
        ),
        "aead": scenario(uplink_kind="aead", final_accuracy=0.5),
        "classical": scenario(final_accuracy=0.9111),
        "no-rate": scenario(
            uplink_kind="teleport", final_accuracy=0.8944, bell_pairs_total=1200,
            payload_qubits_total=1000, check_pairs_total=200, link_seconds_total=None,
            link_rate_known=False, uplink={"payload_bits": 1000, "bell_pairs": 1200},
        ),
        "qkd": scenario(
            uplink_kind="qkd-otp", final_accuracy=0.9111, bell_pairs_total=4000,
            payload_qubits_total=0, check_pairs_total=100, purification_pairs_total=3000,
            discarded_pairs_total=900, link_seconds_total=90.0,
            uplink={"payload_bits": 1000, "bell_pairs": 4000},
        ),
    },
}  # fmt: skip


def test_rows_follow_the_summary_with_the_plain_uplink_as_baseline() -> None:
    table = run_table(SUMMARY)
    assert [r.name for r in table.rows] == list(SUMMARY["scenarios"])  # type: ignore[call-overload]
    assert table.baseline == "classical"  # plain before aead, whatever the order
    assert table.target_accuracy == 0.95
    eve = table.row("teleport-eavesdropped-by-a-long-name")
    assert eve.accuracy_delta == pytest.approx(0.915 - 0.9111)
    assert eve.pairs_per_payload_qubit == pytest.approx(66_597_400 / 2_766_848)
    assert eve.pairs_per_payload_bit == pytest.approx(66_597_400 / 3_078_400)
    assert eve.link_seconds == pytest.approx(2_010_817.8)
    qkd = table.row("qkd")
    assert qkd.pairs_per_payload_qubit is None  # no qubit carried payload
    assert qkd.pairs_per_payload_bit == pytest.approx(4.0)  # 4000 pairs for 1000 padded bits
    assert table.row("classical").is_baseline and table.row("classical").accuracy_delta is None


def test_cells_are_human_units_with_dashes_for_unknown_and_none() -> None:
    table = run_table(SUMMARY)
    eve, classical, no_rate = (
        table.row(n) for n in ("teleport-eavesdropped-by-a-long-name", "classical", "no-rate")
    )
    assert terminal_cells(eve) == [
        "teleport-eavesdropped-by-a-long-name", "91.5%", "+0.4", "12", "66.6 M", "24.1",
        "23.3 d", "8 / 8",
    ]  # fmt: skip
    # classical: no Bell pairs, link time not modelled -> dashes, never 0 s
    assert terminal_cells(classical) == ["classical", "91.1%", "—", "> 30", "—", "—", "—", "0 / 0"]
    assert no_rate.link_seconds is None and no_rate.link_time_text == "—"
    assert no_rate.accuracy_delta_text == "-1.7 pp"
    assert table.row("qkd").accuracy_delta_text == "±0.0 pp"
    # a classical link with latency has a known link time
    slow = run_table({"scenarios": {"slow": scenario(link_seconds_total=0.75)}}).rows[0]
    assert slow.link_seconds == 0.75 and slow.link_time_text == "750 ms"


def test_metric_delta_signs_and_regression() -> None:
    assert format_metric_delta(0.0061, metric="accuracy") == "+0.6 pp"
    assert format_metric_delta(-0.0004, metric="accuracy") == "±0.0 pp"
    assert format_metric_delta(-0.0123, metric="r2") == "-0.012"
    assert format_metric_delta(None, metric="accuracy") == "—"
    r2 = run_table({"metric": "r2", "scenarios": {"a": scenario(final_accuracy=0.8)}})
    assert r2.metric_label == "R²" and r2.rows[0].accuracy_text == "0.8"


def test_baseline_falls_back_to_aead_then_none() -> None:
    assert baseline_name({"q": {"uplink_kind": "teleport"}, "a": {"uplink_kind": "aead"}}) == "a"
    table = run_table({"scenarios": {"q": scenario(uplink_kind="teleport")}})
    assert table.baseline is None and table.rows[0].accuracy_delta_text == "—"
    assert "no classical baseline" in headlines(table)[0].lower()


def test_headlines_compare_with_classical_and_count_detections() -> None:
    tally = EavesdropperTally(
        attacked_updates=60, attacked_rejected=57, honest_updates=240, honest_rejected_by_checks=1
    )
    table = run_table(SUMMARY, tallies={"teleport-eavesdropped-by-a-long-name": tally})
    acc, cost, detect = headlines(table)
    assert acc.startswith("Final accuracy relative to classical (plain uplink, 91.1%)")
    assert "teleport-eavesdropped-by-a-long-name +0.4 pp" in acc and "no-rate -1.7 pp" in acc
    assert "66.6 M Bell pairs (21.6 per payload bit), 23.3 d of link time" in cost
    assert "no-rate 1.2 k Bell pairs (1.2 per payload bit), link time unknown" in cost
    assert "qkd 4 k Bell pairs (4 per payload bit), 1.5 min of link time" in cost
    assert "rejected 57 of 60 updates from attacked clients 0, 1 (95.0%)" in detect
    assert "1 of 240 honest updates" in detect
    assert not re.search(r"\d[eE][+-]?\d", " ".join(headlines(table)))


def test_headlines_without_eavesdropper() -> None:
    raw = {"scenarios": {"classical": scenario(), "t": SUMMARY["scenarios"]["no-rate"]}}  # type: ignore[index]
    assert headlines(run_table(raw))[2] == (
        "No eavesdropper was configured; updates rejected by the checks on honest links: t 0."
    )


def rendered(table_width: int, summary: dict) -> str:
    console = Console(width=table_width, record=True, color_system=None)
    console.print(rich_run_table(run_table(summary), width=table_width))
    return console.export_text()


@pytest.mark.parametrize("width", [80, 100, 200])
def test_rich_table_keeps_every_name_and_value_whole(width: int) -> None:
    names = ["teleport-eavesdropped", "classical", "no-rate", "qkd", "aead"]
    raw = dict(zip(names, SUMMARY["scenarios"].values(), strict=True))  # type: ignore[attr-defined]
    text = rendered(width, {"scenarios": raw})
    for row in run_table({"scenarios": raw}).rows:
        line = next(line for line in text.splitlines() if line.startswith(row.name + " "))
        for cell in terminal_cells(row)[1:]:
            assert f" {cell}" in line, (row.name, cell, line)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    assert "…" not in text


def test_a_name_too_long_for_the_terminal_folds_but_values_stay_on_one_line() -> None:
    text = rendered(80, SUMMARY)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("teleport-eave"))
    name = lines[first].split()[0] + lines[first + 1].split()[0]
    assert name == "teleport-eavesdropped-by-a-long-name"
    assert lines[first].split()[1:] == ["91.5%", "+0.4", "12", "66.6", "M", "24.1", "23.3",
                                        "d", "8", "/", "8"]  # fmt: skip
    assert max(len(line.rstrip()) for line in lines) <= 80 and "…" not in text


def test_caption_and_epilogue(tmp_path: Path) -> None:
    assert "difference" not in table_caption(run_table(SUMMARY))  # it says "minus"
    assert "minus that of classical" in table_caption(run_table(SUMMARY))
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "report.html").write_text("")
    assert run_epilogue(tmp_path) == [
        f"wrote summary.json, report.html in {tmp_path}",
        f"open {tmp_path / 'report.html'}",
    ]
