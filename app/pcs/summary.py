"""The response at a glance: what the dashboard, the tablet and the situation report show of the
call-out, the call campaign, the centres, the means and the tasks. Counts and public facts only:
no personal field ever reaches a summary (a report is forwarded and cannot be revoked)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlite_utils

from ..playbooks import Playbook
from ..records import Event
from . import callouts, calls, centres, means, tasks


@dataclass(frozen=True)
class Summary:
    """Each part is empty when there is nothing to say (its section is then left out)."""

    calls: dict[str, int] = field(default_factory=dict)  # per status, and due_again
    centres: list[centres.Centre] = field(default_factory=list)  # open ones
    evacuation: tuple[int, int] | None = None  # (arrived in all, hosted now)
    means: list[means.MeansLine] = field(default_factory=list)  # committed (en route, engagé)
    tasks_late: list[tasks.Task] = field(default_factory=list)
    tasks_open: int = 0
    callouts: dict[str, int] = field(default_factory=dict)  # per state, when any was called

    @property
    def calls_total(self) -> int:
        return sum(v for k, v in self.calls.items() if k in calls.STATUSES)

    @property
    def means_engaged(self) -> int:
        return sum(1 for m in self.means if m.status == "engage")

    @property
    def means_en_route(self) -> int:
        return sum(1 for m in self.means if m.status == "en_route")

    @property
    def hosted(self) -> int:
        return sum(c.occupancy for c in self.centres)

    @property
    def capacity(self) -> int:
        return sum(c.capacity for c in self.centres)

    @property
    def has_content(self) -> bool:
        return bool(
            self.calls_total
            or self.centres
            or self.evacuation
            or self.means
            or self.tasks_late
            or self.callouts
        )


def summarise(
    db: sqlite_utils.Database,
    now: datetime,
    event: Event,
    playbook: Playbook | None = None,
    *,
    at: str | None = None,
) -> Summary:
    """The response of ``event`` now; with ``at`` (an ISO time, ``now`` being that moment), as
    it stood then, rebuilt from the append-only histories (``app.history``)."""
    found_calls = calls.counts(db, event.id, now, at)
    states = callouts.states(db, event.id, at)
    found_tasks = tasks.list_tasks(db, event.id, at)
    return Summary(
        calls=found_calls if any(found_calls[k] for k in calls.STATUSES) else {},
        centres=centres.open_centres(db, event.id, at),
        evacuation=centres.evacuation_figures(db, event.id, at),
        means=[m for m in means.board(db, event.id, at) if m.committed],
        tasks_late=[t for t in found_tasks if t.late(now)],
        tasks_open=sum(1 for t in found_tasks if t.is_open),
        callouts=callouts.counts(db, event, playbook, at) if states else {},
    )
