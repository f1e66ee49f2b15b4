"""A page and its htmx fragment come from the same template."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template
from flask_htmx import HTMX

htmx = HTMX()


def render(page: str, fragment: str | None = None, status: int = 200, **context: Any) -> Response:
    """Render the fragment for an htmx (non-boosted) request, the whole page otherwise."""
    wants_fragment = fragment is not None and bool(htmx) and not htmx.boosted
    body = render_template(fragment if wants_fragment and fragment else page, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def trigger(response: Response, *events: str) -> Response:
    """Ask htmx to fire events (cross-region refreshes use events, not out-of-band swaps)."""
    if events:
        response.headers["HX-Trigger"] = ", ".join(events)
    return response
