"""The owner's side (issue 20): the review a steward reads and signs (or contests), its JSON
for the owner's systems, the directors' answer, the steward's dashboard, what waits for a
person (contested reviews, reminders), the versions of an agreement and what changed.

The review page's route stays ``access.review`` (``app/web/access.py``), which renders it
with :func:`review_page` from here. What waits for a person (a contest to answer, a review not
signed in time, an agreement that stops) is fed into the inbox (``app.inbox``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from werkzeug.wrappers import Response

from .. import access
from ..clock import parse_iso
from . import api_models as m
from .context import get_db, now, require_user
from .errors import fail
from .htmx import htmx, render
from .notices import done
from .openapi import body as parsed_body
from .openapi import describe
from .security import allow

bp = Blueprint("owner", __name__)

HOLDERS = ("director", "cell", "liaison", "exercise")


def policy() -> access.ReminderPolicy:
    """The reminder delays of the app's settings."""
    cfg = current_app.config
    return access.ReminderPolicy(
        review_delay=timedelta(days=int(cfg["CRISIS_REVIEW_DELAY_DAYS"])),
        agreement_notice=timedelta(days=int(cfg["CRISIS_AGREEMENT_NOTICE_DAYS"])),
        grant_warning=timedelta(minutes=int(cfg["CRISIS_GRANT_WARNING_MIN"])),
    )


def document(org: dict[str, Any], event_id: int) -> access.ReadableReview:
    """The readable review of ``event_id`` for ``org`` (NotFound for an unknown event)."""
    db, t = get_db(), now()
    return access.readable_review(db, t, access.owner_review(db, t, org["id"], event_id))


def _org(slug: str | None) -> dict[str, Any]:
    user = require_user()
    return access.reviewable_org(get_db(), user, slug or user.org_slug)


def _labels() -> dict[str, Any]:
    return {
        "REASON_CODES": access.REASON_CODES,
        "PURPOSE_LABELS": access.PURPOSE_LABELS,
        "VERDICTS": access.VERDICTS,
        "REVIEW_STATES": access.REVIEW_STATES,
        "duration_text": access.duration_text,
        "now": now(),
    }


def review_page(
    org: dict[str, Any],
    event_id: int,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    answer_error: str | None = None,
    status: int = 200,
) -> Response:
    """The review page (summary first, grants, verdict, the detailed list)."""
    user = require_user()
    doc = document(org, event_id)
    history = access.verdicts_of(get_db(), event_id, org["id"])
    latest = history[0] if history else None
    from ..access.owner_review_pdf import CHANGE_LABELS, change_detail

    sign_by = None
    if doc.event.closed_at and latest is None:
        sign_by = parse_iso(doc.event.closed_at) + policy().review_delay
    return render(
        "access/review.html",
        status=status,
        doc=doc,
        sign_by=sign_by,
        review=doc.review,
        summary=access.summary_lines(doc),
        latest=latest,
        history=history,
        can_sign=user.has("steward") and user.org_id == org["id"],
        can_answer=bool(latest and latest.waiting and user.has("director")),
        form=form or {"verdict": "", "comment": "", "grants": []},
        form_error=error,
        answer_error=answer_error,
        CHANGE_LABELS=CHANGE_LABELS,
        change_detail=change_detail,
        drill_banner=doc.event.is_drill,
        **_labels(),
    )


def _ints(values: Any) -> list[int]:
    if values is None:
        return []
    if not isinstance(values, list):
        fail(400, "Liste de numéros attendue.")
    out = []
    for v in values:
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            fail(400, f"Numéro invalide : {v}.")
    return out


# --- the review: JSON -----------------------------------------------------------------------


@bp.get("/api/v1/events/<int:event_id>/review")
@allow("steward", "director")
@describe(
    "La revue des accès d'une organisation pour un événement",
    tag="Accès",
    query=m.ReviewQuery,
    response=m.ReviewOut,
    notes="Pour le référent de l'organisation ou un directeur : les accès, chacun avec ses "
    "lectures, le résumé, l'empreinte du contenu et le verdict (docs/owner-review.md).",
)
def api_review(event_id: int) -> Any:
    """The review as JSON: grants (each with its reads), summary, content hash, audit seqs,
    verdict (docs/owner-review.md)."""
    org = _org(request.args.get("org"))
    doc = document(org, event_id)
    history = access.verdicts_of(get_db(), event_id, org["id"])
    verdict = history[0].as_json(doc.content_sha256) if history else None
    return jsonify(doc.to_json(verdict))


@bp.post("/api/v1/events/<int:event_id>/review")
@allow("steward")
@describe(
    "Signer la revue (conforme ou contestée)",
    tag="Accès",
    query=m.ReviewQuery,
    body=m.VerdictIn,
    response=m.VerdictOut,
    status=201,
    notes="Le référent de l'organisation seulement ; le verdict porte l'empreinte du contenu "
    "lu et entre dans la chaîne d'audit.",
)
def api_sign_review(event_id: int) -> Any:
    """The steward of the organisation records ``conforme`` or ``contestee`` with a comment."""
    given: m.VerdictIn = parsed_body()  # validated against the declared model before the view
    org = _org(request.args.get("org"))
    doc = document(org, event_id)
    v = access.record_verdict(
        get_db(),
        now(),
        require_user(),
        doc,
        given.verdict,
        given.comment,
        grants=given.grants or [],
        reads=given.reads or [],
    )
    return jsonify(v.as_json(doc.content_sha256)), 201


# --- the review: verdict and answer forms ---------------------------------------------------


@bp.post("/acces/revue/verdict")
@allow("steward")
def sign_review() -> Response:
    org = _org(request.form.get("org"))
    event_id = request.form.get("event", type=int)
    if event_id is None:
        fail(422, "Choisissez un événement.")
    form = {
        "verdict": request.form.get("verdict", ""),
        "comment": request.form.get("comment", ""),
        "grants": request.form.getlist("grants"),
    }
    try:
        access.record_verdict(
            get_db(),
            now(),
            require_user(),
            document(org, event_id),
            form["verdict"],
            form["comment"],
            grants=_ints(form["grants"]),
        )
    except (access.AccessDenied, access.NotFound):
        raise
    except access.AccessError as exc:
        return review_page(org, event_id, form=form, error=str(exc), status=exc.status)
    return done(
        "Verdict enregistré dans le journal d'audit.",
        url_for("access.review", org=org["slug"], event=event_id) + "#review-verdict",
    )


@bp.post("/acces/revue/verdicts/<int:verdict_id>/reponse")
@allow("director")
def answer_review(verdict_id: int) -> Response:
    db = get_db()
    v = access.get_verdict(db, verdict_id)
    org = access.reviewable_org(db, require_user(), v.org_slug)
    try:
        access.answer_verdict(db, now(), require_user(), verdict_id, request.form.get("answer", ""))
    except (access.AccessDenied, access.NotFound):
        raise
    except access.AccessError as exc:
        return review_page(org, v.event_id, answer_error=str(exc), status=exc.status)
    return done(
        "Réponse enregistrée et transmise au propriétaire.",
        url_for("access.review", org=v.org_slug, event=v.event_id) + "#review-verdict",
    )


# --- the steward's dashboard and what waits for a person ------------------------------------


@bp.get("/acces/proprietaire")
@allow("steward")
def owner_dashboard() -> Response:
    """The owner's own dashboard (also the steward's home page block)."""
    user = require_user()
    db = get_db()
    org = access.reviewable_org(db, user, user.org_slug)
    p = policy()
    board = access.owner_dashboard(
        db, now(), org, user, review_delay=p.review_delay, remind_before=p.agreement_notice
    )
    # On the home page (htmx) the unread notifications are in the inbox block beside it.
    return render(
        "access/owner.html", "access/_owner.html", board=board, embedded=bool(htmx), **_labels()
    )


@bp.post("/acces/mes-notifications/<int:notification_id>/read")
@allow(*HOLDERS, "steward")
def read_personal(notification_id: int) -> Response:
    """Mark one of my notifications read (someone else's: nothing happens)."""
    access.mark_personal_read(get_db(), now(), require_user(), notification_id)
    return done(
        "Notification marquée comme lue.", request.form.get("next") or url_for("home.index")
    )


# --- agreements: versions and what changed --------------------------------------------------


@bp.get("/acces/conventions/<int:agreement_id>/versions")
@allow(*HOLDERS, "steward")
def agreement_versions(agreement_id: int) -> Response:
    """Every version of an agreement, newest first, each with what changed from the one before."""
    db, t = get_db(), now()
    a = access.get_agreement(db, agreement_id)
    found = access.versions(db, a.key)
    items = []
    for i, v in enumerate(found):
        changes = access.diff(found[i - 1], v) if i else []
        items.append(
            {
                "agreement": v,
                "renewal": access.renewal(v, t, policy().agreement_notice),
                "changes": changes,
                "terms": access.terms(v) if i == 0 else [],
            }
        )
    return render(
        "access/agreement_versions.html",
        agreement=a,
        items=list(reversed(items)),
        can_renew=require_user().has("steward") and require_user().org_id == a.owner_org_id,
        **_labels(),
    )
