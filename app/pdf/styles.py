"""The console's colours and paragraph styles (A4, French, DejaVu)."""

from __future__ import annotations

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.styles import ParagraphStyle

from .fonts import FONT, FONT_BOLD, register_fonts

INK = colors.HexColor("#1a1a1a")
MUTED = colors.HexColor("#5a5a5a")
NAVY = colors.HexColor("#1d3557")
RED = colors.HexColor("#c00000")
LINE = colors.HexColor("#b8c2cc")
HEAD_BG = colors.HexColor("#e6ebf1")
ZEBRA = colors.HexColor("#f6f8fa")


def styles() -> dict[str, ParagraphStyle]:
    """The paragraph styles by name: base, small, cell, cellb, muted, title, subtitle, h1, h2,
    mark (a red centred marking) and banner (white on red)."""
    register_fonts()
    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=11.5, textColor=INK)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.2),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.8, leading=9.4),
        "cellb": ParagraphStyle(
            "cellb", parent=base, fontName=FONT_BOLD, fontSize=7.8, leading=9.4
        ),
        "muted": ParagraphStyle("muted", parent=base, textColor=MUTED, fontSize=8, leading=10),
        "title": ParagraphStyle(
            "title", parent=base, fontName=FONT_BOLD, fontSize=17, leading=21, textColor=NAVY
        ),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=10.5, leading=13.5),
        "h1": ParagraphStyle(
            "h1",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=12.5,
            leading=15,
            textColor=NAVY,
            spaceBefore=10,
            spaceAfter=5,
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=10,
            leading=13,
            spaceBefore=6,
            spaceAfter=3,
        ),
        "mark": ParagraphStyle(
            "mark", parent=base, fontName=FONT_BOLD, fontSize=11, textColor=RED, alignment=TA_CENTER
        ),
        "banner": ParagraphStyle(
            "banner",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=10,
            textColor=colors.white,
            alignment=TA_CENTER,
            backColor=RED,
            borderPadding=(3, 3, 3, 3),
            spaceAfter=8,
        ),
    }
