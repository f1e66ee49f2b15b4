"""Drills: a scenario played on a drill event, injects fired at their offsets, the after-action
report (RETEX) and the CAP export of an event's alert.

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

This module never imports Flask.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

import sqlite_utils

from . import audit, auth, events
from .clock import iso, local, parse_iso
from .db import row, rows, scalar, transaction
from .errors import DomainError
from .pdf import exercise_bands, key_values, numbered_canvas, para, styles, table
from .playbooks import CASUALTY_KEYS, Inject, Playbook, Scenario

log = logging.getLogger(__name__)

# --- who may do what (the web layer's @allow rules use these) --------------------------------
DIRECT_ROLES: tuple[str, ...] = ("exercise",)  # start, fire, pause, resume, end, debrief
STOP_ROLES: tuple[str, ...] = ("exercise", "director")  # "urgence réelle" stops it at once
ACK_ROLES: tuple[str, ...] = ("director", "cell", "liaison", "exercise")
READ_ROLES: tuple[str, ...] = events.READ_ROLES
REPORT_ROLES: tuple[str, ...] = ("exercise", "director")

STATES: dict[str, str] = {
    "running": "en cours",
    "paused": "en pause",
    "ended": "terminé",
    "stopped": "arrêté (urgence réelle)",
}
KIND_LABELS: dict[str, str] = {
    "message": "Message",
    "wind_shift": "Changement de vent",
    "casualties": "Bilan des victimes",
    "escalation": "Montée en niveau",
    "param_change": "Changement de paramètres",
}
CASUALTY_LABELS: dict[str, str] = {
    "dead": "décédés",
    "seriously_injured": "urgences absolues",
    "slightly_injured": "urgences relatives",
    "involved": "impliqués",
}
TITLE_PREFIX = "EXERCICE — "
INJECT_PREFIX = "[INJECT] "
CONTROLLER_NAME = "Direction d'exercice"
SCHEDULER = "planificateur"
TEXT_MAX = 4000


class DrillError(DomainError):
    """A refused drill operation, with a French message and an HTTP status."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message, status=status)


@dataclass(frozen=True)
class Drill:
    """One drill as stored, with its event's title and status."""

    event_id: int
    scenario_id: str
    state: str
    started_at: str
    started_by: int
    started_by_name: str
    paused_at: str | None
    paused_seconds: int
    ended_at: str | None
    went_well: str
    to_improve: str
    real_event_id: int | None
    title: str
    event_status: str

    @property
    def state_label(self) -> str:
        return STATES.get(self.state, self.state)

    @property
    def is_live(self) -> bool:
        """Running or paused: the game can still go on."""
        return self.state in ("running", "paused")

    def scenario_seconds(self, now: datetime) -> int:
        """Seconds of scenario time: wall time since the start minus the time spent paused."""
        end = now
        if self.state == "paused" and self.paused_at:
            end = parse_iso(self.paused_at)
        elif self.state in ("ended", "stopped") and self.ended_at:
            end = parse_iso(self.ended_at)
        elapsed = int((end - parse_iso(self.started_at)).total_seconds())
        return max(0, elapsed - self.paused_seconds)


@dataclass  # not frozen: app.events.Actor is a protocol of plain attributes
class Controller:
    """The actor behind an inject's effects (``app.events.Actor``): the exercise direction.

    It carries the id of the director of exercise who started the drill (log entries need a
    user) and the login of whoever fired the inject (the scheduler or a person) for the audit.
    """

    id: int
    login: str
    name: str = CONTROLLER_NAME
    roles: frozenset[str] = frozenset({"exercise"})


def inject_label(inject: Inject) -> str:
    """French kind of an inject (relance for a backup)."""
    label = KIND_LABELS.get(inject.kind, inject.kind)
    return f"{label} (relance)" if inject.backup_for else label


# --- reading ------------------------------------------------------------------------------------

_DRILL_SQL = (
    "SELECT d.*, e.title, e.status AS event_status, COALESCE(u.name, '') AS started_by_name"
    " FROM drills d JOIN events e ON e.id = d.event_id LEFT JOIN users u ON u.id = d.started_by"
)


def _drill(r: dict[str, Any]) -> Drill:
    return Drill(
        event_id=r["event_id"],
        scenario_id=r["scenario_id"],
        state=r["state"],
        started_at=r["started_at"],
        started_by=r["started_by"],
        started_by_name=r["started_by_name"],
        paused_at=r["paused_at"],
        paused_seconds=r["paused_seconds"],
        ended_at=r["ended_at"],
        went_well=r["went_well"],
        to_improve=r["to_improve"],
        real_event_id=r["real_event_id"],
        title=r["title"],
        event_status=r["event_status"],
    )


def get_drill(db: sqlite_utils.Database, event_id: int) -> Drill | None:
    """The drill of an event, or None (a real event has none)."""
    r = row(db, _DRILL_SQL + " WHERE d.event_id = ?", [event_id])
    return _drill(r) if r else None


def list_drills(db: sqlite_utils.Database) -> list[Drill]:
    """Every drill, live ones first, then the most recent."""
    found = rows(
        db, _DRILL_SQL + " ORDER BY d.state NOT IN ('running', 'paused'), d.started_at DESC"
    )
    return [_drill(r) for r in found]


def inject_rows(db: sqlite_utils.Database, event_id: int) -> dict[str, dict[str, Any]]:
    """The injects already decided for a drill (fired or skipped), by inject id."""
    found = rows(
        db,
        "SELECT i.*, COALESCE(u.name, '') AS acknowledged_by_name FROM drill_injects i"
        " LEFT JOIN users u ON u.id = i.acknowledged_by WHERE i.event_id = ? ORDER BY i.id",
        [event_id],
    )
    return {r["inject_id"]: r for r in found}


def latest_casualties(db: sqlite_utils.Database, event_id: int) -> dict[str, Any] | None:
    """The latest casualty figures received for an event, or None."""
    return row(
        db, "SELECT * FROM casualty_reports WHERE event_id = ? ORDER BY id DESC LIMIT 1", [event_id]
    )


def due_injects(drill: Drill, scenario: Scenario, now: datetime) -> list[Inject]:
    """The scenario's injects whose offset is reached at ``now`` (in scenario order)."""
    seconds = drill.scenario_seconds(now)
    return [inject for inject in scenario.injects if inject.offset_min * 60 <= seconds]


# --- writing helpers ----------------------------------------------------------------------------


def _write_log(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    author_id: int,
    author_name: str,
    category: str,
    text: str,
    *,
    is_inject: bool = False,
    is_system: bool = False,
) -> int:
    return events.append_log_entry(
        db,
        now,
        event_id,
        author_id,
        author_name,
        category,
        text,
        is_inject=is_inject,
        is_system=is_system,
    )


def _drill_event(db: sqlite_utils.Database, event_id: int) -> tuple[events.Event, Drill]:
    """The drill event and its drill, refusing a missing event or a real one."""
    event = events.get_event(db, event_id)
    if event is None:
        raise DrillError("Événement introuvable.", 404)
    if not event.is_drill:
        raise DrillError(
            "Cet événement est réel : un exercice ne peut jamais le modifier.", status=403
        )
    drill = get_drill(db, event_id)
    if drill is None:
        raise DrillError("Cet événement n'a pas d'exercice associé.", 404)
    return event, drill


def _check_actor(actor: events.Actor, roles: tuple[str, ...], what: str) -> None:
    if not set(actor.roles) & set(roles):
        raise DrillError(f"Vos rôles ne permettent pas de {what}.", 403)


def drill_title(scenario: Scenario) -> str:
    """``EXERCICE — `` and the scenario's title without its own "Exercice —" prefix."""
    bare = re.sub(r"^\s*exercice\s*[—:–-]\s*", "", scenario.title, flags=re.IGNORECASE)
    bare = bare[:1].upper() + bare[1:]
    return (TITLE_PREFIX + bare)[: events.TITLE_MAX]


# --- starting and playing -----------------------------------------------------------------------


def start_drill(
    db: sqlite_utils.Database,
    now: datetime,
    scenario: Scenario,
    user: events.Actor,
    playbooks: Mapping[str, Playbook],
) -> Drill:
    """Declare the drill event from the scenario, record the drill, fire the injects at 0 min."""
    _check_actor(user, DIRECT_ROLES, "lancer un exercice")
    playbook = playbooks.get(scenario.playbook)
    if playbook is None:
        raise DrillError(f"Guide « {scenario.playbook} » introuvable pour ce scénario.")
    with transaction(db):
        try:
            event = events.declare(
                db,
                now,
                playbook,
                actor=user,
                title=drill_title(scenario),
                params=scenario.params,
                site=scenario.site,
                point=list(scenario.point) if scenario.point else None,
                drill=True,
                level=scenario.level,
            )
        except events.EventError as exc:
            raise DrillError(f"Exercice impossible à lancer : {exc.message}") from exc
        db.execute(
            "INSERT INTO drills (event_id, scenario_id, state, started_at, started_by)"
            " VALUES (?,?,'running',?,?)",
            [event.id, scenario.id, iso(now), user.id],
        )
        _write_log(
            db,
            now,
            event.id,
            user.id,
            user.name,
            "information",
            f"EXERCICE — Début de l'exercice « {scenario.title} » ({len(scenario.injects)} "
            f"injects prévus). Lancé par {user.name}, directeur d'exercice.",
            is_system=True,
        )
        audit.append(
            db,
            now,
            "drill.started",
            actor=user.login,
            object_type="drill",
            object_id=event.id,
            event_id=event.id,
            details={"scenario": scenario.id, "injects": len(scenario.injects)},
        )
    drill = get_drill(db, event.id)
    assert drill is not None
    play_due(db, now, drill, scenario, playbooks, fired_by=user.login)
    found = get_drill(db, event.id)
    assert found is not None
    return found


def fire_inject(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    inject: Inject,
    fired_by: str,
    playbooks: Mapping[str, Playbook],
) -> int:
    """Fire one inject now: its main-courante entry, its effect on the drill event; once only.

    ``fired_by`` is the login of the director of exercise, or ``planificateur`` for the
    scheduler. Returns the id of the inject's log entry. Refuses a real event.
    """
    with transaction(db):
        event, drill = _drill_event(db, event_id)
        if not drill.is_live or not event.is_open:
            raise DrillError("L'exercice est terminé : plus aucun inject ne peut partir.", 409)
        if scalar(
            db,
            "SELECT 1 FROM drill_injects WHERE event_id = ? AND inject_id = ?",
            [event_id, inject.id],
        ):
            raise DrillError(f"L'inject « {inject.title} » a déjà été joué.", 409)
        try:
            cur = db.execute(
                "INSERT INTO drill_injects (event_id, inject_id, fired_at, fired_by)"
                " VALUES (?,?,?,?)",
                [event_id, inject.id, iso(now), fired_by],
            )
        except sqlite3.IntegrityError as exc:  # a concurrent sweep won the race
            raise DrillError(f"L'inject « {inject.title} » a déjà été joué.", 409) from exc
        row_id = int(cur.lastrowid or 0)
        controller = Controller(id=drill.started_by, login=fired_by)
        sender = f"De : {inject.sender}. " if inject.sender else ""
        to = auth.ROLES.get(inject.to_role, inject.to_role)
        entry_id = _write_log(
            db,
            now,
            event_id,
            controller.id,
            controller.name,
            "message reçu",
            f"{INJECT_PREFIX}{inject.title} — {sender}Pour : {to}. {inject.text}",
            is_inject=True,
        )
        db.execute("UPDATE drill_injects SET log_entry_id = ? WHERE id = ?", [entry_id, row_id])
        effect = _apply(db, now, event, inject, controller, playbooks)
        audit.append(
            db,
            now,
            "drill.inject_fired",
            actor=fired_by,
            object_type="drill_inject",
            object_id=inject.id,
            event_id=event_id,
            details={"kind": inject.kind, "log_entry": entry_id, "effect": effect},
        )
    return entry_id


def _apply(
    db: sqlite_utils.Database,
    now: datetime,
    event: events.Event,
    inject: Inject,
    controller: Controller,
    playbooks: Mapping[str, Playbook],
) -> str:
    """Apply the inject to the drill event as the real message would be; say what happened."""
    try:
        if inject.kind in ("wind_shift", "param_change"):
            playbook = playbooks.get(event.kind)
            if playbook is None:
                raise events.EventError(f"guide « {event.kind} » introuvable")
            events.change_params(db, now, event.id, playbook, inject.params, actor=controller)
            return "params"
        if inject.kind == "escalation":
            events.change_level(
                db,
                now,
                event.id,
                inject.params.get("level"),
                actor=controller,
                reason=f"inject « {inject.title} »",
            )
            return "level"
        if inject.kind == "casualties":
            figures = {k: inject.params.get(k) for k in CASUALTY_KEYS}
            shown = ", ".join(
                f"{figures[k]} {CASUALTY_LABELS[k]}"
                for k in CASUALTY_KEYS
                if figures[k] is not None
            )
            entry_id = _write_log(
                db,
                now,
                event.id,
                controller.id,
                controller.name,
                "information",
                f"Bilan des victimes reçu : {shown or 'aucun chiffre'}.",
                is_system=True,
            )
            db.execute(
                "INSERT INTO casualty_reports (event_id, at, source, dead, seriously_injured,"
                " slightly_injured, involved, log_entry_id) VALUES (?,?,?,?,?,?,?,?)",
                [event.id, iso(now), inject.sender, *(figures[k] for k in CASUALTY_KEYS), entry_id],
            )
            return "casualties"
    except events.EventError as exc:
        # e.g. the players already entered the new wind: the message lands, it changes nothing.
        _write_log(
            db,
            now,
            event.id,
            controller.id,
            controller.name,
            "information",
            f"Inject « {inject.title} » sans effet sur l'événement : {exc.message}",
            is_system=True,
        )
        return "none"
    return "message"


def _skip_backup(
    db: sqlite_utils.Database, now: datetime, event_id: int, inject: Inject, fired_by: str
) -> None:
    with transaction(db):
        try:
            db.execute(
                "INSERT INTO drill_injects (event_id, inject_id, fired_at, fired_by, outcome)"
                " VALUES (?,?,?,?,'skipped')",
                [event_id, inject.id, iso(now), fired_by],
            )
        except sqlite3.IntegrityError:
            return
        audit.append(
            db,
            now,
            "drill.backup_skipped",
            actor=fired_by,
            object_type="drill_inject",
            object_id=inject.id,
            event_id=event_id,
            details={"backup_for": inject.backup_for},
        )


def play_due(
    db: sqlite_utils.Database,
    now: datetime,
    drill: Drill,
    scenario: Scenario,
    playbooks: Mapping[str, Playbook],
    fired_by: str = SCHEDULER,
) -> int:
    """Fire (or skip, for an unneeded backup) every due inject of one drill; return fired."""
    if drill.state != "running" or drill.event_status != "open":
        return 0
    fired = 0
    for inject in due_injects(drill, scenario, now):
        decided = inject_rows(db, drill.event_id)
        if inject.id in decided:
            continue
        if inject.backup_for:
            target = decided.get(inject.backup_for)
            if target is not None and target["acknowledged_at"] is not None:
                _skip_backup(db, now, drill.event_id, inject, fired_by)
                continue
        try:
            fire_inject(db, now, drill.event_id, inject, fired_by, playbooks)
        except DrillError as exc:
            log.warning("drill %s: inject %s not fired: %s", drill.event_id, inject.id, exc)
            continue
        fired += 1
    return fired


def sweep(
    db: sqlite_utils.Database,
    now: datetime,
    scenarios: Mapping[str, Scenario],
    playbooks: Mapping[str, Playbook],
) -> int:
    """Fire every due inject of every running drill, once and in order; return how many fired.

    Idempotent, for the scheduler (every 30 s): the database says what was already played.
    The scenarios and playbooks are the process's library (``app.playbooks``), loaded once.
    """
    running = [d for d in list_drills(db) if d.state == "running" and d.event_status == "open"]
    if not running:
        return 0
    fired = 0
    for drill in running:
        scenario = scenarios.get(drill.scenario_id)
        if scenario is None:
            log.error("drill %s: scenario %r not found", drill.event_id, drill.scenario_id)
            continue
        fired += play_due(db, now, drill, scenario, playbooks)
    return fired


def acknowledge_inject(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    inject: Inject,
    actor: events.Actor,
    note: str = "",
) -> int:
    """A player (or the director of exercise who saw it) records the expected action as done.

    Writes an "action" entry naming the inject; a backup of this inject will then not fire.
    Returns the log entry's id.
    """
    _check_actor(actor, ACK_ROLES, "marquer un inject comme traité")
    note = (note or "").strip()
    if len(note) > TEXT_MAX:
        raise DrillError(f"Note : au plus {TEXT_MAX} caractères.")
    with transaction(db):
        _drill_event(db, event_id)
        r = row(
            db,
            "SELECT * FROM drill_injects WHERE event_id = ? AND inject_id = ?",
            [event_id, inject.id],
        )
        if r is None or r["outcome"] != "fired":
            raise DrillError(f"L'inject « {inject.title} » n'a pas été joué.", 409)
        if r["acknowledged_at"] is not None:
            raise DrillError(f"L'inject « {inject.title} » est déjà marqué traité.", 409)
        try:
            entry = events.add_log(
                db,
                now,
                event_id,
                actor=actor,
                category="action",
                text=f"Action réalisée suite à l'inject « {inject.title} » (entrée "
                f"n°{r['log_entry_id']})" + (f" : {note}" if note else "."),
            )
        except events.EventError as exc:
            raise DrillError(exc.message, exc.status) from exc
        db.execute(
            "UPDATE drill_injects SET acknowledged_at = ?, acknowledged_by = ?,"
            " ack_log_entry_id = ? WHERE id = ?",
            [iso(now), actor.id, entry.id, r["id"]],
        )
        audit.append(
            db,
            now,
            "drill.inject_acknowledged",
            actor=actor.login,
            object_type="drill_inject",
            object_id=inject.id,
            event_id=event_id,
            details={"log_entry": entry.id},
        )
    return entry.id


# --- controls -----------------------------------------------------------------------------------


def _control(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    actor: events.Actor,
    *,
    allowed: tuple[str, ...],
    what: str,
) -> Drill:
    _check_actor(actor, DIRECT_ROLES, what)
    _, drill = _drill_event(db, event_id)
    if drill.state not in allowed:
        raise DrillError(f"Impossible de {what} : l'exercice est {drill.state_label}.", 409)
    return drill


def pause(db: sqlite_utils.Database, now: datetime, event_id: int, actor: events.Actor) -> Drill:
    """Pause the drill: scenario time stops, no inject fires."""
    with transaction(db):
        _control(db, now, event_id, actor, allowed=("running",), what="mettre en pause")
        db.execute(
            "UPDATE drills SET state = 'paused', paused_at = ? WHERE event_id = ?",
            [iso(now), event_id],
        )
        _write_log(
            db,
            now,
            event_id,
            actor.id,
            actor.name,
            "information",
            "EXERCICE — Exercice mis en pause par la direction d'exercice.",
            is_system=True,
        )
        audit.append(
            db,
            now,
            "drill.paused",
            actor=actor.login,
            object_type="drill",
            object_id=event_id,
            event_id=event_id,
        )
    return _get(db, event_id)


def _fold_pause(drill: Drill, now: datetime) -> int:
    if drill.state == "paused" and drill.paused_at:
        return drill.paused_seconds + int((now - parse_iso(drill.paused_at)).total_seconds())
    return drill.paused_seconds


def resume(db: sqlite_utils.Database, now: datetime, event_id: int, actor: events.Actor) -> Drill:
    """Resume a paused drill; the pause is not counted in scenario time."""
    with transaction(db):
        drill = _control(db, now, event_id, actor, allowed=("paused",), what="reprendre")
        paused = _fold_pause(drill, now)
        db.execute(
            "UPDATE drills SET state = 'running', paused_at = NULL, paused_seconds = ?"
            " WHERE event_id = ?",
            [paused, event_id],
        )
        _write_log(
            db,
            now,
            event_id,
            actor.id,
            actor.name,
            "information",
            "EXERCICE — Reprise de l'exercice.",
            is_system=True,
        )
        audit.append(
            db,
            now,
            "drill.resumed",
            actor=actor.login,
            object_type="drill",
            object_id=event_id,
            event_id=event_id,
            details={"paused_seconds": paused},
        )
    return _get(db, event_id)


def end(db: sqlite_utils.Database, now: datetime, event_id: int, actor: events.Actor) -> Drill:
    """End the drill normally: no more injects, the drill event is closed."""
    with transaction(db):
        drill = _control(db, now, event_id, actor, allowed=("running", "paused"), what="terminer")
        db.execute(
            "UPDATE drills SET state = 'ended', ended_at = ?, paused_at = NULL,"
            " paused_seconds = ? WHERE event_id = ?",
            [iso(now), _fold_pause(drill, now), event_id],
        )
        _close_event(db, now, event_id, actor, "Fin de l'exercice.")
        audit.append(
            db,
            now,
            "drill.ended",
            actor=actor.login,
            object_type="drill",
            object_id=event_id,
            event_id=event_id,
        )
    return _get(db, event_id)


def real_emergency(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    actor: events.Actor,
    reason: str = "",
) -> Drill:
    """ "Urgence réelle": stop the drill at once, log it, close the drill event.

    The cell then declares the real event (the web page offers the link); nothing of the drill
    is carried over to it.
    """
    _check_actor(actor, STOP_ROLES, "arrêter l'exercice")
    reason = (reason or "").strip()[:TEXT_MAX]
    with transaction(db):
        _, drill = _drill_event(db, event_id)
        if not drill.is_live:
            raise DrillError(f"L'exercice est déjà {drill.state_label}.", 409)
        db.execute(
            "UPDATE drills SET state = 'stopped', ended_at = ?, paused_at = NULL,"
            " paused_seconds = ? WHERE event_id = ?",
            [iso(now), _fold_pause(drill, now), event_id],
        )
        _write_log(
            db,
            now,
            event_id,
            actor.id,
            actor.name,
            "décision",
            f"URGENCE RÉELLE — exercice arrêté immédiatement par {actor.name}"
            + (f". Motif : {reason}" if reason else ".")
            + " Plus aucun inject ne sera joué.",
            is_system=True,
        )
        _close_event(db, now, event_id, actor, "Exercice arrêté : urgence réelle.")
        audit.append(
            db,
            now,
            "drill.stopped_real_emergency",
            actor=actor.login,
            object_type="drill",
            object_id=event_id,
            event_id=event_id,
            details={"reason": reason},
        )
    return _get(db, event_id)


def _close_event(
    db: sqlite_utils.Database, now: datetime, event_id: int, actor: events.Actor, statement: str
) -> None:
    event = events.get_event(db, event_id)
    if event is not None and event.is_open:
        events.close(db, now, event_id, statement, actor=actor)


def _get(db: sqlite_utils.Database, event_id: int) -> Drill:
    found = get_drill(db, event_id)
    assert found is not None
    return found


def save_debrief(
    db: sqlite_utils.Database,
    now: datetime,
    event_id: int,
    went_well: str,
    to_improve: str,
    actor: events.Actor,
) -> Drill:
    """The director of exercise writes what went well and what to improve (RETEX)."""
    _check_actor(actor, DIRECT_ROLES, "rédiger le retour d'expérience")
    went_well = (went_well or "").strip()
    to_improve = (to_improve or "").strip()
    if len(went_well) > TEXT_MAX or len(to_improve) > TEXT_MAX:
        raise DrillError(f"Au plus {TEXT_MAX} caractères par rubrique.")
    with transaction(db):
        _drill_event(db, event_id)
        db.execute(
            "UPDATE drills SET went_well = ?, to_improve = ? WHERE event_id = ?",
            [went_well, to_improve, event_id],
        )
        audit.append(
            db,
            now,
            "drill.debrief_saved",
            actor=actor.login,
            object_type="drill",
            object_id=event_id,
            event_id=event_id,
            details={"went_well": len(went_well), "to_improve": len(to_improve)},
        )
    return _get(db, event_id)


# --- after-action report ------------------------------------------------------------------------


def _minutes(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((parse_iso(end) - parse_iso(start)).total_seconds() / 60, 1)


@dataclass(frozen=True)
class Delay:
    """One measured delay of the debriefing (minutes, None when the second step never came)."""

    label: str
    start_at: str | None
    end_at: str | None
    minutes: float | None


@dataclass(frozen=True)
class ChecklistReview:
    """A checklist item against its due time."""

    title: str
    role: str
    due_at: str
    done_at: str | None
    done_by: str | None
    late: bool
    gap_min: float | None  # done − due: > 0 late, ≤ 0 on time; None when not done
    status: str  # à l'heure | en retard | non réalisé | non échu


@dataclass(frozen=True)
class InjectReview:
    """An inject against its expected action."""

    id: str
    title: str
    kind: str
    to_role: str
    sender: str
    expected_action: str
    offset_min: int
    backup_for: str | None
    outcome: str  # fired | skipped | not_played
    fired_at: str | None
    fired_by: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    response_min: float | None


@dataclass(frozen=True)
class TimelineItem:
    """One line of the timeline: when, what kind, what, who."""

    at: str
    kind: str  # inject | réponse | décision | accès | point de situation | action | information
    text: str
    author: str = ""


@dataclass(frozen=True)
class AfterAction:
    """Everything the debriefing needs, computed from what happened."""

    event: events.Event
    drill: Drill
    scenario_title: str
    scenario_description: str
    first_grant_at: str | None
    first_report_at: str | None
    delays: list[Delay]
    checklist: list[ChecklistReview]
    injects: list[InjectReview]
    grants: list[dict[str, Any]]
    reports: list[dict[str, Any]]
    timeline: list[TimelineItem]
    casualties: dict[str, Any] | None
    closed_at: str | None = None
    notes: list[str] = field(default_factory=list)

    def delay(self, label_start: str) -> Delay | None:
        """The delay whose label starts with ``label_start``."""
        return next((d for d in self.delays if d.label.startswith(label_start)), None)


def _grants(db: sqlite_utils.Database, event_id: int) -> list[dict[str, Any]]:
    return rows(
        db,
        "SELECT g.id, g.status, g.requested_at, g.activated_at, g.expires_at, g.ended_at,"
        " g.reason_code, g.justification, g.duration_min, u.name AS user_name,"
        " d.slug AS dataset_slug, d.title AS dataset_title, d.sensitivity,"
        " a.agreement_key, a.version AS agreement_version, a.drills_allowed"
        " FROM grants g JOIN users u ON u.id = g.user_id JOIN datasets d ON d.id = g.dataset_id"
        " JOIN agreements a ON a.id = g.agreement_id WHERE g.event_id = ?"
        " ORDER BY g.requested_at, g.id",
        [event_id],
    )


def after_action(
    db: sqlite_utils.Database, event_id: int, scenario: Scenario | None
) -> AfterAction:
    """The after-action report of a drill: timeline, delays, checklist, injects, grants.

    ``scenario`` is the drill's scenario from the library (None when it is gone: the report
    then says so and does not detail the injects)."""
    event, drill = _drill_event(db, event_id)
    notes: list[str] = []
    if scenario is None:
        notes.append(f"Scénario « {drill.scenario_id} » introuvable : injects non détaillés.")
    declared = event.declared_at
    end_at = drill.ended_at or event.closed_at

    grants = _grants(db, event_id)
    activated = sorted(g["activated_at"] for g in grants if g["activated_at"])
    first_grant = activated[0] if activated else None
    reports = rows(
        db,
        "SELECT number, trigger, generated_at, due_at, author FROM reports WHERE event_id = ?"
        " ORDER BY generated_at, number",
        [event_id],
    )
    first_report = reports[0]["generated_at"] if reports else None
    delays = [
        Delay(
            "Déclaration → premier accès ouvert (bris de glace)",
            declared,
            first_grant,
            _minutes(declared, first_grant),
        ),
        Delay(
            "Déclaration → premier point de situation",
            declared,
            first_report,
            _minutes(declared, first_report),
        ),
        Delay(
            "Premier accès ouvert → premier point de situation",
            first_grant,
            first_report,
            _minutes(first_grant, first_report),
        ),
    ]

    checklist: list[ChecklistReview] = []
    for item in events.checklist(db, event_id):
        gap = _minutes(item.due_at, item.done_at)
        if item.done_at:
            late = item.done_at > item.due_at
            status = "en retard" if late else "à l'heure"
        elif end_at and end_at > item.due_at:
            late, status = True, "non réalisé"
            gap = None
        else:
            late, status = False, "non échu"
        checklist.append(
            ChecklistReview(
                title=item.title,
                role=item.role,
                due_at=item.due_at,
                done_at=item.done_at,
                done_by=item.done_by_name,
                late=late,
                gap_min=gap,
                status=status,
            )
        )

    decided = inject_rows(db, event_id)
    injects: list[InjectReview] = []
    for inject in scenario.injects if scenario else ():
        r = decided.get(inject.id)
        outcome = r["outcome"] if r else "not_played"
        injects.append(
            InjectReview(
                id=inject.id,
                title=inject.title,
                kind=inject.kind,
                to_role=inject.to_role,
                sender=inject.sender,
                expected_action=inject.expected_action,
                offset_min=inject.offset_min,
                backup_for=inject.backup_for,
                outcome=outcome,
                fired_at=r["fired_at"] if r and outcome == "fired" else None,
                fired_by=r["fired_by"] if r else None,
                acknowledged_at=r["acknowledged_at"] if r else None,
                acknowledged_by=(r["acknowledged_by_name"] or None) if r else None,
                response_min=_minutes(r["fired_at"], r["acknowledged_at"]) if r else None,
            )
        )

    timeline = _timeline(db, event_id, grants, reports)
    return AfterAction(
        event=event,
        drill=drill,
        scenario_title=scenario.title if scenario else drill.scenario_id,
        scenario_description=scenario.description if scenario else "",
        first_grant_at=first_grant,
        first_report_at=first_report,
        delays=delays,
        checklist=checklist,
        injects=injects,
        grants=grants,
        reports=reports,
        timeline=timeline,
        casualties=latest_casualties(db, event_id),
        closed_at=event.closed_at,
        notes=notes,
    )


def _timeline(
    db: sqlite_utils.Database,
    event_id: int,
    grants: list[dict[str, Any]],
    reports: list[dict[str, Any]],
) -> list[TimelineItem]:
    acks = {
        r["ack_log_entry_id"]
        for r in rows(
            db, "SELECT ack_log_entry_id FROM drill_injects WHERE event_id = ?", [event_id]
        )
        if r["ack_log_entry_id"]
    }
    items: list[tuple[str, int, TimelineItem]] = []
    for entry in events.log_entries(db, event_id):
        if entry.is_inject:
            kind = "inject"
        elif entry.id in acks:
            kind = "réponse"
        elif entry.category == "décision":
            kind = "décision"
        elif entry.category == "action":
            kind = "action"
        else:
            kind = entry.category
        items.append(
            (
                entry.recorded_at,
                0,
                TimelineItem(entry.recorded_at, kind, entry.text, entry.author_name),
            )
        )
    for g in grants:
        if g["activated_at"]:
            text = (
                f"Accès ouvert : {g['dataset_title']} pour {g['user_name']} (convention "
                f"{g['agreement_key']} v{g['agreement_version']})"
            )
            items.append(
                (
                    g["activated_at"],
                    1,
                    TimelineItem(g["activated_at"], "accès", text, g["user_name"]),
                )
            )
    for r in reports:
        trigger = "programmé" if r["trigger"] == "schedule" else "manuel"
        text = f"Point de situation n°{r['number']} ({trigger})"
        items.append(
            (
                r["generated_at"],
                2,
                TimelineItem(r["generated_at"], "point de situation", text, r["author"]),
            )
        )
    items.sort(key=lambda t: (t[0], t[1]))
    return [t[2] for t in items]


def format_minutes(minutes: float | None) -> str:
    """``12 min``, ``1 h 05``, ``+5 min`` style French durations; ``—`` for none."""
    if minutes is None:
        return "—"
    sign = "-" if minutes < 0 else ""
    total = abs(minutes)
    whole = int(total)
    seconds = round((total - whole) * 60)
    if total >= 60:
        return f"{sign}{whole // 60} h {whole % 60:02d}"
    if seconds and whole < 10:
        return f"{sign}{whole} min {seconds:02d} s"
    return f"{sign}{round(total)} min"


# --- after-action PDF ---------------------------------------------------------------------------


def after_action_pdf(report: AfterAction, now: datetime) -> bytes:
    """The after-action report as an A4 PDF: EXERCICE in every header, footer and watermark."""
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, SimpleDocTemplate, Spacer

    st = styles()
    e = report.event
    d = report.drill
    width = A4[0] - 30 * mm

    def grid(header: list[str], data: list[list[Any]], widths: list[float]) -> Any:
        return table([header, *data], [w * width for w in widths])

    def hm(stamp: str | None) -> str:
        return local(stamp, "%H:%M") if stamp else "—"

    story: list[Any] = [
        para("EXERCICE — EXERCICE — EXERCICE", st["banner"]),
        para("Rapport de fin d'exercice (RETEX)", st["title"]),
        para(e.title, st["subtitle"]),
        Spacer(1, 4),
    ]
    duration = d.scenario_seconds(now) / 60
    facts: list[tuple[str, Any]] = [
        ("Scénario", report.scenario_title),
        ("Lieu", e.place),
        ("Début", local(d.started_at)),
        ("Fin", f"{local(d.ended_at)} — {d.state_label}" if d.ended_at else d.state_label),
        ("Temps de scénario joué", format_minutes(duration)),
        ("Directeur d'exercice", d.started_by_name),
        ("Niveau final", str(e.level)),
    ]
    if report.casualties:
        c = report.casualties
        facts.append(
            (
                "Dernier bilan des victimes",
                ", ".join(
                    f"{c[k]} {CASUALTY_LABELS[k]}" for k in CASUALTY_KEYS if c.get(k) is not None
                ),
            )
        )
    story.append(key_values(facts, [0.28 * width, 0.72 * width], st["cellb"], st["cell"]))
    for note in report.notes:
        story.append(para(note, st["base"]))

    story.append(para("Délais mesurés", st["h1"]))
    story.append(
        grid(
            ["Délai", "De", "À", "Durée"],
            [
                [x.label, hm(x.start_at), hm(x.end_at), format_minutes(x.minutes)]
                for x in report.delays
            ],
            [0.55, 0.13, 0.13, 0.19],
        )
    )

    story.append(para("Injects et réponses des joueurs", st["h1"]))
    outcome_fr = {"fired": "joué", "skipped": "non nécessaire", "not_played": "non joué"}
    story.append(
        grid(
            ["H+", "Inject", "Pour", "Action attendue", "Joué", "Traité", "Délai"],
            [
                [
                    f"{i.offset_min} min",
                    f"{i.title}" + (" (relance)" if i.backup_for else ""),
                    auth.ROLES.get(i.to_role, i.to_role),
                    i.expected_action or "—",
                    hm(i.fired_at) if i.outcome == "fired" else outcome_fr[i.outcome],
                    (
                        f"{hm(i.acknowledged_at)} ({i.acknowledged_by})"
                        if i.acknowledged_at
                        else "non"
                    ),
                    format_minutes(i.response_min),
                ]
                for i in report.injects
            ]
            or [["—", "aucun inject", "", "", "", "", ""]],
            [0.07, 0.22, 0.1, 0.33, 0.09, 0.12, 0.07],
        )
    )

    story.append(para("Liste d'actions : échéances", st["h1"]))
    story.append(
        grid(
            ["Action", "Rôle", "Échéance", "Réalisée", "Écart", "Statut"],
            [
                [
                    c.title,
                    auth.ROLES.get(c.role, c.role),
                    hm(c.due_at),
                    f"{hm(c.done_at)}" + (f" ({c.done_by})" if c.done_by else "")
                    if c.done_at
                    else "—",
                    ("+" if (c.gap_min or 0) > 0 else "") + format_minutes(c.gap_min)
                    if c.gap_min is not None
                    else "—",
                    c.status,
                ]
                for c in report.checklist
            ]
            or [["aucune action", "", "", "", "", ""]],
            [0.42, 0.12, 0.1, 0.16, 0.1, 0.1],
        )
    )

    story.append(para("Accès aux données ouverts (bris de glace)", st["h1"]))
    if report.grants:
        story.append(
            grid(
                ["Données", "Qui", "Convention", "Demandé", "Ouvert", "État", "Justification"],
                [
                    [
                        g["dataset_title"],
                        g["user_name"],
                        f"{g['agreement_key']} v{g['agreement_version']}"
                        + (" (exercices autorisés)" if g["drills_allowed"] else ""),
                        hm(g["requested_at"]),
                        hm(g["activated_at"]),
                        g["status"],
                        g["justification"],
                    ]
                    for g in report.grants
                ],
                [0.16, 0.14, 0.16, 0.08, 0.08, 0.08, 0.30],
            )
        )
    else:
        story.append(para("Aucun accès aux données protégées n'a été ouvert.", st["base"]))

    story.append(para("Ce qui a bien fonctionné", st["h1"]))
    story.append(para(d.went_well or "(à compléter par le directeur d'exercice)", st["base"]))
    story.append(para("Ce qui est à améliorer", st["h1"]))
    story.append(para(d.to_improve or "(à compléter par le directeur d'exercice)", st["base"]))

    story.append(para("Chronologie", st["h1"]))
    story.append(
        grid(
            ["Heure", "Type", "Fait", "Par"],
            [[hm(x.at), x.kind, x.text, x.author] for x in report.timeline],
            [0.08, 0.13, 0.61, 0.18],
        )
    )
    story.append(Spacer(1, 6))
    story.append(
        KeepTogether(
            [para(f"Rapport généré le {local(now)} par la console de crise.", st["small"])]
        )
    )

    header = "EXERCICE — Rapport de fin d'exercice (RETEX) — " + e.title.removeprefix(TITLE_PREFIX)

    def decorate(c: Any, page: int, total: int) -> None:
        exercise_bands(c, page, total, size=A4, header=header)

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=18 * mm,
        bottomMargin=16 * mm,
        title=f"EXERCICE — RETEX — {e.title}",
        author="Console de crise — Caux Seine Agglomération",
        subject="Rapport de fin d'exercice",
    )
    doc.build(story, canvasmaker=numbered_canvas(decorate))
    return buffer.getvalue()


# --- CAP 1.2 export -----------------------------------------------------------------------------

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_SENDER = "crisis-console@caux-seine.example"
CAP_CATEGORIES: dict[str, str] = {
    "toxic": "CBRNE",
    "fire": "Fire",
    "explosion": "Safety",
    "flood": "Met",
    "gas-leak": "Infra",
}
CAP_RESPONSES: dict[str, str] = {
    "toxic": "Shelter",
    "fire": "Avoid",
    "explosion": "Avoid",
    "flood": "Prepare",
    "gas-leak": "Evacuate",
}


def _cap_time(stamp: datetime) -> str:
    # CAP forbids "Z": the offset is written out.
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _cap_polygon(geometry: dict[str, Any]) -> str | None:
    from shapely.geometry import shape

    geom = shape(geometry)
    if geom.is_empty:
        return None
    if geom.geom_type == "MultiPolygon":
        geom = max(geom.geoms, key=lambda g: g.area)
    if geom.geom_type != "Polygon":
        return None
    ring = geom.simplify(0.0002, preserve_topology=True).exterior
    coords = list(ring.coords)
    if len(coords) < 4:
        return None
    return " ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in coords)


def cap_alert(
    db: sqlite_utils.Database,
    event_id: int,
    now: datetime | None,
    playbooks: Mapping[str, Playbook],
) -> str:
    """The event's alert as CAP 1.2 XML: status ``Exercise`` for a drill, ``Actual`` otherwise."""
    event = events.get_event(db, event_id)
    if event is None:
        raise DrillError("Événement introuvable.", 404)
    playbook = playbooks.get(event.kind)
    hazard = playbook.hazard if playbook else ""
    zones = events.latest_zones(db, event_id)
    sent = now or parse_iso(zones["computed_at"] if zones else event.declared_at)
    version = zones["version"] if zones else 0
    ET.register_namespace("", CAP_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
        if text is not None:
            element.text = text
        return element

    alert = ET.Element(f"{{{CAP_NS}}}alert")
    sub(alert, "identifier", f"caux-seine-crisis-event-{event.id}-v{version}")
    sub(alert, "sender", CAP_SENDER)
    sub(alert, "sent", _cap_time(sent))
    sub(alert, "status", "Exercise" if event.is_drill else "Actual")
    sub(alert, "msgType", "Alert" if event.is_open else "Cancel")
    sub(alert, "scope", "Restricted")
    sub(alert, "restriction", "Cellule de crise et services partenaires")
    if event.is_drill:
        sub(alert, "note", "EXERCICE — message d'exercice, aucune action réelle")
    info = sub(alert, "info")
    sub(info, "language", "fr-FR")
    sub(info, "category", CAP_CATEGORIES.get(hazard, "Other"))
    sub(info, "event", playbook.title if playbook else event.kind)
    sub(info, "responseType", CAP_RESPONSES.get(hazard, "Monitor"))
    sub(info, "urgency", "Immediate")
    sub(
        info,
        "severity",
        "Extreme" if event.level >= 4 else "Severe" if event.level == 3 else "Moderate",
    )
    sub(info, "certainty", "Observed")
    sub(info, "senderName", "Console de crise — Caux Seine Agglomération")
    headline = (
        "EXERCICE — " if event.is_drill and not event.title.startswith("EXERCICE") else ""
    ) + event.title
    sub(info, "headline", headline[:160])
    described = "; ".join(f"{k} : {v}" for k, v in events.describe_params(playbook, event.params))
    sub(info, "description", f"{event.place}. Niveau {event.level}. {described}".strip())
    if playbook and playbook.description:
        sub(info, "instruction", playbook.description)
    features = (zones or {}).get("geojson", {}).get("features", []) if zones else []
    if not features:
        area = sub(info, "area")
        sub(area, "areaDesc", event.place or event.title)
        sub(area, "circle", f"{event.lat:.5f},{event.lon:.5f} 0.5")
    for feature in features:
        polygon = _cap_polygon(feature["geometry"])
        if polygon is None:
            continue
        props = feature.get("properties") or {}
        area = sub(info, "area")
        sub(area, "areaDesc", f"{props.get('label', 'Zone')} — {event.place}")
        sub(area, "polygon", polygon)
    ET.indent(alert)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(alert, encoding="unicode") + "\n"
    )
