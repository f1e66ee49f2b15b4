"""DejaVu Sans (else reportlab's Vera) registered once as CCSans: accents always render."""

from __future__ import annotations

import threading
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = "CCSans"
FONT_BOLD = "CCSans-Bold"
_lock = threading.Lock()
_ready = False


def register_fonts() -> str:
    """Register the fonts (once per process); return the regular font file used."""
    global _ready
    with _lock:
        regular, bold = DEJAVU_DIR / "DejaVuSans.ttf", DEJAVU_DIR / "DejaVuSans-Bold.ttf"
        if not (regular.exists() and bold.exists()):
            import reportlab

            fonts = Path(reportlab.__file__).parent / "fonts"
            regular, bold = fonts / "Vera.ttf", fonts / "VeraBd.ttf"
        if not _ready:
            pdfmetrics.registerFont(TTFont(FONT, str(regular)))
            pdfmetrics.registerFont(TTFont(FONT_BOLD, str(bold)))
            pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD)
            _ready = True
        return str(regular)
