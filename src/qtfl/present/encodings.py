"""What ``qtfl bench encodings`` prints for people: one row per encoding, human units.

The library result (:func:`qtfl.channel.encoding_benchmark.compare_encodings`) is printed
as is with ``--json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from qtfl.present.units import human_number, human_percent, human_seconds

_COLUMNS = (
    ("delivered", "sent ok"),
    ("rms_error", "RMS err"),
    ("stated_rms_error", "stated"),
    ("bell_pairs_per_value", "pairs/v"),
    ("payload_qubits_per_value", "qubits/v"),
    ("classical_bits_per_value", "cbits/v"),
    ("seconds_per_send", "time"),
)


def encodings_table(result: Mapping[str, Any]) -> Table:
    """The comparison table of :func:`~qtfl.channel.encoding_benchmark.compare_encodings`."""
    load = result["machine"].get("loadavg_1_5_15")
    title = (
        f"qtfl bench encodings — F = {human_number(result['fidelity'])}, "
        f"{human_number(result['values'])} values of RMS {human_number(result['update_rms'])}, "
        f"{human_number(result['shots'])} shots, {result['repeats']} sends each"
        + ("" if load is None else f", load {human_number(load[0])}")
    )
    table = Table(title=title, caption="per value (v) and send; stated: the library's RMS")
    table.add_column("encoding", no_wrap=True)
    for _, header in _COLUMNS:
        table.add_column(header, justify="right")
    for label, row in result["encodings"].items():
        cells = [label]
        for key, _ in _COLUMNS:
            v = row[key]
            if key == "delivered":
                cells.append(human_percent(v, decimals=0))
            elif key == "seconds_per_send":
                cells.append(human_seconds(v))
            else:
                cells.append("—" if v is None else human_number(v))
        table.add_row(*cells)
    return table
