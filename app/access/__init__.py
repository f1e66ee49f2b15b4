"""Agreements, break-glass grants and access records: the owners' trust, made executable.

Deny by default. A grant is valid only while, at the moment of the read, it is ``active``, its
``expires_at`` is in the future, its event is open and its agreement has not been withdrawn: every
read checks this against ``now`` (the scheduler's :func:`sweep` only tidies states). Every read
writes an access record (``data.read``) into the audit log in the same transaction as the read,
so no record means no data.

Zone scope: features intersecting the event's outer zone (latest ``event_zones`` version, the
union of its features) buffered by the agreement's margin. When an event has no stored zones yet,
the scope is a circle of :data:`FALLBACK_RADIUS_M` around the event's point, plus the margin.

The package, one module per part (every public name is re-exported here, so callers write
``access.request_grant(...)``): :mod:`.policy` (vocabulary, limits, refusals, shared lookups),
:mod:`.agreements`, :mod:`.grants` (request, approve, deny, revoke, sweep), :mod:`.reads` (scope
and recorded reads), :mod:`.review` (the owner review) and :mod:`.owner_review_pdf` (its PDF),
:mod:`.demo` (the demo agreements); the owner's side (issue 20): :mod:`.notices` (notifications
to an organisation or a person, reminders sent once), :mod:`.renewal` (review dates, versions and
their diff), :mod:`.documents` (stored documents holding restricted data: the download rule),
:mod:`.readable` (the review a person reads, its JSON and content hash), :mod:`.verdicts`
(conforme / contestée, answers, overdue reviews), :mod:`.reminders` (the reminder sweep) and
:mod:`.dashboard` (the steward's home).
"""

from __future__ import annotations

from ..records import STATUS_LABELS, Agreement, Dataset, Event, Grant
from .agreements import (
    edit_agreement,
    get_agreement,
    list_agreements,
    matching_agreements,
    request_options,
    sign_agreement,
    withdraw_agreement,
)
from .dashboard import REVIEW_STATES, EventReview, OwnerDashboard, owner_dashboard
from .demo import DEMO_AGREEMENTS, demo_agreements
from .documents import DocumentAccess, DocumentDenied, DocumentRead, document_access, read_document
from .grants import (
    approve_grant,
    can_revoke,
    check_justification,
    check_reason,
    deny_grant,
    get_grant,
    list_grants,
    mark_read,
    notifications_for,
    pending_for,
    request_grant,
    revoke_for_event,
    revoke_grant,
    sweep,
)
from .notices import (
    PERSONAL_KINDS,
    directors,
    mark_personal_read,
    notify_org,
    notify_users,
    personal_notifications,
)
from .owner_review_pdf import review_pdf
from .policy import (
    APPROVALS,
    DURATION_MAX_MIN,
    FALLBACK_RADIUS_M,
    FINAL,
    GRANTABLE_ROLES,
    JUSTIFICATION_MIN,
    LAPSE_RULES,
    LIVE,
    MARGIN_MAX_M,
    PENDING_TTL,
    PURPOSE_LABELS,
    PURPOSES,
    REASON_CODES,
    SCOPES,
    TOTP_LOCK,
    TOTP_MAX_FAILURES,
    AccessDenied,
    AccessError,
    NotFound,
    StepUpRequired,
    TooManyAttempts,
    dataset,
)
from .readable import (
    NOT_HASHED,
    GrantReview,
    Person,
    ReadableReview,
    content_hash,
    duration_text,
    readable_review,
    state_text,
    summary_lines,
)
from .reads import (
    has_valid_grant,
    holders,
    read_features,
    read_since,
    scope_geometry,
    valid_grant,
)
from .reminders import ReminderPolicy, remind
from .renewal import TERMS, Renewal, diff, renewal, terms, versions
from .review import (
    Review,
    checkpoints_from,
    organisations,
    owned_restricted_datasets,
    owner_review,
    review_events,
    reviewable_org,
)
from .verdicts import (
    VERDICTS,
    Answer,
    Verdict,
    answer_verdict,
    contested_waiting,
    get_verdict,
    latest_verdicts,
    overdue,
    record_verdict,
    verdicts_of,
)

__all__ = [
    "APPROVALS",
    "AccessDenied",
    "AccessError",
    "Agreement",
    "Answer",
    "DEMO_AGREEMENTS",
    "DURATION_MAX_MIN",
    "Dataset",
    "DocumentAccess",
    "DocumentDenied",
    "DocumentRead",
    "Event",
    "EventReview",
    "FALLBACK_RADIUS_M",
    "FINAL",
    "GRANTABLE_ROLES",
    "Grant",
    "GrantReview",
    "JUSTIFICATION_MIN",
    "LAPSE_RULES",
    "LIVE",
    "MARGIN_MAX_M",
    "NOT_HASHED",
    "NotFound",
    "OwnerDashboard",
    "PENDING_TTL",
    "PERSONAL_KINDS",
    "PURPOSES",
    "PURPOSE_LABELS",
    "Person",
    "REASON_CODES",
    "REVIEW_STATES",
    "ReadableReview",
    "ReminderPolicy",
    "Renewal",
    "Review",
    "SCOPES",
    "STATUS_LABELS",
    "StepUpRequired",
    "TERMS",
    "TOTP_LOCK",
    "TOTP_MAX_FAILURES",
    "TooManyAttempts",
    "VERDICTS",
    "Verdict",
    "answer_verdict",
    "approve_grant",
    "can_revoke",
    "check_justification",
    "check_reason",
    "checkpoints_from",
    "content_hash",
    "contested_waiting",
    "dataset",
    "demo_agreements",
    "deny_grant",
    "diff",
    "directors",
    "document_access",
    "duration_text",
    "edit_agreement",
    "get_agreement",
    "get_grant",
    "get_verdict",
    "has_valid_grant",
    "holders",
    "latest_verdicts",
    "list_agreements",
    "list_grants",
    "mark_personal_read",
    "mark_read",
    "matching_agreements",
    "notifications_for",
    "notify_org",
    "notify_users",
    "organisations",
    "overdue",
    "owned_restricted_datasets",
    "owner_dashboard",
    "owner_review",
    "pending_for",
    "personal_notifications",
    "read_document",
    "read_features",
    "read_since",
    "readable_review",
    "record_verdict",
    "remind",
    "renewal",
    "request_grant",
    "request_options",
    "review_events",
    "review_pdf",
    "reviewable_org",
    "revoke_for_event",
    "revoke_grant",
    "scope_geometry",
    "sign_agreement",
    "state_text",
    "summary_lines",
    "sweep",
    "terms",
    "valid_grant",
    "verdicts_of",
    "versions",
    "withdraw_agreement",
]
