"""Outgoing messages (issue 17, DESIGN §12 "Message"): CAP 1.2 alerts, EMSI messages and
situation reports sent to partners, as first-class objects with an author, a validator, a status
(brouillon → validé → émis, or annulé), recipients, the exact bytes and their deliveries.

This package never imports Flask. Modules:

- ``records``: the records (``Message``, ``Content``, ``Delivery``, ``Partner``), ``MessageError``
  and who may do what;
- ``facts``: the facts of an event that messages are written from (zones, communes and INSEE
  codes, level history, casualties);
- ``templates``: the default texts per template id and hazard;
- ``cbs``: counting a text against FR-Alert's cell-broadcast pages (GSM 03.38 / UCS-2);
- ``cap``: THE CAP 1.2 builder and the Atom feed; ``emsi``: the EMSI builder;
- ``service``: draft, edit, validate, send, cancel; the event's CAP and EMSI; the feed;
  ``store``: reading messages and their frozen bytes;
- ``partners``: the partner directory and the partners' feed tokens; ``mail``: SMTP delivery
  and the retry sweep; ``demo``: the demo directory (synthetic, reserved domains).
"""

from __future__ import annotations

from .cbs import CbsCount
from .cbs import count as cbs_text_count
from .demo import demo_partners
from .mail import CheckpointMail, SmtpRelay, mail_checkpoints, retry_due, retry_now
from .partners import (
    add_partner,
    feed_partner,
    feed_token_holders,
    get_partner,
    issue_feed_token,
    list_partners,
    recipients_for,
    revoke_feed_token,
    update_partner,
)
from .records import (
    DRAFT_ROLES,
    KINDS,
    PARTNER_MANAGE_ROLES,
    PARTNER_READ_ROLES,
    READ_ROLES,
    SEND_ROLES,
    STATUSES,
    VALIDATE_ROLES,
    Content,
    Delivery,
    Message,
    MessageError,
    Partner,
    Recipient,
    SendResult,
)
from .service import (
    cancel,
    cap_alert,
    cap_by_identifier,
    cap_chain,
    cap_feed,
    cap_update_due,
    cbs_count,
    content,
    current_emsi,
    deliveries,
    draft,
    edit,
    event_cap,
    preview,
    send,
    validate,
)
from .store import get_message, list_messages
from .templates import TEMPLATE_IDS, TEMPLATE_LABELS

__all__ = [
    "DRAFT_ROLES",
    "KINDS",
    "PARTNER_MANAGE_ROLES",
    "PARTNER_READ_ROLES",
    "READ_ROLES",
    "SEND_ROLES",
    "STATUSES",
    "TEMPLATE_IDS",
    "TEMPLATE_LABELS",
    "VALIDATE_ROLES",
    "CbsCount",
    "Content",
    "Delivery",
    "Message",
    "MessageError",
    "Partner",
    "Recipient",
    "SendResult",
    "SmtpRelay",
    "CheckpointMail",
    "mail_checkpoints",
    "add_partner",
    "feed_partner",
    "feed_token_holders",
    "issue_feed_token",
    "revoke_feed_token",
    "cancel",
    "cap_alert",
    "cap_by_identifier",
    "cap_chain",
    "cap_feed",
    "cap_update_due",
    "cbs_count",
    "cbs_text_count",
    "content",
    "current_emsi",
    "deliveries",
    "demo_partners",
    "draft",
    "edit",
    "event_cap",
    "get_message",
    "get_partner",
    "list_messages",
    "list_partners",
    "preview",
    "recipients_for",
    "retry_due",
    "retry_now",
    "send",
    "update_partner",
    "validate",
]
