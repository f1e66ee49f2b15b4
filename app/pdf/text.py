"""Text for PDFs: escaped for Paragraph's XML dialect, fitted to a width (``simpleSplit``)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph


def esc(text: Any) -> str:
    """Text escaped for a Paragraph (``&``, ``<``, ``>``); None is empty."""
    return escape("" if text is None else str(text))


def para(text: Any, style: ParagraphStyle, *, empty: str = "") -> Paragraph:
    """A Paragraph of plain text (escaped; line breaks kept)."""
    shown = empty if text is None or text == "" else text
    return Paragraph(esc(shown).replace("\n", "<br/>"), style)


def fit_width(text: str, font: str, size: float, width: float) -> str:
    """The text, cut with an ellipsis so that it is at most ``width`` points wide."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _cut(word: str, font: str, size: float, width: float) -> list[str]:
    """A word longer than a line (an id, a hash) cut into pieces that fit."""
    out = []
    while word:
        cut = len(word)
        while cut > 1 and stringWidth(word[:cut], font, size) > width:
            cut -= 1
        out.append(word[:cut])
        word = word[cut:]
    return out


def wrap(text: str, font: str, size: float, width: float) -> str:
    """Word-wrap to ``width`` points with reportlab's ``simpleSplit`` (lines joined by ``\\n``);
    a word longer than a line is cut."""
    out: list[str] = []
    for paragraph in str(text).split("\n"):
        lines = simpleSplit(paragraph, font, size, width) or [""]
        for line in lines:
            if stringWidth(line, font, size) <= width:
                out.append(line)
                continue
            for word in line.split(" "):  # simpleSplit leaves an over-long word alone
                if stringWidth(word, font, size) > width:
                    out.extend(_cut(word, font, size, width))
                elif out and stringWidth(out[-1] + " " + word, font, size) <= width:
                    out[-1] += " " + word
                else:
                    out.append(word)
    return "\n".join(out)
