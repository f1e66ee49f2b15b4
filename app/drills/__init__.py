"""Drills: a scenario played on a drill event, injects fired at their offsets, the after-action
report (RETEX). A drill's CAP alert comes from the one CAP builder, :mod:`app.messages`.

A drill is an ordinary event declared with ``is_drill`` (through :mod:`app.events`) plus a
``drills`` row that holds the state of the game (running, paused, ended, stopped by a real
emergency) and the time spent paused. Scenario time is ``now − started_at − paused_seconds``;
an inject is due when its offset is reached, and :func:`sweep` fires every due inject once, in
order (a ``UNIQUE(event_id, inject_id)`` row in ``drill_injects`` guarantees once-only even if
two sweeps race).

How "the players reacted" is detected (it decides whether a backup inject fires): a player, or
the director of exercise who observed the expected action, presses "Action réalisée" on the
inject. That writes a main-courante entry naming the inject and stamps the inject's row
(:func:`acknowledge_inject`). A backup inject fires at its offset unless its target inject has
been acknowledged by the time the sweep reaches it; when not needed it is recorded as
``skipped`` so the decision is taken once. Guessing a reaction from free-text log entries would
be dishonest in a debriefing; an explicit acknowledgement is what the after-action report
measures (inject fired → acknowledged).

An inject lands in the main courante as a received message (``is_inject = 1``, text prefixed
``[INJECT]``) and is applied as a real message would be: a wind shift or a parameter change
goes through :func:`app.events.change_params` (the zones are recomputed), an escalation through
:func:`app.events.change_level`, casualty figures are stored in ``casualty_reports``. A drill
never changes a real event: :func:`fire_inject` refuses any event without ``is_drill``.

This package never imports Flask.

The package, one module per part (every public name is re-exported here, so callers write
``drills.start_drill(...)``): :mod:`.play` (roles, state, start, injects, controls, debriefing),
:mod:`.retex` (the after-action report) and :mod:`.retex_pdf` (its PDF).
"""

from __future__ import annotations

from .play import (
    ACK_ROLES,
    ASK_PLAYERS,
    CASUALTY_LABELS,
    CONTROLLER_NAME,
    DIRECT_ROLES,
    INJECT_PREFIX,
    KIND_LABELS,
    READ_ROLES,
    REPORT_ROLES,
    SCHEDULER,
    STATES,
    STOP_ROLES,
    TEXT_MAX,
    TITLE_PREFIX,
    Controller,
    Drill,
    DrillError,
    RealEventOpen,
    acknowledge_inject,
    drill_title,
    due_injects,
    end,
    fire_inject,
    get_drill,
    inject_label,
    inject_rows,
    latest_casualties,
    list_drills,
    open_real_events,
    pause,
    play_due,
    real_emergency,
    resume,
    save_debrief,
    start_drill,
    sweep,
)
from .retex import (
    AfterAction,
    ChecklistReview,
    Delay,
    InjectReview,
    TimelineItem,
    after_action,
    format_minutes,
)
from .retex_pdf import after_action_pdf

__all__ = [
    "ACK_ROLES",
    "ASK_PLAYERS",
    "AfterAction",
    "CASUALTY_LABELS",
    "CONTROLLER_NAME",
    "ChecklistReview",
    "Controller",
    "DIRECT_ROLES",
    "Delay",
    "Drill",
    "DrillError",
    "INJECT_PREFIX",
    "InjectReview",
    "KIND_LABELS",
    "READ_ROLES",
    "REPORT_ROLES",
    "RealEventOpen",
    "SCHEDULER",
    "STATES",
    "STOP_ROLES",
    "TEXT_MAX",
    "TITLE_PREFIX",
    "TimelineItem",
    "acknowledge_inject",
    "after_action",
    "after_action_pdf",
    "drill_title",
    "due_injects",
    "end",
    "fire_inject",
    "format_minutes",
    "get_drill",
    "inject_label",
    "inject_rows",
    "latest_casualties",
    "list_drills",
    "open_real_events",
    "pause",
    "play_due",
    "real_emergency",
    "resume",
    "save_debrief",
    "start_drill",
    "sweep",
]
