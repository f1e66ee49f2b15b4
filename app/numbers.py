"""Numbers typed or sent by people and programs: the one check every entry point uses.

A number is refused with a French message naming the field unless it is finite, in range and,
where it must be, whole: ``nan``, ``inf``, ``1e999``, ``1_000``, ``True`` and ``12.5`` minutes
all fail here, before anything is computed or stored. The web layer reads its query and form
values through this (``app.web.params``); domain functions that take a number from outside
(a grant's duration, a report cadence) check it with it too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from .errors import DomainError

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

LONGITUDE = (-180.0, 180.0)
LATITUDE = (-90.0, 90.0)


class NumberError(DomainError):
    """A number refused: not a number, not finite, not whole, or out of range (400)."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message, status=status, field=field)


def _show(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def number(
    value: Any,
    label: str,
    *,
    field: str | None = None,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    status: int = 400,
) -> Any:
    """``value`` (a JSON number or a typed text, a decimal comma allowed) as an int or a float.

    Raises :class:`NumberError` naming ``label`` when it is not a finite number, not whole while
    ``integer``, or outside ``minimum``…``maximum``.
    """
    if isinstance(value, bool) or value is None:
        raise NumberError(f"{label} : un nombre est attendu.", field, status)
    if isinstance(value, int | float):
        parsed: float | int = value
    elif isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace("\u202f", "").replace(",", ".")
        if not _DECIMAL.fullmatch(text):
            raise NumberError(f"{label} : « {value[:40]} » n'est pas un nombre.", field, status)
        parsed = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    else:
        raise NumberError(f"{label} : un nombre est attendu.", field, status)
    try:
        as_float = float(parsed)
    except OverflowError:
        raise NumberError(f"{label} : nombre hors limites.", field, status) from None
    if not math.isfinite(as_float):
        raise NumberError(f"{label} : nombre hors limites.", field, status)
    result: float | int = as_float
    if integer:
        if as_float != math.floor(as_float):
            raise NumberError(f"{label} : un nombre entier est attendu.", field, status)
        result = int(parsed) if isinstance(parsed, int) else int(as_float)
    if (minimum is not None and result < minimum) or (maximum is not None and result > maximum):
        low = "" if minimum is None else _show(minimum)
        high = "" if maximum is None else _show(maximum)
        if minimum is not None and maximum is not None:
            bounds = f"entre {low} et {high}"
        elif minimum is not None:
            bounds = f"au moins {low}"
        else:
            bounds = f"au plus {high}"
        raise NumberError(f"{label} : {bounds} attendu ({_show(result)} reçu).", field, status)
    return result


def bbox(value: Any, label: str = "bbox", *, field: str | None = "bbox") -> tuple[float, ...]:
    """A WGS84 bounding box ``minlon,minlat,maxlon,maxlat`` (text or four numbers), each finite
    and in range, min ≤ max; the whole world is a valid box."""
    parts: Sequence[Any] = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, Sequence) or len(parts) != 4:
        raise NumberError(f"{label} : minlon,minlat,maxlon,maxlat attendus.", field)
    lon0, lat0, lon1, lat1 = (
        number(parts[i], f"{label} ({name})", field=field, minimum=low, maximum=high)
        for i, (name, (low, high)) in enumerate(
            (
                ("minlon", LONGITUDE),
                ("minlat", LATITUDE),
                ("maxlon", LONGITUDE),
                ("maxlat", LATITUDE),
            )
        )
    )
    if lon0 > lon1 or lat0 > lat1:
        raise NumberError(f"{label} : le minimum dépasse le maximum.", field)
    return (float(lon0), float(lat0), float(lon1), float(lat1))
