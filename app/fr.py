"""French numbers and plurals through Babel (``fr_FR``): the one formatter of the console.

Templates (the ``number`` filter), PDFs (reports, maps) and messages all use it, so a figure
reads the same everywhere: thousands grouped with a narrow no-break space (U+202F, CLDR's French
rule, the only thin space we print), a decimal comma, trailing zeros dropped.
"""

from __future__ import annotations

import decimal as _decimal
from typing import Any

from babel import Locale
from babel.numbers import format_decimal

LOCALE = Locale.parse("fr_FR")
THIN = "\u202f"  # between thousands, and between a number and "%"


def number(value: Any, digits: int = 0, *, exact: bool = True) -> str:
    """``12 345``, ``4,5``; ``digits`` decimals (all shown when ``exact``, else at most);
    ``—`` for None or ""."""
    if value is None or value == "":
        return "—"
    decimals = ("0" if exact else "#") * digits
    pattern = "#,##0" + (f".{decimals}" if digits else "")
    with _decimal.localcontext() as context:
        context.prec = 400  # rounding 1e25 to 3 decimals needs more than the default 28 digits
        return format_decimal(float(value), format=pattern, locale=LOCALE)


def integer(value: Any) -> str:
    """A whole number, rounded: ``12 345``; ``—`` for None."""
    return number(value, 0)


def decimal(value: Any, digits: int = 3) -> str:
    """A number with only the decimals it needs (at most ``digits``): ``4,5``, ``400``."""
    return number(value, digits, exact=False)


def km(metres: Any) -> str:
    """Kilometres from metres: two decimals under 10 km, one above (``1,25``, ``12,5``)."""
    if metres is None:
        return "—"
    value = float(metres) / 1000.0
    return number(value, 2 if value < 10 else 1)


def percent(share: Any, digits: int = 1) -> str:
    """A share (0.125) as ``12,5 %``."""
    if share is None:
        return "—"
    return f"{number(float(share) * 100, digits)}{THIN}%"


def plural(count: Any, one: str, other: str) -> str:
    """``one`` or ``other`` by the French plural rule (0 and 1 are singular)."""
    return one if LOCALE.plural_form(abs(float(count))) == "one" else other


def count(value: Any, one: str, other: str) -> str:
    """``1 entrée``, ``0 entrée``, ``12 345 entrées``: the noun agrees with the number shown."""
    if value is None or value == "":
        return f"— {other}"
    return f"{integer(value)} {plural(round(float(value)), one, other)}"


# --- compass points (wind directions) --------------------------------------------------------

# The 16 French points of the compass, clockwise from north (O = ouest).
COMPASS: tuple[str, ...] = (
    "N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE",
    "S", "SSO", "SO", "OSO", "O", "ONO", "NO", "NNO",
)  # fmt: skip
_COMPASS_WORDS = (("NORD", "N"), ("SUD", "S"), ("OUEST", "O"), ("EST", "E"), ("W", "O"))


def compass(degrees: Any) -> str:
    """The nearest of the 16 points of the compass: ``260`` → ``O``, ``247.5`` → ``OSO``."""
    if degrees is None or degrees == "":
        return ""
    return COMPASS[int((float(degrees) % 360) / 22.5 + 0.5) % 16]


def parse_compass(text: str) -> float | None:
    """Degrees from a point of the compass (``NNE``, ``sud-ouest``, ``WSW``); None if it is none."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()
    plain = "".join(ch for ch in plain if ch.isalpha() or ch == "-")
    for word, letter in _COMPASS_WORDS:
        plain = plain.replace(word, letter)
    plain = plain.replace("-", "")
    if plain in COMPASS:
        return COMPASS.index(plain) * 22.5
    return None
