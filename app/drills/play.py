"""Playing a drill: who may do what, the drill's state, starting it, firing injects at their
offsets (and backups), acknowledgements, the controls (pause, resume, end, real emergency) and
the debriefing notes."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from .. import audit, auth, events, fr
from ..clock import iso, local, parse_iso
from ..db import row, rows, scalar, transaction
from ..errors import DomainError
from ..pcs import PcsError, centres
from ..playbooks import CASUALTY_KEYS, CHANGE_KINDS, Inject, Playbook, Scenario

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
    "centre_arrivals": "Arrivées dans un centre d'accueil",
}
CASUALTY_LABELS: dict[str, str] = {
    "dead": "décédés",
    "seriously_injured": "urgences absolues",
    "slightly_injured": "urgences relatives",
    "involved": "impliqués",
}
# What a change inject asks of the players when the scenario does not apply it (the event is
# left as it is: the players decide and make the change, as they would after a real message).
ASK_PLAYERS: dict[str, str] = {
    "wind_shift": "À la cellule d'agir : mettez à jour le vent de l'événement si vous le jugez"
    " utile (l'exercice ne le change pas de lui-même).",
    "param_change": "À la cellule d'agir : mettez à jour les paramètres de l'événement si vous le"
    " jugez utile (l'exercice ne les change pas de lui-même).",
    "escalation": "Au directeur des opérations de décider : l'exercice ne change pas le niveau de"
    " lui-même.",
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


class RealEventOpen(DrillError):
    """A real event is open: starting a drill needs a confirmation naming it (HTTP 409)."""

    def __init__(self, open_events: list[events.Event]) -> None:
        names = " ; ".join(
            f"« {e.title} » (niveau {e.level}, déclaré le {local(e.declared_at)})"
            for e in open_events
        )
        many = len(open_events) > 1
        super().__init__(
            ("Des événements réels sont en cours" if many else "Un événement réel est en cours")
            + f" : {names}. Un exercice mobiliserait les mêmes personnes : confirmez pour le"
            " lancer quand même.",
            status=409,
        )
        self.events = open_events


def open_real_events(db: sqlite_utils.Database) -> list[events.Event]:
    """The real (not drill) events open now."""
    return [e for e in events.list_events(db, "open") if not e.is_drill]


def start_drill(
    db: sqlite_utils.Database,
    now: datetime,
    scenario: Scenario,
    user: events.Actor,
    playbooks: Mapping[str, Playbook],
    *,
    confirmed_real: Collection[int] = (),
) -> Drill:
    """Declare the drill event from the scenario, record the drill, fire the injects at 0 min.

    While a real event is open, the drill starts only if ``confirmed_real`` names every open
    real event (the director of exercise saw them and confirmed); else :class:`RealEventOpen`.
    """
    _check_actor(user, DIRECT_ROLES, "lancer un exercice")
    playbook = playbooks.get(scenario.playbook)
    if playbook is None:
        raise DrillError(f"Guide « {scenario.playbook} » introuvable pour ce scénario.")
    with transaction(db):
        real = open_real_events(db)
        if any(e.id not in set(confirmed_real) for e in real):
            raise RealEventOpen(real)
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
            f"EXERCICE — Début de l'exercice « {scenario.title} » "
            f"({fr.count(len(scenario.injects), 'inject prévu', 'injects prévus')}). Lancé par"
            f" {user.name}, directeur d'exercice."
            + "".join(
                f" Lancé pendant l'événement réel « {e.title} » (confirmé par {user.name})."
                for e in real
            ),
            is_system=True,
        )
        details: dict[str, Any] = {"scenario": scenario.id, "injects": len(scenario.injects)}
        if real:
            details["during_real_events"] = [e.id for e in real]
        audit.append(
            db,
            now,
            "drill.started",
            actor=user.login,
            object_type="drill",
            object_id=event.id,
            event_id=event.id,
            details=details,
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
                "INSERT INTO drill_injects (event_id, inject_id, fired_at, fired_by, to_role,"
                " title, applied) VALUES (?,?,?,?,?,?,?)",
                [
                    event_id,
                    inject.id,
                    iso(now),
                    fired_by,
                    inject.to_role,
                    inject.title,
                    int(inject.kind in CHANGE_KINDS and inject.apply),
                ],
            )
        except sqlite3.IntegrityError as exc:  # a concurrent sweep won the race
            raise DrillError(f"L'inject « {inject.title} » a déjà été joué.", 409) from exc
        row_id = int(cur.lastrowid or 0)
        controller = Controller(id=drill.started_by, login=fired_by)
        sender = f"De : {inject.sender}. " if inject.sender else ""
        to = auth.ROLES.get(inject.to_role, inject.to_role)
        ask = f" {ASK_PLAYERS[inject.kind]}" if inject.asks_players else ""
        entry_id = _write_log(
            db,
            now,
            event_id,
            controller.id,
            controller.name,
            "message reçu",
            f"{INJECT_PREFIX}{inject.title} — {sender}Pour : {to}. {inject.text}{ask}",
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
    """Apply the inject to the drill event when the scenario says ``apply: true`` (a change
    inject otherwise only asks the players to act, as the real message would); say what
    happened: ``params``, ``level``, ``casualties``, ``message``, ``requested`` or ``none``."""
    if inject.asks_players:
        return "requested"
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
        if inject.kind == "centre_arrivals":
            centre_id = str(inject.params["centre"])
            opened = [c.id for c in centres.open_centres(db, event.id)]
            if centre_id not in opened:
                centres.open_centre(
                    db,
                    now,
                    event.id,
                    centre_id,
                    actor=controller,
                    note=f"inject « {inject.title} »",
                )
            centres.register(
                db,
                now,
                event.id,
                centre_id,
                actor=controller,
                arrivals=int(inject.params["people"]),
                note=f"inject « {inject.title} »",
            )
            return "centre"
    except (events.EventError, PcsError) as exc:
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
