"""The web layer: blueprints, access rules, security headers, htmx helpers."""

from __future__ import annotations

import importlib

from flask import Flask


def init_web(app: Flask) -> None:
    """Bind extensions, register blueprints and request hooks."""
    from . import assets, auth_views, errors, home, security
    from .admin import bp as admin_bp
    from .api import bp as api_bp

    security.init_app(app)
    errors.init_app(app)
    app.register_blueprint(assets.bp)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(api_bp)
    for name in BLUEPRINT_MODULES:
        module = importlib.import_module(f"app.web.{name}")
        app.register_blueprint(module.bp)
    from . import filters

    filters.init_app(app)


# One module per area under app/web/, each exposing `bp`.
BLUEPRINT_MODULES: tuple[str, ...] = (
    "catalogue",
    "events",
    "api_events",
    "access",
    "audit_views",
    "impact",
    "drills",
    "reports",
)
