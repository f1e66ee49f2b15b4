"""Counting a text for FR-Alert's cell broadcast (3GPP TS 23.041 pages, TS 23.038 alphabets).

A cell-broadcast message is made of at most 15 pages of 82 octets each. With the GSM 7-bit
default alphabet (GSM 03.38 / TS 23.038) a page holds 93 septets: a character of the basic set
takes one, a character of the extension table (``€ [ ] { } \\ ^ ~ |`` and form feed) takes two
(escape + character), and such a pair is never split across two pages. One character outside
both tables makes the whole message UCS-2: 82 octets hold 41 UTF-16 code units, 40 when the
message starts with the two-character language indication (DCS 0001 0001); we count 40 so that
the count never promises more than either coding gives. A character outside the Basic
Multilingual Plane (an emoji) takes two code units.

French accents: é è ù à É Ç are in the basic set; ê â î ô û ë ï ç œ and typographic quotes are
not. :func:`to_gsm` offers the usual replacements so that the editor can keep a message in 7-bit
(93 characters a page instead of 40).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import fr

MAX_PAGES = 15
GSM_PAGE = 93  # septets in 82 octets
UCS2_PAGE = 40  # UTF-16 code units in 82 octets, less the language indication

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

_FALLBACK = {
    "ê": "e", "ë": "e", "â": "a", "î": "i", "ï": "i", "ô": "o", "û": "u",
    "ç": "c", "œ": "oe", "Œ": "OE", "À": "A", "Â": "A", "È": "E", "Ê": "E", "Ë": "E",
    "Î": "I", "Ï": "I", "Ô": "O", "Ù": "U", "Û": "U", "Ÿ": "Y", "ÿ": "y",
    "«": '"', "»": '"', "“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'",
    "…": "...", "–": "-", "—": "-", "‑": "-", "\u00a0": " ", "\u202f": " ", "\u2009": " ",
    "\t": " ", "•": "-",
}  # fmt: skip


@dataclass(frozen=True)
class CbsCount:
    """How a text fits in cell-broadcast pages."""

    encoding: str  # "gsm7" or "ucs2"
    characters: int  # characters as typed
    units: int  # septets (gsm7) or UTF-16 code units (ucs2)
    pages: int
    page_size: int
    max_pages: int
    invalid: tuple[str, ...]  # characters outside GSM 03.38 (they force UCS-2), in text order

    @property
    def fits(self) -> bool:
        return 0 < self.pages <= self.max_pages

    def message(self) -> str:
        """A French one-liner for the editor."""
        alphabet = "alphabet GSM 7 bits" if self.encoding == "gsm7" else "UCS-2"
        text = (
            f"{fr.count(self.characters, 'caractère', 'caractères')},"
            f" {fr.count(self.pages, 'page', 'pages')} sur {fr.integer(self.max_pages)} "
            f"({alphabet}, {self.page_size} caractères par page)"
        )
        if self.invalid:
            text += " ; hors alphabet GSM : " + " ".join(repr(c) for c in self.invalid)
        if self.pages > self.max_pages:
            text += " ; trop long pour la diffusion cellulaire"
        return text + "."

    def to_dict(self) -> dict[str, object]:
        return {
            "encoding": self.encoding,
            "characters": self.characters,
            "units": self.units,
            "pages": self.pages,
            "page_size": self.page_size,
            "max_pages": self.max_pages,
            "invalid": list(self.invalid),
            "fits": self.fits,
        }


def _pages(widths: list[int], page: int) -> int:
    """Pages needed when items of these widths fill pages greedily, never split across two."""
    if not widths:
        return 0
    pages, used = 1, 0
    for w in widths:
        if used + w > page:
            pages, used = pages + 1, 0
        used += w
    return pages


def count(text: str) -> CbsCount:
    """Count ``text`` against cell-broadcast pages (93 GSM 7-bit characters, at most 15)."""
    invalid: list[str] = []
    for ch in text:
        if ch not in GSM_BASIC and ch not in GSM_EXTENSION and ch not in invalid:
            invalid.append(ch)
    if not invalid:
        widths = [2 if ch in GSM_EXTENSION else 1 for ch in text]
        return CbsCount(
            "gsm7", len(text), sum(widths), _pages(widths, GSM_PAGE), GSM_PAGE, MAX_PAGES, ()
        )
    widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return CbsCount(
        "ucs2",
        len(text),
        sum(widths),
        _pages(widths, UCS2_PAGE),
        UCS2_PAGE,
        MAX_PAGES,
        tuple(invalid),
    )


def to_gsm(text: str) -> str:
    """The text with the usual replacements of characters outside GSM 03.38 (ê → e, « → ")."""
    return "".join(_FALLBACK.get(ch, ch) for ch in text)
