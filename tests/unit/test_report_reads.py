"""The situation report reads like one: page 1 carries the director's synthesis, the key figures
(French plurals) and the map; ids and hashes sit in an annex; the marking never goes down."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app import access, auth, events, reports
from app.db import rows
from app.playbooks import Playbook, load_playbooks
from tests.conftest import PROJECT
from tests.unit.test_reports import flat, pages, pdf_text

SYNTHESIS = (
    "Situation : fuite continue sur le poste de dépotage n°2, nuage vers le nord-est.\n"
    "Mesures prises : mise à l'abri des écoles, bouclage de la RD 982.\n"
    "Prochaines étapes : point avec l'exploitant à 14 h 30."
)


@pytest.fixture(scope="module")
def playbooks() -> dict[str, Playbook]:
    found, errors = load_playbooks(PROJECT / "playbooks")
    assert not errors, errors
    return found


@pytest.fixture
def tdb(territory_app: Any) -> Any:
    from app.db import connect

    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


def user(db: Any, login: str) -> auth.User:
    found = auth.get_user_by_login(db, login)
    assert found is not None
    return found


def declare(db: Any, now: Any, playbooks: dict[str, Playbook]) -> events.Event:
    return events.declare(
        db,
        now,
        playbooks["toxic-release"],
        actor=user(db, "director"),
        title="Fuite d'ammoniac — FICTIF-1",
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
        site="FICTIF-1",
    )


def test_the_synthesis_is_versioned_in_the_main_courante(db: Any, app: Any) -> None:
    from tests.unit.test_events import ensure_site, toxic

    ensure_site(db)
    found, _ = load_playbooks(PROJECT / "playbooks")
    event = toxic(db, found)
    now = app.config["CLOCK"].now()
    with pytest.raises(events.EventError) as info:
        events.set_synthesis(db, now, event, SYNTHESIS, user(db, "cell"))
    assert info.value.status == 403
    for blank in ("", "   "):
        with pytest.raises(events.EventError, match="obligatoire"):
            events.set_synthesis(db, now, event, blank, user(db, "director"))
    first = events.set_synthesis(db, now, event, SYNTHESIS + "  \r\n", user(db, "director"))
    assert first.synthesis == SYNTHESIS and first.synthesis_by_name == user(db, "director").name
    with pytest.raises(events.EventError, match="Rien n'a changé"):
        events.set_synthesis(db, now, first, SYNTHESIS, user(db, "director"))
    later = now + timedelta(minutes=20)
    second = events.set_synthesis(
        db, later, first, "Situation : fuite isolée.", user(db, "director")
    )
    assert second.synthesis == "Situation : fuite isolée." and second.synthesis_at.endswith(
        "13:20:00Z"
    )
    versions = [
        e.text for e in events.log_entries(db, event.id) if "Synthèse du directeur" in e.text
    ]
    assert versions == [
        f"Synthèse du directeur, version 1 :\n{SYNTHESIS}",
        "Synthèse du directeur, version 2 :\nSituation : fuite isolée.",
    ]
    audited = rows(db, "SELECT details FROM audit_log WHERE action = 'event.synthesis_changed'")
    assert [json.loads(r["details"])["version"] for r in audited] == [1, 2]
    assert second.to_dict()["synthesis"]["text"] == "Situation : fuite isolée."
    events.close(db, later, event.id, "Fin", actor=user(db, "director"))
    with pytest.raises(events.EventError) as info:
        events.set_synthesis(db, later, second, "Après coup", user(db, "director"))
    assert info.value.status == 409


def _with_synthesis(db: Any, app: Any, playbooks: dict[str, Playbook]) -> tuple[Any, events.Event]:
    """Now, and a declared event whose director wrote the synthesis."""
    now = app.config["CLOCK"].now()
    event = declare(db, now, playbooks)
    return now, events.set_synthesis(db, now, event, SYNTHESIS, user(db, "director"))


def _report(
    db: Any, event: events.Event, at: Any, playbooks: dict[str, Playbook], past: Any = None
) -> tuple[reports.Report, bytes]:
    """A report generated at ``at`` (``past``: reconstituted as that situation) and its PDF."""
    report = reports.generate(
        db, at, event, author="Claire Morel", playbook=playbooks["toxic-release"], past=past
    )
    assert report is not None
    pdf = reports.report_pdf(db, report.id)
    assert pdf is not None
    return report, pdf


def test_page_one_has_the_synthesis_the_key_figures_and_the_map(
    tdb: Any, territory_app: Any, playbooks: dict[str, Playbook], tmp_path: Path
) -> None:
    now, event = _with_synthesis(tdb, territory_app, playbooks)
    report, pdf = _report(tdb, event, now + timedelta(minutes=5), playbooks)
    first = flat(pdf_text(pdf, tmp_path, 1))
    assert "Synthèse du directeur" in first and "bouclage de la RD 982" in first
    assert "Chiffres clés" in first and "Carte des zones" in first
    assert "2 collèges" in first and "1 EHPAD" in first and "1 lycée" in first
    assert "collège," not in first  # no singular after a plural count
    n = pages(pdf, tmp_path)
    body = " ".join(flat(pdf_text(pdf, tmp_path, p)) for p in range(1, n))
    last = flat(pdf_text(pdf, tmp_path, n))
    annex = body + " " + last.split("Annexe — références techniques")[0]
    assert "Annexe — références techniques" in last
    assert report.audit_hash not in annex and report.audit_hash in last
    assert f"n°{event.id}," not in annex and "toxic-release" not in annex
    assert f"n°{event.id}, guide « toxic-release », site FICTIF-1" in last
    assert "(s)" not in body


def test_a_reconstituted_report_keeps_its_map_on_page_one(
    tdb: Any, territory_app: Any, playbooks: dict[str, Playbook], tmp_path: Path
) -> None:
    """A reconstituted report's header is longer (its title on two lines, the note on what it
    is rebuilt from): the map shrinks to what page 1 has left rather than leave it."""
    from app import history

    now, event = _with_synthesis(tdb, territory_app, playbooks)
    past = history.situation_at(tdb, event, now + timedelta(minutes=10), playbooks["toxic-release"])
    report, pdf = _report(tdb, event, now + timedelta(minutes=40), playbooks, past)
    assert report.as_at is not None
    first = flat(pdf_text(pdf, tmp_path, 1))
    assert "reconstitué" in first and "bouclage de la RD 982" in first
    assert "Carte des zones" in first and "Zones d'effets" in first  # the heading and the map


def test_the_marking_never_goes_down_once_restricted_data_entered(
    tdb: Any, territory_app: Any, playbooks: dict[str, Playbook], tmp_path: Path
) -> None:
    now = territory_app.config["CLOCK"].now()
    event = declare(tdb, now, playbooks)
    first = reports.generate(tdb, now, event, author="Planificateur")
    assert first.classification == reports.UNRESTRICTED
    access.demo_agreements(tdb, now)
    grant = access.request_grant(
        tdb,
        now + timedelta(minutes=1),
        user(tdb, "cell"),
        event.id,
        "gas-network",
        reason_code="intervention_reseau",
        justification="Repérer les vannes pour les pompiers dans la zone.",
        duration_min=20,
    )
    assert grant.status == "active"
    second = reports.generate(tdb, now + timedelta(minutes=2), event, author="Cellule")
    assert second.classification == reports.RESTRICTED
    # The grant is over: the next scheduled report opens nothing, yet stays restricted.
    later = now + timedelta(hours=2)
    third = reports.generate(tdb, later, event, author="Planificateur")
    assert third.classification == reports.RESTRICTED
    text = flat(pdf_text(reports.report_pdf(tdb, third.id), tmp_path, 1))
    assert "DIFFUSION RESTREINTE (maintenue" in text
    assert reports.restricted_entered(tdb, event.id)
    other = declare(tdb, now, playbooks)
    assert not reports.restricted_entered(tdb, other.id)
