"""Privacy tables for people: the HTML section of the report and Markdown for documents.

Rows come from :mod:`qtfl.attacks.tables` (and the run's privacy results); every number goes
through :func:`qtfl.present.units.human_number` (no e-notation).

>>> print(markdown_table([{"view": "plain", "psnr_db": 31.234}]))
| view | psnr_db |
|---|---|
| plain | 31.2 |
"""

from __future__ import annotations

import html
from typing import Any

from qtfl.present.units import human_number


def privacy_section_html(tables: dict[str, list[dict[str, Any]]]) -> str:
    """An HTML ``<section>`` with one table per entry of ``tables`` (title -> rows)."""
    parts = ['<section id="privacy"><h2>Privacy</h2>']
    for title, rows in tables.items():
        parts.append(f"<h3>{html.escape(title)}</h3>")
        if not rows:
            parts.append("<p>(no rows)</p>")
            continue
        cols = list(rows[0])
        parts.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
        for row in rows:
            cells = "".join(f"<td>{html.escape(_fmt(row.get(c)))}</td>" for c in cols)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
    parts.append("</section>")
    return "\n".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    return human_number(value)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """GitHub-flavoured Markdown table of ``rows`` (for the README)."""
    if not rows:
        return ""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


__all__ = ["markdown_table", "privacy_section_html"]
