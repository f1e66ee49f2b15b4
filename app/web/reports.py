"""Situation reports: the list per event, generate now, download (with its SHA-256), the
printable main courante, and the report cadence of an event."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, make_response, redirect, request, url_for
from werkzeug.wrappers import Response

from .. import events, reports
from . import api_models as m
from .access import request_id
from .context import event_or_404, get_db, library, now, require_user, signer
from .geoindex import get_index
from .htmx import htmx, render, trigger
from .openapi import describe
from .security import allow

bp = Blueprint("reports", __name__)

# Who reads events reads their reports; admin (IT) and stewards do not (separation of duties).
READ_ROLES = events.READ_ROLES
GENERATE_ROLES: tuple[str, ...] = ("director", "cell")
CADENCE_ROLES = events.COMMAND_ROLES


def _playbook(event: events.Event) -> Any:
    return library().playbook(event.kind)


def issue_manual(
    event: events.Event, *, playbook: Any = None, past: Any = None
) -> reports.Report | None:
    """A report asked for by the signed-in user, now (restricted layers they hold a grant for
    opened through a recorded read) or rebuilt as at ``past`` (counts only)."""
    user = require_user()
    return reports.issue(
        get_db(),
        now(),
        event,
        signer(),
        trigger="manual",
        author=user.name,
        actor=user.login,
        reader=user if past is None else None,
        playbook=playbook if playbook is not None else _playbook(event),
        index=get_index(),
        past=past,
    )


def _context(event: events.Event, error: str | None = None) -> dict[str, Any]:
    user = require_user()
    moment = now()
    return {
        "event": event,
        "reports": reports.list_reports(get_db(), event.id),
        "next_at": events.next_report_at(event, moment),
        "can_generate": user.has(*GENERATE_ROLES),
        "can_cadence": user.has(*CADENCE_ROLES) and event.is_open,
        "error": error,
        "drill_banner": event.is_drill,
    }


@bp.get("/events/<int:event_id>/reports")
@allow(*READ_ROLES)
def list_reports(event_id: int) -> Response:
    event = event_or_404(event_id)
    return render("reports/list.html", "reports/_list.html", **_context(event))


@bp.post("/events/<int:event_id>/reports")
@allow(*GENERATE_ROLES)
def generate_report(event_id: int) -> Response:
    event = event_or_404(event_id)
    try:
        issue_manual(event)
    except reports.ReportError as exc:
        return render(
            "reports/list.html",
            "reports/_list.html",
            status=exc.status,
            **_context(event, exc.message),
        )
    if htmx:
        response = render("reports/list.html", "reports/_list.html", **_context(event))
        return trigger(response, "reports-changed")
    return redirect(url_for("reports.list_reports", event_id=event.id))


@bp.post("/events/<int:event_id>/reports/cadence")
@allow(*CADENCE_ROLES)
def change_cadence(event_id: int) -> Response:
    event = event_or_404(event_id)
    try:
        event = reports.set_cadence(
            get_db(), now(), event.id, request.form.get("cadence"), actor=require_user()
        )
    except reports.ReportError as exc:
        if exc.status in (404, 409):
            raise
        return render(
            "reports/list.html", "reports/_list.html", status=422, **_context(event, exc.message)
        )
    if htmx:
        return render("reports/list.html", "reports/_list.html", **_context(event))
    return redirect(url_for("reports.list_reports", event_id=event.id))


def _pdf(body: bytes, filename: str) -> Response:
    response = make_response(body)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _report(report_id: int) -> tuple[reports.Report, events.Event]:
    report = reports.get_report(get_db(), report_id)
    if report is None:
        raise reports.ReportError("Ce point de situation n'existe pas.", 404)
    return report, event_or_404(report.event_id)


@bp.get("/reports/<int:report_id>.pdf")
@allow(*READ_ROLES)
def download_report(report_id: int) -> Response:
    """The report's body: restricted data as counts only (a report stored before the annex
    existed and holding restricted detail is served under the annex's rule)."""
    report, event = _report(report_id)
    body = reports.body_for(get_db(), now(), require_user(), report, event, request_id())
    response = _pdf(body, report.filename)
    response.headers["X-Content-SHA256"] = report.sha256
    return response


@bp.get("/reports/<int:report_id>/annexe.pdf")
@allow(*READ_ROLES)
def download_annex(report_id: int) -> Response:
    """The report's restricted annex: only under a grant valid now; every download recorded."""
    report, event = _report(report_id)
    body = reports.annex_for(get_db(), now(), require_user(), report, event, request_id())
    response = _pdf(body, report.annex_filename)
    response.headers["X-Content-SHA256"] = report.annex_sha256 or ""
    return response


@bp.get("/events/<int:event_id>/log.pdf")
@allow(*READ_ROLES)
def log_pdf(event_id: int) -> Response:
    event = event_or_404(event_id)
    body = reports.log_pdf(get_db(), now(), event, require_user().name)
    return _pdf(body, f"main-courante-evenement-{event.id}.pdf")


# --- JSON API -------------------------------------------------------------------------------


def report_json(report: reports.Report) -> dict[str, Any]:
    """The API shape of a stored report (its PDF at ``url``)."""
    return {
        **report.to_dict(),
        "filename": report.filename,
        "url": url_for("reports.api_report_pdf", report_id=report.id),
    }


def _report_or_404(report_id: int) -> reports.Report:
    report = reports.get_report(get_db(), report_id)
    if report is None:
        raise reports.ReportError("Ce point de situation n'existe pas.", 404)
    event_or_404(report.event_id)
    return report


@bp.get("/api/v1/events/<int:event_id>/reports")
@allow(*READ_ROLES)
@describe("Les points de situation de l'événement", tag="Points de situation",
          response=m.ReportList)  # fmt: skip
def api_list_reports(event_id: int) -> Response:
    """Newest first, with the time the next scheduled one is due."""
    event = event_or_404(event_id)
    nxt = events.next_report_at(event, now())
    return jsonify(
        event=event.id,
        reports=[report_json(r) for r in reports.list_reports(get_db(), event.id)],
        next_report_at=nxt.strftime("%Y-%m-%dT%H:%M:%SZ") if nxt else None,
    )


@bp.post("/api/v1/events/<int:event_id>/reports")
@allow(*GENERATE_ROLES)
@describe("Établir un point de situation maintenant", tag="Points de situation",
          response=m.ReportOut, status=201, errors=(409,))  # fmt: skip
def api_generate_report(event_id: int) -> Response:
    """Numbered after the last one (the schedule does not move); restricted layers the author
    holds a valid grant for are opened through a recorded read; a checkpoint is signed."""
    report = issue_manual(event_or_404(event_id))
    if report is None:  # a manual report is always made; a scheduled slot may be taken
        raise reports.ReportError("Point de situation déjà établi pour ce créneau.", 409)
    response = jsonify(report_json(report))
    response.status_code = 201
    response.headers["Location"] = url_for("reports.api_get_report", report_id=report.id)
    return response


@bp.get("/api/v1/reports/<int:report_id>")
@allow(*READ_ROLES)
@describe("Un point de situation", tag="Points de situation", response=m.ReportOut)
def api_get_report(report_id: int) -> Response:
    return jsonify(report_json(_report_or_404(report_id)))


@bp.get("/api/v1/reports/<int:report_id>/pdf")
@allow(*READ_ROLES)
@describe("Le PDF d'un point de situation", tag="Points de situation", media="application/pdf")
def api_report_pdf(report_id: int) -> Response:
    """The stored PDF, byte for byte (its SHA-256 in ``X-Content-SHA256``)."""
    report = _report_or_404(report_id)
    body = reports.report_pdf(get_db(), report.id)
    assert body is not None
    response = _pdf(body, report.filename)
    response.headers["X-Content-SHA256"] = report.sha256
    return response
