"""Numbers in requests: every query or form number goes through ``app.numbers``.

``int_arg`` and ``bbox_arg`` read the query string; a value that is not a finite number in range
(or not whole where it must be) is a 400 with a French message naming it, never a silently
ignored parameter or a 500.
"""

from __future__ import annotations

from typing import Any

from flask import request

from .. import numbers


def int_arg(
    name: str,
    label: str,
    default: Any = None,
    *,
    minimum: int | None = 0,
    maximum: int | None = 2**53,
) -> Any:
    """A whole-number query parameter (``default`` when absent or empty)."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return default
    return numbers.number(raw, label, field=name, integer=True, minimum=minimum, maximum=maximum)


def bbox_arg(name: str = "bbox") -> tuple[float, float, float, float] | None:
    """The ``bbox=minlon,minlat,maxlon,maxlat`` query parameter (WGS84), or None."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    x0, y0, x1, y1 = numbers.bbox(raw, name, field=name)
    return x0, y0, x1, y1
