"""Deprecated: the privacy grids moved to :mod:`qtfl.attacks.tables`, their formatting to
:mod:`qtfl.present.privacy`; import from there."""

from qtfl.attacks.tables import VIEWS, channel_rows, dp_rows, membership_rows
from qtfl.present.privacy import markdown_table, privacy_section_html

__all__ = [
    "VIEWS",
    "channel_rows",
    "dp_rows",
    "markdown_table",
    "membership_rows",
    "privacy_section_html",
]
