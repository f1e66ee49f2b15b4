"""Break glass in the UI and the API: agreements, grant requests, approvals, reviews, reads.

The admin role is on none of these rules but TOTP enrolment: it can hold no grant and read no
restricted data by any route.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, current_app, g, jsonify, make_response, redirect, request, url_for
from werkzeug.wrappers import Response

from .. import access, auth
from ..clock import local, parse_iso
from . import api_models as m
from .auth_views import _safe_next
from .context import event_or_404, get_db, now, require_user
from .errors import fail
from .htmx import render
from .notices import done, refused
from .openapi import body as parsed_body
from .openapi import describe
from .owner import review_page
from .params import bbox_arg, int_arg
from .security import allow, lockout_policy

bp = Blueprint("access", __name__)

HOLDERS = ("director", "cell", "liaison", "exercise")
SENSITIVITY_LABELS = {"restricted": "restreinte", "personal": "personnelle", "public": "publique"}
APPROVAL_LABELS = {
    "none": "aucune (notification au propriétaire)",
    "second_person": "second directeur",
}
SCOPE_LABELS = {"zone": "zone de l'événement", "territory": "tout le territoire"}


def request_id() -> str:
    """The client's X-Request-Id when sane, else a fresh one, the same for the whole request
    (recorded with every read; the offline marking looks for it)."""
    if "request_id" not in g:
        given = request.headers.get("X-Request-Id", "")
        sane = given and len(given) <= 64 and all(c.isalnum() or c in "-_." for c in given)
        g.request_id = given if sane else uuid.uuid4().hex
    return str(g.request_id)


def _ctx() -> dict[str, Any]:
    return {
        "REASON_CODES": access.REASON_CODES,
        "STATUS_LABELS": access.STATUS_LABELS,
        "SENSITIVITY_LABELS": SENSITIVITY_LABELS,
        "APPROVAL_LABELS": APPROVAL_LABELS,
        "SCOPE_LABELS": SCOPE_LABELS,
        "GRANTABLE_ROLES": access.GRANTABLE_ROLES,
        "PURPOSE_LABELS": access.PURPOSE_LABELS,
        "LAPSE_RULES": access.LAPSE_RULES,
        "renewal": access.renewal,
        "ROLE_LABELS": auth.ROLES,
        "now": now(),
    }


def clamp_note(g: access.Grant) -> str:
    """Why a grant ends before the duration asked, in French ("" when it does not)."""
    if not g.expires_at or not g.activated_at:
        return ""
    asked = (parse_iso(g.expires_at) - parse_iso(g.activated_at)).total_seconds() / 60
    if asked + 1e-6 >= g.duration_min:
        return ""
    return (
        f"Durée réduite : {g.duration_min} min demandées, {int(asked)} min accordées"
        " (plafond de la convention)."
    )


# --- the "Accès" page ----------------------------------------------------------------------


@bp.get("/acces")
@allow(*HOLDERS, "steward")
def index() -> Response:
    user = require_user()
    db, t = get_db(), now()
    mine = access.list_grants(db, user_id=user.id)
    owned = access.list_grants(db, org_id=user.org_id) if user.has("steward") else []
    live_owned = [g for g in owned if g.effective_status(t) in access.LIVE]
    highlight = None
    gid = int_arg("grant", "Accès")
    if gid:
        highlight = next((g for g in mine if g.id == gid), None)
    return render(
        "access/index.html",
        mine=mine,
        pending=access.pending_for(db, t, user),
        inbox=access.notifications_for(db, user),
        owned=live_owned,
        highlight=highlight,
        clamp_note=clamp_note,
        can_revoke=lambda g: access.can_revoke(user, g),
        **_ctx(),
    )


@bp.post("/acces/notifications/<int:notification_id>/read")
@allow("steward")
def read_notification(notification_id: int) -> Response:
    access.mark_read(get_db(), now(), require_user(), notification_id)
    return done("Notification marquée comme lue.", request.form.get("next") or _index())


# --- agreements ----------------------------------------------------------------------------


@bp.get("/acces/conventions")
@allow(*HOLDERS, "steward")
def list_agreements() -> Response:
    user = require_user()
    db = get_db()
    history = request.args.get("history") == "1"
    agreements = access.list_agreements(db, include_history=history)
    own_datasets = []
    if user.has("steward"):
        own_datasets = access.owned_restricted_datasets(db, user.org_id)
    return render(
        "access/agreements.html",
        agreements=agreements,
        own_datasets=own_datasets,
        history=history,
        **_ctx(),
    )


def _terms_from_form() -> dict[str, Any]:
    form = request.form
    kinds = [k.strip() for k in form.get("event_kinds", "").replace(";", ",").split(",")]
    fields = [f.strip() for f in form.get("fields", "").replace(";", ",").split(",")]
    return {
        "roles": form.getlist("roles"),
        "event_kinds": [k for k in kinds if k],
        "drills_allowed": form.get("drills_allowed") == "1",
        "max_duration_min": form.get("max_duration_min", "0"),
        "approval": form.get("approval", ""),
        "scope": form.get("scope", ""),
        "margin_m": form.get("margin_m", "0") or "0",
        "fields": [f for f in fields if f],
        "valid_from": form.get("valid_from") or None,
        "valid_to": form.get("valid_to") or None,
        "review_at": form.get("review_at") or None,
        "on_lapse": form.get("on_lapse") or "continue",
    }


def _agreement_form(
    dataset: dict[str, Any],
    form: dict[str, Any],
    error: str | None = None,
    agreement: access.Agreement | None = None,
    status: int = 200,
) -> Response:
    return render(
        "access/agreement_form.html",
        "access/_agreement_form.html",
        status=status,
        dataset=dataset,
        form=form,
        form_error=error,
        agreement=agreement,
        **_ctx(),
    )


def _own_dataset(slug: str) -> dict[str, Any]:
    user = require_user()
    d = access.dataset(get_db(), slug)
    if d.owner_org_id != user.org_id:
        fail(403, "Ce jeu de données appartient à une autre organisation.")
    return d


@bp.get("/acces/conventions/new")
@allow("steward")
def new_agreement() -> Response:
    d = _own_dataset(request.args.get("dataset", ""))
    form = {
        "roles": ["cell"],
        "event_kinds": ["*"],
        "drills_allowed": True,
        "max_duration_min": 120,
        "approval": "second_person" if d.sensitivity == "personal" else "none",
        "scope": "zone",
        "margin_m": 0,
        "fields": d.field_names,
        "valid_from": "",
        "valid_to": "",
        "review_at": "",
        "on_lapse": "continue",
    }
    return _agreement_form(d, form)


@bp.post("/acces/conventions")
@allow("steward")
def create_agreement() -> Response:
    d = _own_dataset(request.form.get("dataset", ""))
    terms = _terms_from_form()
    try:
        access.sign_agreement(get_db(), now(), require_user(), d.slug, **terms)
    except access.AccessError as exc:
        return _agreement_form(d, terms, str(exc), status=422)
    return redirect(url_for("access.list_agreements"))


def _own_agreement(agreement_id: int) -> tuple[access.Agreement, dict[str, Any]]:
    a = access.get_agreement(get_db(), agreement_id)
    return a, _own_dataset(a.dataset_slug)


@bp.get("/acces/conventions/<int:agreement_id>/edit")
@allow("steward")
def edit_agreement(agreement_id: int) -> Response:
    a, d = _own_agreement(agreement_id)
    form = {
        "roles": list(a.roles),
        "event_kinds": list(a.event_kinds),
        "drills_allowed": a.drills_allowed,
        "max_duration_min": a.max_duration_min,
        "approval": a.approval,
        "scope": a.scope,
        "margin_m": a.margin_m,
        "fields": list(a.fields),
        "valid_from": a.valid_from[:10],
        "valid_to": (a.valid_to or "")[:10],
        # A renewal past the review date proposes the next one (a year on) by leaving it empty.
        "review_at": "" if a.lapsed(now()) else (a.review_at or "")[:10],
        "on_lapse": a.on_lapse,
    }
    return _agreement_form(d, form, agreement=a)


@bp.post("/acces/conventions/<int:agreement_id>")
@allow("steward")
def update_agreement(agreement_id: int) -> Response:
    a, d = _own_agreement(agreement_id)
    terms = _terms_from_form()
    try:
        access.edit_agreement(get_db(), now(), require_user(), agreement_id, **terms)
    except access.AccessError as exc:
        return _agreement_form(d, terms, str(exc), agreement=a, status=422)
    return redirect(url_for("access.list_agreements"))


@bp.post("/acces/conventions/<int:agreement_id>/withdraw")
@allow("steward")
def withdraw_agreement(agreement_id: int) -> Response:
    _own_agreement(agreement_id)
    access.withdraw_agreement(get_db(), now(), require_user(), agreement_id)
    return redirect(url_for("access.list_agreements"))


# --- break glass ---------------------------------------------------------------------------


def _grant_form(
    event_id: int, slug: str, form: dict[str, Any], error: str | None = None, status: int = 200
) -> Response:
    user = require_user()
    db, t = get_db(), now()
    event = event_or_404(event_id)
    d = access.dataset(db, slug)
    if d.sensitivity == "public":
        fail(422, "Ce jeu de données est public : aucun accès à ouvrir.")
    candidates = access.matching_agreements(db, t, user, event, d.id)
    return render(
        "access/grant_form.html",
        "access/_grant_form.html",
        status=status,
        event=event,
        dataset=d,
        agreement=candidates[0] if candidates else None,
        totp_needed=user.totp_enrolled or d.sensitivity == "personal",
        enrol_needed=d.sensitivity == "personal" and not user.totp_enrolled,
        holders=access.holders(db, t, event_id, slug),
        form=form,
        form_error=error,
        drill_banner=event.is_drill,
        **_ctx(),
    )


@bp.get("/events/<int:event_id>/grants/new")
@allow(*HOLDERS)
def new_grant(event_id: int) -> Response:
    """The "ouvrir l'accès" form (the event page links here with ?dataset=slug)."""
    return _grant_form(
        event_id,
        request.args.get("dataset", ""),
        {"reason_code": "", "justification": "", "duration_min": ""},
    )


@bp.post("/events/<int:event_id>/grants")
@allow(*HOLDERS)
def create_grant(event_id: int) -> Response:
    slug = request.form.get("dataset", "")
    form = {
        "reason_code": request.form.get("reason_code", ""),
        "justification": request.form.get("justification", ""),
        "duration_min": request.form.get("duration_min", ""),
    }
    try:
        g = access.request_grant(
            get_db(),
            now(),
            require_user(),
            event_id,
            slug,
            reason_code=form["reason_code"],
            justification=form["justification"],
            duration_min=form["duration_min"],  # type: ignore[arg-type]
            totp=request.form.get("totp"),
        )
    except access.NotFound:
        raise
    except access.AccessError as exc:
        return _grant_form(event_id, slug, form, str(exc), status=exc.status)
    return redirect(url_for("access.index", grant=g.id))


def _decide(grant_id: int, action: str, reason: str | None = None) -> access.Grant:
    """Approve, deny or revoke a grant as the signed-in user, for the page and the API alike.
    ``reason``: the API's validated body gives it; a page's form (or JSON) otherwise."""
    user = require_user()
    db, t = get_db(), now()
    if reason is None:
        given = (request.get_json(silent=True) or {}).get("reason") if request.is_json else None
        reason = str(given or request.form.get("reason", ""))
    if action == "approve":
        return access.approve_grant(db, t, user, grant_id)
    if action == "deny":
        return access.deny_grant(db, t, user, grant_id, reason)
    return access.revoke_grant(db, t, user, grant_id, reason)


def _index() -> str:
    return url_for("access.index")


@bp.post("/acces/grants/<int:grant_id>/approve")
@allow("director")
def approve_grant(grant_id: int) -> Response:
    back = request.form.get("next") or _index()
    try:
        g = _decide(grant_id, "approve")
    except access.AccessError as exc:
        if exc.status in (403, 404):
            raise  # a refusal of policy is an error page, not a message
        return refused(exc.message, back)
    return done(
        f"Accès approuvé : {g.user_name} peut lire « {g.dataset_title} » jusqu'à"
        f" {local(g.expires_at, '%H:%M')} (noté en main courante).",
        back,
    )


@bp.post("/acces/grants/<int:grant_id>/deny")
@allow("director")
def deny_grant(grant_id: int) -> Response:
    back = request.form.get("next") or _index()
    try:
        g = _decide(grant_id, "deny")
    except access.AccessError as exc:
        if exc.status in (403, 404):
            raise  # a refusal of policy is an error page, not a message
        return refused(exc.message, back)
    return done(
        f"Demande refusée : {g.user_name} n'aura pas accès à « {g.dataset_title} »"
        " (motif noté en main courante).",
        back,
    )


@bp.post("/acces/grants/<int:grant_id>/revoke")
@allow(*HOLDERS, "steward")
def revoke_grant(grant_id: int) -> Response:
    _decide(grant_id, "revoke")
    return redirect(_safe_next(request.form.get("next") or url_for("access.index")))


# --- TOTP enrolment ------------------------------------------------------------------------


def _totp_page(status: int = 200, error: str | None = None, done: bool = False) -> Response:
    """The enrolment page: the waiting secret's QR code and the first-code form, or the button
    that generates a secret."""
    user = require_user()
    secret = None if done else auth.pending_totp(get_db(), now(), user.login)
    uri = auth.provisioning_uri(secret, user.login) if secret else None
    return render(
        "access/totp.html",
        status=status,
        secret=secret,
        uri=uri,
        qr=auth.provisioning_qr(uri) if uri else None,
        error=error,
        done=done,
    )


@bp.get("/acces/totp")
@allow()
def totp() -> Response:
    return _totp_page()


@bp.post("/acces/totp/confirm")
@allow()
def confirm_totp() -> Response:
    """The first code from the app just configured: only then is the secret saved."""
    try:
        auth.confirm_totp_enrolment(
            get_db(), now(), require_user().login, request.form.get("code", "")
        )
    except auth.AuthError as exc:
        return _totp_page(status=422, error=exc.message)
    return _totp_page(done=True)


@bp.post("/acces/totp")
@allow()
def enrol_totp() -> Response:
    user = require_user()
    if user.totp_enrolled:
        # Replacing the secret would let a stolen session get past the step-up: re-authenticate
        # (failures count towards the account's lock-out like any sign-in).
        try:
            auth.authenticate(
                get_db(),
                now(),
                user.login,
                request.form.get("password", ""),
                request.remote_addr or "?",
                lockout_policy(current_app),
            )
        except auth.LockedOut:
            raise
        except auth.AuthError:
            return render(
                "access/totp.html",
                status=403,
                secret=None,
                uri=None,
                error="Mot de passe incorrect : le secret n'a pas été remplacé.",
            )
    auth.start_totp_enrolment(get_db(), now(), user.login)
    return _totp_page()


# --- restricted features in a list ---------------------------------------------------------


def request_links(d: access.Dataset) -> list[dict[str, Any]]:
    """Open events where the user may ask for ``d`` ("demander l'accès"), real ones first,
    and those where no agreement lets them (said, not hidden)."""
    user = require_user()
    db, t = get_db(), now()
    mine = {
        g.event_id: g
        for g in access.list_grants(db, user_id=user.id, dataset_slug=d.slug, statuses=("pending",))
        if g.effective_status(t) == "pending"
    }
    return [
        {
            "event": event,
            "agreement": agreement,
            "pending": mine.get(event.id),
            "url": url_for("access.new_grant", event_id=event.id, dataset=d.slug),
        }
        for event, agreement in access.request_options(db, t, user, d.id)
    ]


@bp.get("/events/<int:event_id>/datasets/<slug>")
@allow(*HOLDERS)
def show_features(event_id: int, slug: str) -> Response:
    user = require_user()
    d = access.dataset(get_db(), slug)
    event = event_or_404(event_id)
    try:
        features, g = access.read_features(
            get_db(), now(), user, event_id, slug, "view", request_id()
        )
    except access.AccessDenied as exc:
        if d.sensitivity == "public":
            raise
        # Not a bare 403: where the user may ask for it (this event first if open).
        return render(
            "access/features_denied.html",
            status=403,
            dataset=d,
            event=event,
            message=exc.message,
            options=request_links(d),
            drill_banner=event.is_drill,
            **_ctx(),
        )
    shown = [c for c in (d.field_names or []) if c in g.fields or c == d.id_field]
    if not shown:
        shown = sorted({k for f in features for k in f["properties"]})
    columns = []
    for name in shown:
        spec = d.field(name)
        columns.append(
            {
                "name": name,
                "label": (spec.shown_label + (f" ({spec.unit})" if spec.unit else ""))
                if spec
                else name,
                "phone": bool(spec and spec.is_phone),
            }
        )
    return render(
        "access/features.html",
        features=features,
        grant=g,
        dataset=d,
        columns=columns,
        drill_banner=event.is_drill,
        **_ctx(),
    )


# --- owner review --------------------------------------------------------------------------


def _review() -> access.Review:
    user = require_user()
    db = get_db()
    org = access.reviewable_org(db, user, request.args.get("org") or user.org_slug)
    event_id = int_arg("event", "Événement", minimum=1)
    if event_id is None:
        fail(422, "Choisissez un événement.")
    return access.owner_review(db, now(), org["id"], event_id)


@bp.get("/acces/revue")
@allow("steward", "director")
def review() -> Response:
    user = require_user()
    db = get_db()
    if request.args.get("event") is None:
        org = access.reviewable_org(db, user, request.args.get("org") or user.org_slug)
        orgs = access.organisations(db)
        return render(
            "access/review_list.html",
            org=org,
            orgs=orgs if user.has("director") else [],
            events=access.review_events(db, org["id"]),
            held=access.held_checkpoint(db, org["id"]),
            **_ctx(),
        )
    rv = _review()
    return review_page(rv.org, rv.event.id)


@bp.get("/acces/points-de-controle/<int:delivery_id>")
@allow("steward", "director")
def download_checkpoint(delivery_id: int) -> Response:
    """A signed checkpoint given to an owner: its stewards (and directors) download the file."""
    user = require_user()
    d = access.get_checkpoint_delivery(get_db(), delivery_id)
    if not user.has("director") and d.org_id != user.org_id:
        fail(403, "Ce point de contrôle a été remis à une autre organisation.")
    response = make_response(d.body)
    response.mimetype = "application/json"
    response.headers["Content-Disposition"] = f'attachment; filename="{d.filename}"'
    return response


@bp.get("/acces/revue.pdf")
@allow("steward", "director")
def review_pdf() -> Response:
    rv = _review()
    doc = access.readable_review(get_db(), now(), rv)
    history = access.verdicts_of(get_db(), rv.event.id, rv.org["id"])
    response = make_response(access.review_pdf(doc, history[0] if history else None))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="revue-{rv.org["slug"]}-evenement-{rv.event.id}.pdf"'
    )
    return response


# --- JSON API ------------------------------------------------------------------------------


def grant_json(g: access.Grant) -> dict[str, Any]:
    """The API shape of a grant; its status is computed from the clock at answer time (an active
    grant reads ``expired`` the moment it expires, whatever the sweep did)."""
    status = g.effective_status(now())
    return {
        "id": g.id,
        "status": status,
        "event": g.event_id,
        "dataset": g.dataset_slug,
        "user": g.user_login,
        "reason_code": g.reason_code,
        "duration_min": g.duration_min,
        "requested_at": g.requested_at,
        "pending_until": g.pending_until,
        "activated_at": g.activated_at,
        "expires_at": g.expires_at,
        "max_duration_min": g.max_duration_min,
        "clamped": g.clamped,
        "clamp_reason": g.clamp_reason,
        "approval_required": status == "pending",
        "decided_by": g.decided_by_name,
        "end_reason": g.end_reason,
    }


@bp.post("/api/v1/events/<int:event_id>/grants")
@allow(*HOLDERS)
@describe(
    "Demander un bris de glace",
    tag="Accès",
    body=m.GrantIn,
    response=m.GrantOut,
    status=201,
    errors=(409,),
)
def api_create_grant(event_id: int) -> Any:
    given: m.GrantIn = parsed_body()  # validated against the declared model before the view
    g = access.request_grant(
        get_db(),
        now(),
        require_user(),
        event_id,
        given.dataset,
        reason_code=given.reason_code,
        justification=given.justification,
        duration_min=given.duration_min,
        totp=given.totp,
    )
    return jsonify(grant_json(g)), 201


def _api_decide(grant_id: int, action: str) -> Any:
    given: m.DecisionIn = parsed_body()
    return jsonify(grant_json(_decide(grant_id, action, given.reason)))


@bp.post("/api/v1/grants/<int:grant_id>/approve")
@allow("director")
@describe(
    "Approuver une demande",
    tag="Accès",
    body=m.DecisionIn,
    body_required=False,
    response=m.GrantOut,
    errors=(409,),
)
def api_approve_grant(grant_id: int) -> Any:
    return _api_decide(grant_id, "approve")


@bp.post("/api/v1/grants/<int:grant_id>/deny")
@allow("director")
@describe(
    "Refuser une demande",
    tag="Accès",
    body=m.DecisionIn,
    body_required=False,
    response=m.GrantOut,
    errors=(409,),
)
def api_deny_grant(grant_id: int) -> Any:
    return _api_decide(grant_id, "deny")


@bp.post("/api/v1/grants/<int:grant_id>/revoke")
@allow(*HOLDERS, "steward")
@describe(
    "Révoquer un accès",
    tag="Accès",
    body=m.DecisionIn,
    body_required=False,
    response=m.GrantOut,
    errors=(409,),
)
def api_revoke_grant(grant_id: int) -> Any:
    return _api_decide(grant_id, "revoke")


@bp.get("/api/v1/grants")
@allow(*HOLDERS, "steward")
@describe("Mes accès", tag="Accès", response=m.GrantList)
def api_list_grants() -> Any:
    user = require_user()
    return jsonify(grants=[grant_json(g) for g in access.list_grants(get_db(), user_id=user.id)])


def features_response(event_id: int, slug: str, purpose: str = "api") -> Any:
    """GeoJSON of the restricted features a valid grant opens; 403 without one.

    The catalogue's ``/api/v1/datasets/<slug>/features?event=<id>`` delegates here for
    restricted and personal datasets.
    """
    bbox = bbox_arg()
    features, g = access.read_features(
        get_db(), now(), require_user(), event_id, slug, purpose, request_id(), bbox
    )
    return jsonify(
        type="FeatureCollection",
        features=features,
        classification="DIFFUSION RESTREINTE",
        drill=g.is_drill,
        marking="EXERCICE" if g.is_drill else None,  # a drill's exports say so, like its pages
        grant={"id": g.id, "expires_at": g.expires_at},
        # Datasets kept by their owner: read live, or the synced copy and why (app.remote).
        source=features.source.as_json() if getattr(features, "source", None) else None,
    )


@bp.get("/api/v1/events/<int:event_id>/datasets/<slug>/features")
@allow(*HOLDERS)
@describe(
    "Lire un jeu restreint ouvert par un accès",
    tag="Accès",
    query=m.BboxQuery,
    response=m.RestrictedFeatures,
    errors=(400,),
)
def api_event_features(event_id: int, slug: str) -> Any:
    return features_response(event_id, slug)
