"""The CAP URLs partners' systems read: the Atom feed of the alerts issued (``/cap/feed.atom``,
real events; ``/cap/exercise.atom``, drills) and each alert at its stable URL
(``/cap/alerts/<identifier>.xml``, the exact bytes emitted).

Who may read: a console user of the event roles (Bearer token or session), or a partner's feed
token (``app.messages.partners``): a real partner's token opens the real feed and real alerts, a
drill-only partner's the exercise feed and drill alerts, nothing else of the console.
"""

from __future__ import annotations

from flask import Blueprint, g, make_response, request
from werkzeug.wrappers import Response

from .. import messages
from ..messages import cap as cap_module
from .context import get_db, now
from .openapi import describe
from .security import allow

bp = Blueprint("cap", __name__, url_prefix="/cap")


def _may_read(drill: bool) -> bool:
    partner = g.get("feed_partner")
    return partner is None or partner.drill_only == drill


def _feed(drills: bool) -> Response:
    if not _may_read(drills):
        other = cap_module.FEED_PATH if drills else cap_module.EXERCISE_FEED_PATH
        raise messages.MessageError(f"Ce jeton de flux n'ouvre que {other}.", 403)
    body = messages.cap_feed(get_db(), now(), request.url_root, only_drills=drills)
    response = make_response(body)
    response.headers["Content-Type"] = f"{cap_module.ATOM_MEDIA_TYPE}; charset=utf-8"
    return response


@bp.get("/feed.atom")
@allow(*messages.READ_ROLES, feed=True)
@describe("Le flux Atom des alertes CAP émises", tag="CAP et EMSI",
          media=cap_module.ATOM_MEDIA_TYPE,
          notes="Les alertes des événements réels, de la plus récente à la plus ancienne, "
          "chacune liée à son adresse stable. Jeton Bearer d'un utilisateur ou jeton de flux "
          "d'un partenaire.")  # fmt: skip
def feed() -> Response:
    """Real events' alerts, newest first, each linking to its stable URL. Drill alerts are in
    ``/cap/exercise.atom`` only."""
    return _feed(drills=False)


@bp.get("/exercise.atom")
@allow(*messages.READ_ROLES, feed=True)
@describe("Le flux Atom des alertes CAP d'exercice", tag="CAP et EMSI",
          media=cap_module.ATOM_MEDIA_TYPE,
          notes="Les alertes d'exercice seulement (status Exercise).")  # fmt: skip
def exercise_feed() -> Response:
    """Drill alerts only (CAP status Exercise), for drill-only partners and the players."""
    return _feed(drills=True)


@bp.get("/alerts/<identifier>.xml")
@allow(*messages.READ_ROLES, feed=True)
@describe("Une alerte CAP émise, à son adresse stable", tag="CAP et EMSI",
          media=cap_module.CAP_MEDIA_TYPE,
          notes="Les octets exacts émis, valides selon le schéma OASIS CAP 1.2.")  # fmt: skip
def alert(identifier: str) -> Response:
    """The exact bytes emitted (``application/cap+xml``), valid against the OASIS CAP 1.2
    schema."""
    found = messages.cap_alert(get_db(), identifier)
    if found is None or not _may_read(found[0]):
        raise messages.MessageError("Aucune alerte émise sous cet identifiant.", 404)
    response = make_response(found[1])
    response.headers["Content-Type"] = f"{cap_module.CAP_MEDIA_TYPE}; charset=utf-8"
    return response
