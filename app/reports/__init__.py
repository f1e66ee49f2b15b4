"""Situation reports (points de situation) and the printable main courante, as PDF.

A report is built in three steps: :func:`gather` reads everything the report shows into a
:class:`ReportContext` (the event, the impact figures, the map, the log since the previous
report, the checklist, the grants in force, the audit head), :func:`render_report` lays it out with
reportlab platypus (A4 portrait, French, DejaVu fonts so accents always render), and
:func:`generate` numbers it, stores it (immutable: ``reports`` refuses UPDATE and DELETE) and
writes its audit record.

Choices (see also the module docstring of ``app.scheduler``):

- Numbering is sequential per event whatever the trigger (schedule or manual). ``UNIQUE(event_id,
  number)`` is the final guard: two processes never store the same number; the loser re-numbers
  (a manual report) or finds that its slot was produced by the other (a scheduled one).
- The audit head printed in the PDF and stored with the report is the head read while gathering;
  the report's own ``report.generated`` record follows it.
- Restricted data: a scheduled report has no reader, so restricted and personal layers appear as
  counts only. A manual report opens the restricted (never personal) layers that its author holds
  a valid grant for; the read goes through ``app.access.read_features`` with purpose ``report`` so
  it is recorded like any other read. Personal data (vulnerable persons) is always counted, never
  listed: a PDF is copied and forwarded and cannot be revoked.
- Classification: *DIFFUSION RESTREINTE* as soon as restricted data is inside: a layer opened by a
  grant, restricted features drawn on the map, or grants in force listed (who holds access to which
  restricted dataset is itself restricted information).

This package never imports Flask.

The package, one module per step (every public name is re-exported here, so callers write
``reports.issue(...)``): :mod:`.gathering` (:func:`gather` and :class:`ReportContext`),
:mod:`.layout` (:func:`render_report`, the printable main courante :func:`log_pdf`) and
:mod:`.store` (numbering, storing, reading back, :func:`issue`, the cadence).

No back door through stored documents (issue 20): a report's body gives restricted data as
counts only; the detail its author's grants opened goes to a restricted annex
(:mod:`.annex_layout`, stored apart and hashed like the body), whose every download needs a
grant valid at that moment and is an access record (:mod:`.downloads`).
"""

from __future__ import annotations

from .annex_layout import render_annex
from .downloads import annex_for, body_for, legacy_holdings
from .gathering import (
    MAP_HEIGHT,
    MAP_WIDTH,
    RESTRICTED,
    TRIGGER_LABELS,
    TRIGGERS,
    UNRESTRICTED,
    ReportContext,
    counts_only,
    gather,
    grants_in_force,
    next_number,
    restricted_entered,
)
from .layout import (
    DECISIONS_SHOWN,
    FOOTER_H,
    HEADER_H,
    LATE_NOTE,
    LEVEL_COLOURS,
    LEVEL_NAMES,
    MARGIN,
    TEXT_SHOWN,
    log_pdf,
    logtable,
    render_report,
)
from .store import (
    ANNEX_FIELDS,
    Report,
    ReportError,
    annex_pdf,
    generate,
    get_report,
    issue,
    latest_report,
    list_reports,
    report_pdf,
    set_cadence,
)

__all__ = [
    "ANNEX_FIELDS",
    "DECISIONS_SHOWN",
    "FOOTER_H",
    "HEADER_H",
    "LATE_NOTE",
    "LEVEL_COLOURS",
    "LEVEL_NAMES",
    "MAP_HEIGHT",
    "MAP_WIDTH",
    "MARGIN",
    "RESTRICTED",
    "Report",
    "ReportContext",
    "ReportError",
    "TEXT_SHOWN",
    "TRIGGERS",
    "TRIGGER_LABELS",
    "UNRESTRICTED",
    "annex_for",
    "annex_pdf",
    "body_for",
    "counts_only",
    "gather",
    "generate",
    "get_report",
    "grants_in_force",
    "restricted_entered",
    "issue",
    "legacy_holdings",
    "latest_report",
    "list_reports",
    "log_pdf",
    "logtable",
    "next_number",
    "render_annex",
    "render_report",
    "report_pdf",
    "set_cadence",
]
