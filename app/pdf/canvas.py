"""The numbered canvas and the markings drawn on every page.

:func:`numbered_canvas` holds the pages back until the document is laid out, then calls a
``decorate(canvas, page, total)`` function on each: that is how "page x / y" and the markings
(EXERCICE for a drill, DIFFUSION RESTREINTE for restricted content) land on every page, in the
header, the footer and, for a drill, as a watermark.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, SimpleDocTemplate

from .fonts import FONT, FONT_BOLD
from .styles import LINE, MUTED, NAVY, RED
from .text import fit_width

RESTRICTED = "DIFFUSION RESTREINTE"
EXERCISE = "EXERCICE"
Decorate = Callable[[Canvas, int, int], None]


def numbered_canvas(decorate: Decorate) -> type[Canvas]:
    """A canvas class that decorates each page once the page count is known (two passes)."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self.saveState()
                decorate(self, self._pageNumber, total)
                self.restoreState()
                super().showPage()
            super().save()

    return NumberedCanvas


@dataclass(frozen=True)
class Markings:
    """What a document is: a drill's (EXERCICE) and/or restricted (its classification)."""

    drill: bool = False
    classification: str = ""  # e.g. DIFFUSION RESTREINTE, NON PROTÉGÉ, or "" for none

    def marks(self) -> list[tuple[str, Any]]:
        """(text, colour) of the markings, left to right."""
        out: list[tuple[str, Any]] = [(EXERCISE, RED)] if self.drill else []
        if self.classification:
            out.append((self.classification, RED if self.classification == RESTRICTED else MUTED))
        return out


def watermark(c: Canvas, text: str, size: tuple[float, float], angle: float = 52) -> None:
    """A large pale diagonal word across the page (a drill's EXERCICE)."""
    w, h = size
    c.saveState()
    c.setFillColor(colors.Color(0.8, 0, 0, alpha=0.09))
    c.setFont(FONT_BOLD, 96)
    c.translate(w / 2, h / 2)
    c.rotate(angle)
    c.drawCentredString(0, -34, text)
    c.restoreState()


def header_footer(
    c: Canvas,
    page: int,
    total: int,
    *,
    size: tuple[float, float],
    margin: float,
    left: str,
    stamp: str,
    markings: Markings,
) -> None:
    """The console's page frame: a header (title left, markings right), a footer (stamp,
    EXERCICE for a drill, page x / y) and a drill's watermark."""
    w, h = size
    if markings.drill:
        watermark(c, EXERCISE, size)
    top = h - margin + 14
    c.setStrokeColor(NAVY)
    c.setLineWidth(0.8)
    c.line(margin, top - 6, w - margin, top - 6)
    marks = markings.marks()
    room = w - 2 * margin - sum(stringWidth(t, FONT_BOLD, 8.5) + 12 for t, _ in marks)
    c.setFillColor(NAVY)
    c.setFont(FONT_BOLD, 8.5)
    c.drawString(margin, top, fit_width(left, FONT_BOLD, 8.5, max(room - 12, 60)))
    x = w - margin
    for text, colour in reversed(marks):
        c.setFillColor(colour)
        c.drawRightString(x, top, text)
        x -= stringWidth(text, FONT_BOLD, 8.5) + 12
    bottom = margin - 18
    c.setStrokeColor(LINE)
    c.setLineWidth(0.5)
    c.line(margin, bottom + 10, w - margin, bottom + 10)
    c.setFillColor(MUTED)
    c.setFont(FONT, 7)
    room = (w / 2 + 50 - margin) if markings.drill else (w - 2 * margin - 70)
    c.drawString(margin, bottom, fit_width(stamp, FONT, 7, room))
    if markings.drill:
        c.setFillColor(RED)
        c.setFont(FONT_BOLD, 8.5)
        c.drawCentredString(w / 2 + 80, bottom, EXERCISE)
    c.setFont(FONT, 7.5)
    c.setFillColor(MUTED)
    c.drawRightString(w - margin, bottom, f"page {page} / {total}")


def exercise_bands(
    c: Canvas, page: int, total: int, *, size: tuple[float, float], header: str
) -> None:
    """A drill document's frame: red bands top and bottom saying EXERCICE, and the watermark."""
    w, h = size
    c.setFillColor(RED)
    c.rect(0, h - 12 * mm, w, 12 * mm, stroke=0, fill=1)
    c.rect(0, 0, w, 10 * mm, stroke=0, fill=1)
    c.setFillColor(colors.white)
    c.setFont(FONT_BOLD, 9)
    room = w - 30 * mm - stringWidth(EXERCISE, FONT_BOLD, 9) - 6 * mm
    c.drawString(15 * mm, h - 7.5 * mm, fit_width(header, FONT_BOLD, 9, room))
    c.drawRightString(w - 15 * mm, h - 7.5 * mm, EXERCISE)
    c.setFont(FONT_BOLD, 8.5)
    c.drawString(15 * mm, 3.8 * mm, "EXERCICE — document d'exercice, aucune action réelle")
    c.drawRightString(w - 15 * mm, 3.8 * mm, f"page {page} / {total}")
    watermark(c, EXERCISE, size, angle=45)


def document(
    story: Sequence[Flowable],
    decorate: Decorate,
    *,
    title: str,
    author: str,
    subject: str,
    size: tuple[float, float] = A4,
    margins: tuple[float, float, float, float] = (40.0, 52.0, 40.0, 44.0),
) -> bytes:
    """Lay ``story`` out on numbered pages decorated by ``decorate``; the PDF's bytes.

    ``margins`` are (left, top, right, bottom) in points; the top and bottom leave room for the
    header and footer that ``decorate`` draws.
    """
    left, top, right, bottom = margins
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=size,
        leftMargin=left,
        rightMargin=right,
        topMargin=top,
        bottomMargin=bottom,
        title=title,
        author=author,
        subject=subject,
        creator="crisis-console",
    ).build(list(story), canvasmaker=numbered_canvas(decorate))
    return buffer.getvalue()
