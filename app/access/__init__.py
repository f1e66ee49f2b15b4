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
:mod:`.demo` (the demo agreements).
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
from .demo import DEMO_AGREEMENTS, demo_agreements
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
from .owner_review_pdf import review_pdf
from .policy import (
    APPROVALS,
    DURATION_MAX_MIN,
    FALLBACK_RADIUS_M,
    FINAL,
    GRANTABLE_ROLES,
    JUSTIFICATION_MIN,
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
from .reads import (
    has_valid_grant,
    holders,
    read_features,
    read_since,
    scope_geometry,
    valid_grant,
)
from .review import (
    Review,
    organisations,
    owned_restricted_datasets,
    owner_review,
    review_events,
    reviewable_org,
)

__all__ = [
    "APPROVALS",
    "AccessDenied",
    "AccessError",
    "Agreement",
    "DEMO_AGREEMENTS",
    "DURATION_MAX_MIN",
    "Dataset",
    "Event",
    "FALLBACK_RADIUS_M",
    "FINAL",
    "GRANTABLE_ROLES",
    "Grant",
    "JUSTIFICATION_MIN",
    "LIVE",
    "MARGIN_MAX_M",
    "NotFound",
    "PENDING_TTL",
    "PURPOSE_LABELS",
    "PURPOSES",
    "REASON_CODES",
    "Review",
    "SCOPES",
    "STATUS_LABELS",
    "StepUpRequired",
    "TOTP_LOCK",
    "TOTP_MAX_FAILURES",
    "TooManyAttempts",
    "approve_grant",
    "can_revoke",
    "check_justification",
    "check_reason",
    "dataset",
    "demo_agreements",
    "deny_grant",
    "edit_agreement",
    "get_agreement",
    "get_grant",
    "has_valid_grant",
    "holders",
    "list_agreements",
    "list_grants",
    "mark_read",
    "matching_agreements",
    "request_options",
    "notifications_for",
    "organisations",
    "owned_restricted_datasets",
    "owner_review",
    "pending_for",
    "read_features",
    "read_since",
    "request_grant",
    "review_events",
    "review_pdf",
    "reviewable_org",
    "revoke_for_event",
    "revoke_grant",
    "scope_geometry",
    "sign_agreement",
    "sweep",
    "valid_grant",
    "withdraw_agreement",
]
