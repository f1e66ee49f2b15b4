"""Access rules as data: every view declares who may use it with ``@allow(...)``.

A request to a view without a rule is refused (fail closed, ``security``) and
``tests/web/test_access_rules.py`` fails for it; the menu (``nav``) shows what the rules allow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask

from .. import auth

F = TypeVar("F", bound=Callable[..., Any])

# Paths answered in JSON to systems (401 rather than a sign-in page): the API and the CAP URLs
# that partners' systems read.
API_PATHS: tuple[str, ...] = ("/api/v1/", "/cap/")


@dataclass(frozen=True)
class Rule:
    """Who may call a view: nobody signed in needed (public), any signed-in user, or roles.

    A ``passive`` view is a background poll (the inbox badge): it does not count as activity,
    so a page left open does not keep an idle session alive. ``feed``: a partner's feed token
    opens it too (the CAP feed and alerts)."""

    public: bool = False
    roles: frozenset[str] | None = None
    passive: bool = False
    feed: bool = False

    def allows(self, user: auth.User | None) -> bool:
        if self.public:
            return True
        if user is None:
            return False
        return self.roles is None or bool(user.roles & self.roles)


def allow(
    *roles: str, public: bool = False, passive: bool = False, feed: bool = False
) -> Callable[[F], F]:
    """Declare the access rule of a view. ``allow()`` means any signed-in user; ``feed=True``
    also lets a partner's feed token in (the view decides what that partner may read)."""
    unknown = set(roles) - set(auth.ROLES)
    if unknown:
        raise ValueError(f"unknown roles in access rule: {sorted(unknown)}")
    rule = Rule(
        public=public, roles=frozenset(roles) if roles else None, passive=passive, feed=feed
    )

    def mark(view: F) -> F:
        view.access_rule = rule  # type: ignore[attr-defined]
        return view

    return mark


def rule_for(app: Flask, endpoint: str | None) -> Rule | None:
    """The rule of an endpoint (static files are public)."""
    if endpoint is None:
        return None
    if endpoint == "static":
        return Rule(public=True)
    view = app.view_functions.get(endpoint)
    return getattr(view, "access_rule", None)
