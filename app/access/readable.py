"""The owner review as a person reads it, and as the owner's systems check it.

:func:`readable_review` turns a :class:`~app.access.review.Review` (grants and raw access
records) into what a data steward reads: a summary first, then each grant with its holder's
full name and function, the state in words ("révoqué à la clôture de l'événement"), the reads
grouped by usage in French, the features seen; the detailed per-read list stays available.

The same object is the review's JSON (``GET /api/v1/events/<id>/review``). Its *content* — the
JSON without the members that describe the moment of reading (``content_sha256``, ``verdict``,
``generated_at``, ``audit_head``, ``checkpoint``) — is hashed in a canonical form (sorted keys,
no whitespace, UTF-8, integers only) so that an owner recomputes ``content_sha256`` from the
JSON alone (docs/owner-review.md). A verdict signs that hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import auth, fr
from ..clock import local, parse_iso
from ..db import rows
from ..records import Grant
from .policy import PURPOSE_LABELS, REASON_CODES
from .review import Review

FORMAT = "crisis-console/owner-review/1"
# Members of the JSON that are not hashed: they describe the moment of reading, not the review.
NOT_HASHED = ("content_sha256", "verdict", "generated_at", "audit_head", "checkpoint")

END_REASONS: dict[str, str] = {
    "event_closed": "révoqué à la clôture de l'événement",
    "agreement_withdrawn": "révoqué : convention retirée par le propriétaire",
    "no_longer_allowed": "annulé : événement clos ou convention retirée avant l'approbation",
    "pending_timeout": "expiré sans décision (personne n'a approuvé à temps)",
    "expired": "expiré au terme prévu",
}
SOURCE_LABELS: dict[str, str] = {
    "live": "lu en direct chez le gestionnaire",
    "copy": "copie synchronisée",
    "none": "aucune copie disponible",
}


def canonical(content: dict[str, Any]) -> bytes:
    """The canonical bytes of a review's content: sorted keys, no whitespace, UTF-8."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(document: dict[str, Any]) -> str:
    """SHA-256 of the canonical content of a review JSON (its non-hashed members removed)."""
    content = {k: v for k, v in document.items() if k not in NOT_HASHED}
    return hashlib.sha256(canonical(content)).hexdigest()


def duration_text(minutes: int) -> str:
    """``45 min``, ``2 h 05 min``, ``1 j 3 h``: a span of time in words a person reads."""
    minutes = max(0, int(minutes))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest:02d} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} j {hours} h" if hours else f"{days} j"


@dataclass(frozen=True)
class Person:
    """Who acted, as a person reads it: full name, function (roles), organisation."""

    login: str
    name: str
    function: str
    organisation: str

    def as_json(self) -> dict[str, str]:
        return {
            "login": self.login,
            "name": self.name,
            "function": self.function,
            "organisation": self.organisation,
        }

    @property
    def label(self) -> str:
        return f"{self.name}, {self.function} ({self.organisation})"


def people(db: sqlite_utils.Database) -> dict[str, Person]:
    """Every account by login (and by ``#id``), with its functions (role labels) and
    organisation."""
    out: dict[str, Person] = {}
    for r in rows(
        db,
        "SELECT u.id, u.login, u.name, o.name AS org, group_concat(r.role) AS roles FROM users u"
        " JOIN organisations o ON o.id = u.org_id LEFT JOIN user_roles r ON r.user_id = u.id"
        " GROUP BY u.id",
    ):
        roles = sorted((r["roles"] or "").split(",")) if r["roles"] else []
        function = ", ".join(auth.ROLES.get(x, x) for x in roles) or "sans rôle"
        out[r["login"]] = out[f"#{r['id']}"] = Person(r["login"], r["name"], function, r["org"])
    return out


def _person(found: dict[str, Person], login: str | None) -> Person:
    if login and login in found:
        return found[login]
    name = login or "la console"
    return Person(login or "system", name, "compte inconnu" if login else "automatique", "—")


def state_text(g: Grant, now: datetime) -> str:
    """The grant's state in words, with why it ended."""
    effective = g.effective_status(now)
    if effective == "active":
        return f"actif jusqu'au {local(g.expires_at)}"
    if effective == "pending":
        return f"en attente d'approbation (jusqu'à {local(g.pending_until, '%H:%M')})"
    if effective != g.status:  # ended by the clock; the sweep has not tidied it yet
        if g.status == "pending":
            return END_REASONS["pending_timeout"]
        if effective == "expired":
            return f"{END_REASONS['expired']} ({local(g.expires_at)})"
        if g.event_status != "open":
            return END_REASONS["event_closed"]
        return END_REASONS["agreement_withdrawn"]
    reason = (g.end_reason or "").strip()
    if reason in END_REASONS:
        text = END_REASONS[reason]
        if reason == "expired" and g.expires_at:
            text += f" ({local(g.expires_at)})"
        return text
    who = g.ended_by_name or g.decided_by_name or "un directeur"
    free = f" : « {reason} »" if reason and reason not in ("denied", "revoked") else ""
    if g.status == "denied":
        return f"refusé par {who}{free}"
    if g.status == "revoked":
        return f"révoqué par {who}{free}"
    return "expiré"


def usage_label(purpose: str, details: dict[str, Any]) -> str:
    """What a read was for, in French, with where a remote dataset's features came from."""
    label = PURPOSE_LABELS.get(purpose, purpose)
    source = details.get("source")
    if source == "copy" and details.get("copy_at"):
        return f"{label} — copie du {local(details['copy_at'])}"
    if source in SOURCE_LABELS:
        return f"{label} — {SOURCE_LABELS[source]}"
    return label


def _minutes(start: str | None, end: str | None, now: datetime) -> int:
    if not start:
        return 0
    stop = parse_iso(end) if end else now
    return max(0, int((stop - parse_iso(start)).total_seconds() // 60))


@dataclass
class GrantReview:
    """One grant as the owner reads it: holder, state, time open, reads grouped by usage."""

    grant: Grant
    holder: Person
    approval: str
    state: str
    opened_at: str | None
    closed_at: str | None
    minutes_open: int
    reads: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    feature_ids: list[str] = field(default_factory=list)

    @property
    def features_seen(self) -> int:
        return len(self.feature_ids)

    @property
    def time_open(self) -> str:
        return duration_text(self.minutes_open)


def _read_json(r: dict[str, Any], found: dict[str, Person]) -> dict[str, Any]:
    d = r["details"]
    out: dict[str, Any] = {
        "seq": r["seq"],
        "at": r["at"],
        "user": _person(found, r["actor"]).as_json(),
        "dataset": d.get("dataset"),
        "purpose": d.get("purpose"),
        "usage": usage_label(str(d.get("purpose")), d),
        "count": int(d.get("count") or 0),
        "ids": [str(i) for i in d.get("ids") or []],
        "grant": d.get("grant"),
        "request_id": d.get("request_id"),
    }
    for key in ("source", "copy_at", "report", "agreement", "scope"):
        if d.get(key) is not None:
            out[key] = d[key]
    return out


def _group(reads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reads grouped by person and usage: how many, how many distinct features, first, last."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in reads:
        key = (r["user"]["login"], r["usage"])
        g = groups.get(key)
        if g is None:
            g = groups[key] = {
                "user": r["user"],
                "purpose": r["purpose"],
                "usage": r["usage"],
                "reads": 0,
                "ids": set(),
                "first_at": r["at"],
                "last_at": r["at"],
            }
        g["reads"] += 1
        g["ids"].update(r["ids"])
        g["last_at"] = r["at"]
    out = []
    for g in groups.values():
        ids = g.pop("ids")
        g["features"] = len(ids)
        out.append(g)
    return sorted(out, key=lambda g: (g["user"]["name"], g["first_at"], g["usage"]))


@dataclass
class ReadableReview:
    """The review a steward reads (summary first) and its JSON."""

    review: Review
    now: datetime
    grants: list[GrantReview]
    # Reads whose grant is not among the grants listed (every read names its grant, so this
    # stays empty): shown rather than dropped, so that no access record leaves the review.
    other_reads: list[dict[str, Any]]
    other_usage: list[dict[str, Any]]
    refusals: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    summary: dict[str, Any]
    content: dict[str, Any]
    content_sha256: str

    @property
    def event(self) -> Any:
        return self.review.event

    @property
    def org(self) -> dict[str, Any]:
        return self.review.org

    @property
    def reads(self) -> list[dict[str, Any]]:
        """Every read, in audit order (the detailed list)."""
        every = [r for g in self.grants for r in g.reads] + self.other_reads
        return sorted(every, key=lambda r: r["seq"])

    @property
    def checkpoint(self) -> dict[str, Any] | None:
        """The latest signed checkpoint that covers every record of the review, if any."""
        last = self.review.audit_seqs[-1] if self.review.audit_seqs else 0
        covering = [c for c in self.review.checkpoints if c["seq"] >= last]
        return covering[-1] if covering else None

    def to_json(self, verdict: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON of the API: the content, its hash, the verdict and the moment of reading."""
        cp = self.checkpoint
        return {
            **self.content,
            "content_sha256": self.content_sha256,
            "verdict": verdict,
            "generated_at": self.review.generated_at,
            "audit_head": {"seq": self.review.head_seq, "hash": self.review.head_hash},
            "checkpoint": (
                {k: cp[k] for k in ("seq", "hash", "signed_at", "key_id")} if cp else None
            ),
        }


def readable_review(db: sqlite_utils.Database, now: datetime, review: Review) -> ReadableReview:
    """The review a person reads, built from the grants and access records of ``review``."""
    found = people(db)
    by_grant: dict[int, list[dict[str, Any]]] = {}
    other: list[dict[str, Any]] = []
    grant_ids = {g.id for g in review.grants}
    for r in review.reads:
        item = _read_json(r, found)
        gid = item.get("grant")
        if isinstance(gid, int) and gid in grant_ids:
            by_grant.setdefault(gid, []).append(item)
        else:
            other.append(item)
    grants: list[GrantReview] = []
    for g in sorted(review.grants, key=lambda g: (g.activated_at or g.requested_at, g.id)):
        reads = by_grant.get(g.id, [])
        if g.flagged_for_review:
            approval = "sans approbation préalable (la convention le permet) — à revoir"
        elif g.decided_by and g.status != "denied":
            approval = _person(found, f"#{g.decided_by}").label
        elif g.status == "denied":
            approval = "refusé"
        else:
            approval = "en attente d'un second directeur"
        end = g.ended_at
        if end is None and g.expires_at and g.effective_status(now) != "active":
            end = g.expires_at if g.activated_at else g.pending_until
        ids = sorted({i for r in reads for i in r["ids"]})
        grants.append(
            GrantReview(
                grant=g,
                holder=_person(found, g.user_login),
                approval=approval,
                state=state_text(g, now),
                opened_at=g.activated_at,
                closed_at=end if g.activated_at else None,
                minutes_open=_minutes(g.activated_at, end, now) if g.activated_at else 0,
                reads=reads,
                usage=_group(reads),
                feature_ids=ids,
            )
        )
    refusals = [
        {
            "seq": r["seq"],
            "at": r["at"],
            "user": _person(found, r["actor"]).as_json(),
            "action": r["action"],
            "dataset": r["details"].get("dataset"),
            "why": str(r["details"].get("why") or r["details"].get("purpose") or ""),
        }
        for r in review.refusals
    ]
    changes = [
        {
            "seq": r["seq"],
            "at": r["at"],
            "user": _person(found, r["actor"]).as_json(),
            "action": r["action"],
            "dataset": r["details"].get("dataset"),
            "persons": [
                str(x) for x in ([r["details"]["person"]] if r["details"].get("person") else [])
            ]
            + [str(x) for x in r["details"].get("ids") or []],
            "to": r["details"].get("to"),
        }
        for r in review.changes
    ]
    summary = _summary(review, grants, other, refusals, changes, now)
    content = _content(review, grants, other, refusals, changes, summary, now)
    return ReadableReview(
        review=review,
        now=now,
        grants=grants,
        other_reads=other,
        other_usage=_group(other),
        refusals=refusals,
        changes=changes,
        summary=summary,
        content=content,
        content_sha256=hashlib.sha256(canonical(content)).hexdigest(),
    )


def _summary(
    review: Review,
    grants: list[GrantReview],
    other: list[dict[str, Any]],
    refusals: list[dict[str, Any]],
    changes: list[dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    reads = [r for g in grants for r in g.reads] + other
    seen = {(r["dataset"], i) for r in reads for i in r["ids"]}
    opened = [g for g in grants if g.opened_at]
    still_open = [g for g in opened if g.grant.effective_status(now) == "active"]
    holders = sorted({g.holder.login for g in grants})
    zone = sum(1 for r in reads if r.get("scope") == "zone")
    return {
        "grants": len(grants),
        "grants_opened": len(opened),
        "grants_without_approval": sum(1 for g in grants if g.grant.flagged_for_review),
        "people": len(holders),
        "minutes_open": sum(g.minutes_open for g in opened),
        "first_opened_at": min((g.opened_at for g in opened if g.opened_at), default=None),
        "last_closed_at": (
            None if still_open else max((g.closed_at for g in opened if g.closed_at), default=None)
        ),
        "still_open": len(still_open),
        "reads": len(reads),
        "unattached_reads": len(other),
        "annex_downloads": sum(1 for r in reads if r["purpose"] == "annex"),
        "features_seen": len(seen),
        "reads_zone_scope": zone,
        "reads_territory_scope": sum(1 for r in reads if r.get("scope") == "territory"),
        "outside_zone_reads": 0,
        "refusals": len(refusals),
        "changes": len(changes),
        "event_open": review.event.is_open,
    }


def _content(
    review: Review,
    grants: list[GrantReview],
    other: list[dict[str, Any]],
    refusals: list[dict[str, Any]],
    changes: list[dict[str, Any]],
    summary: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    ev = review.event
    return {
        "format": FORMAT,
        "event": {
            "id": ev.id,
            "title": ev.title,
            "playbook": ev.kind,
            "drill": ev.is_drill,
            "status": ev.status,
            "declared_at": ev.declared_at,
            "closed_at": ev.closed_at,
        },
        "organisation": {"slug": review.org["slug"], "name": review.org["name"]},
        "datasets": [
            {"slug": slug, "title": d["title"], "sensitivity": d["sensitivity"]}
            for slug, d in review.datasets.items()
        ],
        "summary": summary,
        "grants": [
            {
                "id": g.grant.id,
                "dataset": g.grant.dataset_slug,
                "dataset_title": g.grant.dataset_title,
                "holder": g.holder.as_json(),
                "reason_code": g.grant.reason_code,
                "reason": REASON_CODES.get(g.grant.reason_code, g.grant.reason_code),
                "justification": g.grant.justification,
                "requested_at": g.grant.requested_at,
                "opened_at": g.opened_at,
                "closed_at": g.closed_at,
                "minutes_open": g.minutes_open,
                "status": g.grant.effective_status(now),
                "state": g.state,
                "end_reason": g.grant.end_reason,
                "approval": g.approval,
                "without_approval": g.grant.flagged_for_review,
                "agreement": {"key": g.grant.agreement_key, "version": g.grant.agreement_version},
                "features_seen": g.features_seen,
                "feature_ids": g.feature_ids,
                "usage": g.usage,
                "reads": g.reads,
            }
            for g in grants
        ],
        "unattached_reads": other,
        "refusals": refusals,
        "changes": changes,
        "audit_seqs": list(review.audit_seqs),
    }


def summary_lines(doc: ReadableReview) -> list[tuple[str, str]]:
    """The summary as (label, sentence) pairs: the page and the PDF say the same thing."""
    s = doc.summary
    span = ""
    if s["first_opened_at"]:
        span = f" (du {local(s['first_opened_at'])}"
        span += (
            f" au {local(s['last_closed_at'])})" if s["last_closed_at"] else ", toujours ouvert)"
        )
    lines = [
        (
            "Accès",
            fr.count(s["grants"], "accès demandé", "accès demandés")
            + f", dont {fr.count(s['grants_opened'], 'ouvert', 'ouverts')}"
            + (
                f" et {fr.integer(s['grants_without_approval'])} sans approbation préalable"
                if s["grants_without_approval"]
                else ""
            )
            + ".",
        ),
        ("Personnes", fr.count(s["people"], "personne", "personnes") + "."),
        ("Temps d'ouverture", f"{duration_text(s['minutes_open'])} au total{span}."),
        (
            "Lectures",
            fr.count(s["reads"], "lecture enregistrée", "lectures enregistrées")
            + (
                f", dont {fr.count(s['annex_downloads'], 'téléchargement', 'téléchargements')}"
                " d'annexe restreinte"
                if s["annex_downloads"]
                else ""
            )
            + ".",
        ),
        (
            "Objets vus",
            fr.count(s["features_seen"], "objet distinct", "objets distincts") + ".",
        ),
        (
            "Hors zone",
            "0 lecture hors de la zone de l'événement — par construction : chaque lecture est"
            " filtrée par la zone de l'événement et la marge de la convention."
            + (
                f" {fr.count(s['reads_territory_scope'], 'lecture relève', 'lectures relèvent')}"
                " d'une convention « tout le territoire » (sans limite de zone)."
                if s["reads_territory_scope"]
                else ""
            ),
        ),
    ]
    if s["refusals"]:
        lines.append(
            ("Refus", fr.count(s["refusals"], "tentative refusée", "tentatives refusées") + ".")
        )
    if s["changes"]:
        lines.append(
            (
                "Campagne d'appels",
                fr.count(s["changes"], "changement enregistré", "changements enregistrés")
                + " par la cellule (identifiants et statuts, sans champ personnel).",
            )
        )
    return lines
