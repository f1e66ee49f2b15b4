"""The one base of domain errors: an HTTP status and a French message for the user.

Domain modules raise subclasses (``EventError``, ``AccessDenied``, ``ReportError``…); the web
layer turns any of them into a page, an htmx fragment or a JSON error with one handler
(``app.web.errors``), the CLI into ``Erreur : …`` and exit 2. A view catches one only to
re-render its form with the message (docs/architecture.md, "Errors").
"""

from __future__ import annotations

from typing import Any


class DomainError(ValueError):
    """A refused operation: ``status`` (HTTP) and ``message`` (French), ``field`` when known."""

    status: int = 422

    def __init__(self, message: str, *, status: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.field = field

    def __str__(self) -> str:
        return self.message

    def api_fields(self) -> dict[str, Any]:
        """Extra members of the JSON error body (beyond ``error`` and ``status``)."""
        return {}
