"""Situation reports: content (pdftotext), drill marking on every page, storage, audit."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app import audit, auth, events, index_cache, reports, situation
from app.db import scalar
from app.playbooks import Playbook, load_playbooks
from tests.conftest import PROJECT

POINT = [0.548, 49.47]


@pytest.fixture(scope="module")
def playbooks() -> dict[str, Playbook]:
    found, errors = load_playbooks(PROJECT / "playbooks")
    assert not errors, errors
    return found


def declare(db: Any, now: Any, playbooks: dict[str, Playbook], **kw: Any) -> events.Event:
    director = auth.get_user_by_login(db, "director")
    assert director is not None
    return events.declare(
        db,
        now,
        playbooks["toxic-release"],
        actor=director,
        title=kw.pop("title", "Fuite d'ammoniac à Port-Jérôme"),
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
        point=POINT,
        **kw,
    )


def pdf_text(pdf: bytes, tmp_path: Path, page: int | None = None) -> str:
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    args = ["pdftotext", "-layout"]
    if page is not None:
        args += ["-f", str(page), "-l", str(page)]
    return subprocess.run(
        [*args, str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def pages(pdf: bytes, tmp_path: Path) -> int:
    path = tmp_path / "p.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
    return int(next(ln.split()[-1] for ln in info.stdout.splitlines() if ln.startswith("Pages")))


def flat(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").split())


@pytest.fixture
def tdb(territory_app: Any) -> Any:
    from app.db import connect

    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


def test_report_shows_event_number_and_impact_figures(
    tdb: Any, territory_app: Any, playbooks: dict[str, Playbook], tmp_path: Path
) -> None:
    now = territory_app.config["CLOCK"].now()
    event = declare(tdb, now, playbooks, title="Nuage d'ammoniac — Lillebonne-Est « unité n°2 »")
    report = reports.generate(
        tdb,
        now + timedelta(minutes=5),
        event,
        author="Claire Morel",
        playbook=playbooks["toxic-release"],
    )
    assert report is not None and report.number == 1 and report.trigger == "manual"
    pdf = reports.report_pdf(tdb, report.id)
    assert pdf is not None and pdf.startswith(b"%PDF")
    assert hashlib.sha256(pdf).hexdigest() == report.sha256
    text = flat(pdf_text(pdf, tmp_path))
    assert "Nuage d'ammoniac — Lillebonne-Est « unité n°2 »" in text
    assert "Point de situation n°1" in text
    stored = events.latest_zones(tdb, event.id)
    impact = situation.event_impact(tdb, index_cache.index_for(tdb), event, stored).to_json()
    people = impact["outer"]["population"]["rounded"]
    assert people > 0
    assert f"{people:,}".replace(",", " ") + " personnes" in text
    for zone in impact["zones"]:
        assert zone["label"] in text
    n = pages(pdf, tmp_path)
    assert f"page {n} / {n}" in flat(pdf_text(pdf, tmp_path, n))
    assert "EXERCICE" not in text
    # Scheduled reports have no reader: restricted layers are counts only, not restricted.
    assert report.classification == reports.UNRESTRICTED


def test_drill_report_is_marked_exercice_on_every_page(
    tdb: Any, territory_app: Any, playbooks: dict[str, Playbook], tmp_path: Path
) -> None:
    now = territory_app.config["CLOCK"].now()
    event = declare(tdb, now, playbooks, drill=True)
    director = auth.get_user_by_login(tdb, "director")
    for i in range(60):  # enough log to span several pages
        events.add_log(
            tdb,
            now,
            event.id,
            actor=director,
            category="information",
            text=f"Message {i} : évacuation de l'école Jean-Jaurès envisagée, à confirmer.",
        )
    report = reports.generate(tdb, now, event, author="Claire Morel")
    assert report is not None
    pdf = reports.report_pdf(tdb, report.id)
    assert pdf is not None
    n = pages(pdf, tmp_path)
    assert n >= 3
    for page in range(1, n + 1):
        assert "EXERCICE" in pdf_text(pdf, tmp_path, page), f"page {page}"


def test_report_is_stored_immutable_and_audited(
    db: Any, app: Any, playbooks: dict[str, Playbook], tmp_path: Path
) -> None:
    now = app.config["CLOCK"].now()
    event = declare(db, now, playbooks)
    head_before = audit.head(db)
    first = reports.generate(db, now, event, author="A", actor="director")
    second = reports.generate(db, now + timedelta(minutes=1), event, author="B")
    assert first is not None and second is not None
    assert (first.number, second.number) == (1, 2)
    assert (first.audit_seq, first.audit_hash) == head_before
    record = db.execute(
        "SELECT action, object_id, details FROM audit_log WHERE action = 'report.generated'"
        " ORDER BY seq"
    ).fetchall()
    assert [r[1] for r in record] == [str(first.id), str(second.id)]
    assert first.sha256 in record[0][2]
    with pytest.raises(Exception, match="append-only"):
        db.execute("UPDATE reports SET author = 'x' WHERE id = ?", [first.id])
    with pytest.raises(Exception, match="append-only"):
        db.execute("DELETE FROM reports WHERE id = ?", [first.id])
    assert [r.number for r in reports.list_reports(db, event.id)] == [2, 1]
    # The second report's log starts where the first one was generated.
    pdf = reports.report_pdf(db, second.id)
    assert pdf is not None
    assert "Main courante depuis le point précédent" in flat(pdf_text(pdf, tmp_path))


def test_empty_sections_render_without_zones_or_data(
    db: Any, app: Any, playbooks: dict[str, Playbook], tmp_path: Path
) -> None:
    now = app.config["CLOCK"].now()
    event = declare(db, now, playbooks)
    ctx = reports.gather(db, now, event, number=1, author="X", with_map=False)
    ctx.impact = None
    ctx.log = []
    ctx.checklist = []
    text = flat(pdf_text(reports.render_report(ctx), tmp_path))
    assert "Aucune entrée depuis le point précédent." in text
    assert "Aucun accès en vigueur" in text
    assert "Aucune action prévue" in text


def test_grants_in_force_make_the_report_restricted(
    db: Any, app: Any, playbooks: dict[str, Playbook], tmp_path: Path
) -> None:
    now = app.config["CLOCK"].now()
    event = declare(db, now, playbooks)
    ctx = reports.gather(db, now, event, number=1, author="X", with_map=False)
    ctx.grants = [
        {
            "user": "Julien Lefebvre",
            "dataset": "Réseau de distribution de gaz",
            "slug": "gas-network",
            "sensitivity": "restricted",
            "since": "2026-11-23T13:05:00Z",
            "until": "2026-11-23T17:05:00Z",
            "agreement": "grdf-gaz v1",
        }
    ]
    assert ctx.classification == reports.RESTRICTED
    pdf = reports.render_report(ctx)
    for page in range(1, pages(pdf, tmp_path) + 1):
        assert "DIFFUSION RESTREINTE" in pdf_text(pdf, tmp_path, page)
    text = flat(pdf_text(pdf, tmp_path))
    assert "Julien Lefebvre" in text and "23/11 18:05" in text


def test_log_pdf_lists_every_entry(
    db: Any, app: Any, playbooks: dict[str, Playbook], tmp_path: Path
) -> None:
    now = app.config["CLOCK"].now()
    event = declare(db, now, playbooks, drill=True)
    director = auth.get_user_by_login(db, "director")
    for i in range(80):
        events.add_log(
            db, now, event.id, actor=director, category="action", text=f"Action n°{i} réalisée."
        )
    pdf = reports.log_pdf(db, now, event, "Claire Morel")
    text = flat(pdf_text(pdf, tmp_path))
    assert "Action n°0 réalisée." in text and "Action n°79 réalisée." in text
    n = pages(pdf, tmp_path)
    assert n >= 2
    for page in range(1, n + 1):
        page_text = pdf_text(pdf, tmp_path, page)
        assert "EXERCICE" in page_text and f"page {page} / {n}" in page_text
        if "réalisée" in page_text:
            assert "Texte" in page_text  # the header row is repeated on every page


def test_set_cadence_is_logged_and_audited(db: Any, app: Any, playbooks: Any) -> None:
    now = app.config["CLOCK"].now()
    event = declare(db, now, playbooks)
    director = auth.get_user_by_login(db, "director")
    updated = reports.set_cadence(db, now, event.id, 15, actor=director)
    assert updated.report_cadence_min == 15
    assert scalar(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'event.cadence_changed'") == 1
    with pytest.raises(reports.ReportError):
        reports.set_cadence(db, now, event.id, 2, actor=director)
