"""The series the report plots, as typed rows, and their CSV files.

The report's figures draw from these rows and ``report-data/*.csv`` is written from the same
rows, so every plotted point can be read back as a number:

* ``rounds.csv`` — per scenario and round: accuracy, loss, Bell pairs and link time of the
  round and cumulated up to it (:class:`RoundPoint`);
* ``bell_pairs.csv`` — per scenario: the Bell pairs split into payload, checks, purification
  and discarded (the stacked bars);
* ``qber.csv`` — per scenario, round and client link: the QBER the checks measured, the
  abort threshold and whether the link was attacked (:class:`QberPoint`);
* ``summary.csv`` — the report's summary table with raw values.

Empty cells mean unknown (no evaluation that round, no checks, a link without a published
pair rate). Floats are written positionally with every significant digit (never
e-notation); they read back exactly with ``float``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from itertools import accumulate
from typing import Any

import numpy as np

from qtfl.experiments.metrics import round_figures
from qtfl.fl.engine import RoundMetrics
from qtfl.present.run_table import EavesdropperTally, RunTable

Records = Mapping[str, Sequence[RoundMetrics]]


@dataclass(frozen=True)
class RoundPoint:
    """One scenario's round: what the learning and cost curves plot."""

    scenario: str
    round: int
    accuracy: float | None
    loss: float | None
    bell_pairs: int
    cumulative_bell_pairs: int
    link_seconds: float | None
    cumulative_link_seconds: float | None


@dataclass(frozen=True)
class QberPoint:
    """One uplink delivery's check result (``qber`` is ``None`` when it ran no checks)."""

    scenario: str
    round: int
    client: int
    qber: float | None
    qber_bound: float | None
    eavesdropped: bool


@dataclass(frozen=True)
class PairSplit:
    """Where one scenario's Bell pairs went (the four parts add up to ``bell_pairs``)."""

    scenario: str
    payload: int
    checks: int
    purification: int
    discarded: int
    bell_pairs: int


def round_points(records: Records, *, rate_known: Mapping[str, bool]) -> list[RoundPoint]:
    """Every scenario's rounds with running totals of Bell pairs and link time.

    Link time is ``None`` throughout for a scenario whose link has no published pair rate.
    """
    out: list[RoundPoint] = []
    for name, recs in records.items():
        known = rate_known.get(name, True)
        pairs = [int(round_figures(r)["bell_pairs"]) for r in recs]
        secs = [float(r.link_seconds) for r in recs]
        for r, p, cp, s, cs in zip(
            recs, pairs, accumulate(pairs), secs, accumulate(secs), strict=True
        ):
            out.append(
                RoundPoint(
                    scenario=name,
                    round=r.round,
                    accuracy=r.accuracy,
                    loss=r.loss,
                    bell_pairs=p,
                    cumulative_bell_pairs=cp,
                    link_seconds=s if known else None,
                    cumulative_link_seconds=cs if known else None,
                )
            )
    return out


def qber_points(records: Records, *, eavesdropped: Mapping[str, Sequence[int]]) -> list[QberPoint]:
    """Every uplink delivery's measured QBER, threshold and attacked flag."""
    out: list[QberPoint] = []
    for name, recs in records.items():
        attacked = set(eavesdropped.get(name, ()))
        for r in recs:
            cols = r.clients
            clients = cols.get("client", [])
            qbers = cols.get("qber", [None] * len(clients))
            bounds = cols.get("qber_bound", [None] * len(clients))
            for k, q, b in zip(clients, qbers, bounds, strict=True):
                out.append(
                    QberPoint(
                        scenario=name,
                        round=r.round,
                        client=int(k),
                        qber=q,
                        qber_bound=b,
                        eavesdropped=int(k) in attacked,
                    )
                )
    return out


def pair_splits(table: RunTable) -> list[PairSplit]:
    """The Bell-pair split of every scenario of ``table`` (zeros for classical ones)."""
    return [
        PairSplit(
            scenario=r.name,
            payload=r.payload_qubits,
            checks=r.check_pairs,
            purification=r.purification_pairs,
            discarded=r.discarded_pairs,
            bell_pairs=r.bell_pairs,
        )
        for r in table.rows
    ]


def eavesdropper_tallies(
    records: Records, *, eavesdropped: Mapping[str, Sequence[int]]
) -> dict[str, EavesdropperTally]:
    """Per attacked scenario: updates the attacked and the honest clients sent, and how
    many the checks rejected (:class:`~qtfl.present.run_table.EavesdropperTally`)."""
    out: dict[str, EavesdropperTally] = {}
    for name, recs in records.items():
        attacked = set(eavesdropped.get(name, ()))
        if not attacked:
            continue
        a_sent = a_rej = h_sent = h_rej = 0
        for r in recs:
            cols = r.clients
            clients = cols.get("client", [])
            accepted = cols.get("accepted", [True] * len(clients))
            detected = cols.get("detected", [False] * len(clients))
            for k, ok, det in zip(clients, accepted, detected, strict=True):
                if int(k) in attacked:
                    a_sent += 1
                    a_rej += not ok
                else:
                    h_sent += 1
                    h_rej += (not ok) and bool(det)
        out[name] = EavesdropperTally(
            attacked_updates=a_sent,
            attacked_rejected=a_rej,
            honest_updates=h_sent,
            honest_rejected_by_checks=h_rej,
        )
    return out


def summary_rows(table: RunTable) -> list[dict[str, Any]]:
    """The summary table's raw values, one mapping per scenario (``summary.csv``)."""
    keep = [f.name for f in fields(table.rows[0])] if table.rows else []
    rows = []
    for r in table.rows:
        raw = asdict(r)
        row = {k: raw[k] for k in keep if k != "eavesdropper"}
        row["eavesdropped_clients"] = " ".join(map(str, r.eavesdropped_clients))
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return np.format_float_positional(value, trim="-")
    return str(value)


def csv_text(rows: Iterable[Any], *, header: Sequence[str] | None = None) -> str:
    """Dataclass instances or mappings as CSV text (a header line, then one line each)."""
    dicts = [r if isinstance(r, Mapping) else asdict(r) for r in rows]
    cols = list(header) if header is not None else (list(dicts[0]) if dicts else [])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for d in dicts:
        writer.writerow([_cell(d.get(c)) for c in cols])
    return buf.getvalue()


def csv_files(
    *,
    points: Sequence[RoundPoint],
    qber: Sequence[QberPoint],
    splits: Sequence[PairSplit],
    summary: Sequence[Mapping[str, Any]],
) -> dict[str, str]:
    """File name -> CSV text of everything the report plots or tabulates."""
    return {
        "rounds.csv": csv_text(points, header=[f.name for f in fields(RoundPoint)]),
        "bell_pairs.csv": csv_text(splits, header=[f.name for f in fields(PairSplit)]),
        "qber.csv": csv_text(
            [p for p in qber if p.qber is not None], header=[f.name for f in fields(QberPoint)]
        ),
        "summary.csv": csv_text(summary),
    }
