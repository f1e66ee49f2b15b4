"""The PDF kit every document of the console is made with (situation report, printable log,
after-action report, owner review): fonts with French accents (:mod:`.fonts`), colours and
paragraph styles (:mod:`.styles`), text escaping and fitting with reportlab's own ``simpleSplit``
(:mod:`.text`), tables (:mod:`.tables`) and a numbered canvas drawing the markings EXERCICE and
DIFFUSION RESTREINTE on every page, and ``document`` which lays a story out on it (:mod:`.canvas`).
"""

from .canvas import (
    Markings,
    document,
    exercise_bands,
    header_footer,
    numbered_canvas,
    watermark,
)
from .fonts import FONT, FONT_BOLD, register_fonts
from .styles import HEAD_BG, INK, LINE, MUTED, NAVY, RED, ZEBRA, styles
from .tables import CELL_LEADING, CELL_SIZE, key_values, table
from .text import esc, fit_width, para, wrap

__all__ = [
    "CELL_LEADING",
    "CELL_SIZE",
    "FONT",
    "FONT_BOLD",
    "HEAD_BG",
    "INK",
    "LINE",
    "MUTED",
    "NAVY",
    "RED",
    "ZEBRA",
    "Markings",
    "document",
    "esc",
    "exercise_bands",
    "fit_width",
    "header_footer",
    "key_values",
    "numbered_canvas",
    "para",
    "register_fonts",
    "styles",
    "table",
    "watermark",
    "wrap",
]
