"""Stored documents that hold restricted data (a situation report's restricted annex): every
download follows the rules of every other read.

A document names what it holds (``holdings``: dataset slug → feature ids). Its download needs,
for each of those datasets, a grant valid at the moment of the download — the same test as
every read. An agreement that covers the reader's role for that (open) event is the way in: the
refusal says the reader may break glass and names the datasets (docs/decisions.md). A download
writes one access record (``data.read``, purpose ``annex``) per dataset, naming the features,
in one transaction — no record, no document — so the owner's review counts it. A refusal is
recorded too (``data.denied``), like a refused read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import audit, auth
from ..db import transaction
from ..records import Agreement, Dataset, Event, Grant
from .agreements import matching_agreements
from .policy import AccessDenied, dataset
from .reads import valid_grant


@dataclass(frozen=True)
class DocumentRead:
    """One dataset of a document and the grant under which it is read."""

    dataset: Dataset
    ids: list[str]
    grant: Grant


@dataclass(frozen=True)
class DocumentAccess:
    """What allows ``user`` to read each dataset of a document now, what is missing, and which
    missing datasets an agreement would let the user open now (break glass)."""

    allowed: list[DocumentRead]
    missing: list[Dataset]
    openable: list[tuple[Dataset, Agreement]]


def document_access(
    db: sqlite_utils.Database,
    now: datetime,
    user: auth.User,
    event: Event,
    holdings: dict[str, list[str]],
) -> DocumentAccess:
    """Per dataset of the document: the user's valid grant, or why not (and the way in)."""
    allowed: list[DocumentRead] = []
    missing: list[Dataset] = []
    openable: list[tuple[Dataset, Agreement]] = []
    for slug in sorted(holdings):
        d = dataset(db, slug)
        g = valid_grant(db, now, user, event.id, slug)
        if g is not None and not user.has("admin"):
            allowed.append(DocumentRead(d, list(holdings[slug]), g))
            continue
        missing.append(d)
        if event.is_open and not user.has("admin"):
            found = matching_agreements(db, now, user, event, d.id)
            if found:
                openable.append((d, found[0]))
    return DocumentAccess(allowed, missing, openable)


def read_document(
    db: sqlite_utils.Database,
    now: datetime,
    user: auth.User,
    event: Event,
    holdings: dict[str, list[str]],
    *,
    request_id: str,
    document: dict[str, Any],
) -> list[DocumentRead]:
    """Check and record a download of a stored document; AccessDenied (recorded) when a dataset
    it holds is not open to ``user`` now. ``document`` describes it in the access records
    (e.g. ``{"report": 12, "number": 3, "kind": "annexe"}``)."""
    found = document_access(db, now, user, event, holdings)
    if found.missing:
        with transaction(db):
            for d in found.missing:
                audit.append(
                    db,
                    now,
                    "data.denied",
                    actor=user.login,
                    object_type="dataset",
                    object_id=d.slug,
                    event_id=event.id,
                    details={
                        "dataset": d.slug,
                        "purpose": "annex",
                        "request_id": request_id,
                        "document": document,
                    },
                )
        titles = ", ".join(f"« {d.title} » ({d.owner_name})" for d in found.missing)
        way_in = (
            " Une convention vous permet d'ouvrir un accès (bris de glace) à "
            + ", ".join(f"« {d.title} »" for d, _ in found.openable)
            + " pour cet événement : ouvrez-le, puis téléchargez l'annexe."
            if found.openable
            else ""
        )
        raise DocumentDenied(
            f"Ce document contient le détail de données restreintes : {titles}. Il ne se"
            " télécharge qu'avec un accès valide à ces données pour cet événement, au moment du"
            " téléchargement. Le point de situation lui-même en donne les comptages." + way_in,
            [d.slug for d, _ in found.openable],
        )
    with transaction(db):
        for item in found.allowed:
            audit.append(
                db,
                now,
                "data.read",
                actor=user.login,
                object_type="grant",
                object_id=item.grant.id,
                event_id=event.id,
                details={
                    "grant": item.grant.id,
                    "dataset": item.dataset.slug,
                    "purpose": "annex",
                    "count": len(item.ids),
                    "ids": item.ids,
                    "request_id": request_id,
                    "document": document,
                },
            )
    return found.allowed


class DocumentDenied(AccessDenied):
    """A stored document refused (HTTP 403); ``openable``: datasets the reader may break glass
    for now (the page links to the request form)."""

    def __init__(self, message: str, openable: list[str]):
        super().__init__(message)
        self.openable = openable

    def api_fields(self) -> dict[str, Any]:
        return {"break_glass": self.openable}
