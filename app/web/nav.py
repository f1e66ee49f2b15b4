"""The navigation menu as data: an entry shows when its endpoint exists and the user may use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, request, url_for
from flask_wtf.csrf import generate_csrf

from .. import auth
from .rules import rule_for


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str


# Order is the order of the menu. Entries whose blueprint is not registered are skipped.
NAV: tuple[NavItem, ...] = (
    NavItem("Accueil", "home.index"),
    NavItem("Événements", "events.list_events"),
    NavItem("Annuaire", "pcs.list_contacts"),
    NavItem("Partenaires", "messages.list_partners"),
    NavItem("Carte", "catalogue.show_map"),
    NavItem("Catalogue", "catalogue.list_datasets"),
    NavItem("Accès", "access.index"),
    NavItem("Exercices", "drills.list_drills"),
    NavItem("Audit", "audit.index"),
    NavItem("Administration", "admin.list_users"),
)


def menu_for(user: auth.User | None) -> list[tuple[str, str, bool]]:
    """(label, url, is_current) of the entries this user may open."""
    if user is None:
        return []
    out = []
    for item in NAV:
        rule = rule_for(current_app, item.endpoint)
        if rule is not None and rule.allows(user):
            url = url_for(item.endpoint)
            # The section is the first path segment: /events/12/log belongs to /events/.
            section = "/" + url.strip("/").split("/")[0] if url != "/" else "/"
            current = request.path == url if url == "/" else request.path.startswith(section)
            out.append((item.label, url, current))
    return out


def init_app(app: Flask) -> None:
    """Give every template the signed-in user, the menu and the CSRF token."""

    @app.context_processor
    def _inject() -> dict[str, Any]:
        user = g.get("user")
        return {"current_user": user, "menu": menu_for(user), "csrf_token": generate_csrf}
