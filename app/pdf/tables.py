"""Tables: a header row repeated on every page, zebra rows, light rules; label/value blocks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import LongTable, Table, TableStyle

from .fonts import FONT, FONT_BOLD
from .styles import HEAD_BG, INK, LINE, NAVY, ZEBRA
from .text import para, wrap

CELL_SIZE = 7.8
CELL_LEADING = 9.4


def table(
    data: list[list[Any]],
    widths: Sequence[float],
    *,
    long: bool = True,
    align_right: Sequence[int] = (),
    extra: Sequence[tuple[Any, ...]] = (),
) -> Table:
    """A table whose first row is the header, repeated at each page break.

    Text cells are wrapped here once, to their column width: plain multi-line strings keep
    large tables fast (a Paragraph per cell is re-wrapped at every page split). Other cells
    (Paragraphs) are kept as they are.
    """
    cls = LongTable if long else Table
    pad = 6.0
    data = [
        [
            wrap(cell, FONT_BOLD if r == 0 else FONT, CELL_SIZE, widths[c] - pad)
            if isinstance(cell, str)
            else cell
            for c, cell in enumerate(line)
        ]
        for r, line in enumerate(data)
    ]
    t = cls(data, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    style: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), FONT, CELL_SIZE, CELL_LEADING),
        ("FONT", (0, 0), (-1, 0), FONT_BOLD, CELL_SIZE, CELL_LEADING),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, NAVY),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, LINE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.2),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if len(data) > 2:
        style.append(("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, ZEBRA]))
    for col in align_right:
        style.append(("ALIGN", (col, 0), (col, -1), "RIGHT"))
    style.extend(extra)
    t.setStyle(TableStyle(style))
    return t


def key_values(
    lines: Sequence[tuple[str, Any]],
    widths: Sequence[float],
    label: ParagraphStyle,
    value: ParagraphStyle,
    *,
    extra: Sequence[tuple[Any, ...]] = (),
) -> Table:
    """A block of "label — value" lines (a report's header, a summary, facts)."""
    data = [
        [para(k, label), v if not isinstance(v, str | int | float) else para(v, value)]
        for k, v in lines
    ]
    t = Table(data, colWidths=list(widths), hAlign="LEFT")
    t.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, LINE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                *extra,
            ]
        )
    )
    return t
