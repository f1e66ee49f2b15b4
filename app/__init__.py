"""Crisis console: pre-authorised break-glass access to crisis data for Caux Seine Agglomération.

Importing the package imports no web framework: the CLI and the scheduler build what they need
from ``app.config`` and ``app.db``; only :func:`create_app` (serving, tests) builds the Flask app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__version__ = "0.1.0"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The application factory (``app.web.factory``): Flask is imported by what serves only."""
    from .web.factory import create_app as build

    return build(test_config)
