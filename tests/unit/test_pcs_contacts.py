"""The crisis directory: French numbers, the CSV import (a bad line names itself and nothing is
written), numbers shown only to the roles that call, each read audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import auth
from app.db import connect, scalar
from app.pcs import PcsError, callouts, contacts, phones
from tests.conftest import T0

HEADER = "nom,organisation,fonction,telephone,email,astreinte\n"


@pytest.mark.parametrize(
    "spelling",
    [
        "02 35 12 34 56",
        "+33 2 35 12 34 56",
        "0235123456",
        "02.35.12.34.56",
        "0033 2 35 12 34 56",
        "+33 (0)2 35 12 34 56",
    ],
)
def test_french_spellings_are_one_number(spelling):
    assert phones.normalise(spelling) == "+33235123456"
    assert phones.display("+33235123456") == "02 35 12 34 56"


@pytest.mark.parametrize("bad", ["12345", "02 35 12 34", "02 35 12 34 56 78", "abc"])
def test_bad_numbers_are_refused(bad):
    with pytest.raises(phones.PhoneError):
        phones.normalise(bad)


def write(tmp_path: Path, body: str, name: str = "annuaire.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, "utf-8")
    return path


def count(db) -> int:
    return int(scalar(db, "SELECT COUNT(*) FROM contacts"))


def test_import_names_the_bad_line_and_writes_nothing(db, tmp_path):
    path = write(
        tmp_path,
        "FICTIF — A,Mairie,astreinte élus,01 99 00 01 11,,\n"
        "FICTIF — B,Mairie,astreinte élus,02 35 12 34,,\n"
        "FICTIF — C,Mairie,services techniques,+33 1 99 00 01 13,c@x.example,permanent\n",
    )
    with pytest.raises(contacts.ContactImportError) as err:
        contacts.import_csv(db, T0, path, actor="test")
    assert "annuaire.csv : ligne 3 :" in err.value.message
    assert "02 35 12 34" in err.value.message
    assert count(db) == 0


def test_import_refuses_a_duplicate_naming_both_lines(db, tmp_path):
    path = write(
        tmp_path,
        "FICTIF — A,Mairie,astreinte élus,01 99 00 01 11,,\n"
        "FICTIF — B,Mairie,astreinte élus,01 99 00 01 12,,\n"
        "fictif — a,MAIRIE,Astreinte Élus,01 99 00 01 14,,\n",
    )
    with pytest.raises(contacts.ContactImportError) as err:
        contacts.import_csv(db, T0, path, actor="test")
    assert "ligne 4 : doublon de la ligne 2" in err.value.message
    assert count(db) == 0


def test_import_then_update_and_the_audit(db, tmp_path):
    path = write(
        tmp_path,
        "FICTIF — A,Mairie,astreinte élus,01 99 00 01 11 / 0199000112,a@x.example,"
        "2026-11-23 08:00/2026-11-30 08:00\n"
        "FICTIF — C,,services techniques,+33 1 99 00 01 13,,permanent\n",
    )
    result = contacts.import_csv(db, T0, path, actor="test")
    assert (result.added, result.updated, result.unchanged) == (2, 0, 0)
    a = next(c for c in contacts.all_contacts(db) if c.name == "FICTIF — A")
    assert a.phones == ("+33199000111", "+33199000112")
    assert a.on_call(T0) is True and "jusqu'au 30/11 08:00" in a.oncall_label(T0)
    again = contacts.import_csv(db, T0, path, actor="test")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    path.write_text(HEADER + "FICTIF — A,Mairie,astreinte élus,01 99 00 01 19,,\n", "utf-8")
    assert contacts.import_csv(db, T0, path, actor="test").updated == 1
    audited = [
        json.loads(r[0])
        for r in db.execute("SELECT details FROM audit_log WHERE action = 'contacts.imported'")
    ]
    assert [d["added"] for d in audited] == [2, 0, 0]
    assert "01 99" not in json.dumps(audited)  # no number in the audit log


@pytest.mark.parametrize(
    "body, expected",
    [
        ("", "aucun contact"),
        ("x,y\n", "colonnes manquantes"),
        ("FICTIF — A,Mairie,astreinte élus,01 99 00 01 11,pas-un-mail,\n", "e-mail"),
        ("FICTIF — A,Mairie,astreinte élus,01 99 00 01 11,,demain\n", "astreinte"),
        ("FICTIF — A,Mairie,,01 99 00 01 11,,\n", "Fonction"),
    ],
)
def test_import_refusals(db, tmp_path, body, expected):
    path = tmp_path / "a.csv"
    path.write_text(body if body.startswith("x,y") else HEADER + body, "utf-8")
    with pytest.raises(contacts.ContactImportError) as err:
        contacts.import_csv(db, T0, path, actor="test")
    assert expected in err.value.message
    assert count(db) == 0


def test_cli_import_exit_codes(runner, tmp_path):
    good = write(tmp_path, "FICTIF — A,Mairie,astreinte élus,01 99 00 01 11,,\n", "bon.csv")
    out = runner("contacts", "import", str(good))
    assert out.exit_code == 0 and "1 contact ajouté" in out.output
    bad = write(tmp_path, "FICTIF — B,Mairie,astreinte élus,99,,\n", "mauvais.csv")
    out = runner("contacts", "import", str(bad))
    assert out.exit_code == 2
    assert "mauvais.csv : ligne 2" in out.output and "rien n'a été écrit" in out.output
    assert runner("contacts", "import", str(tmp_path / "absent.csv")).exit_code == 2


def test_numbers_only_for_the_roles_that_call_and_each_read_audited(db, tmp_path):
    contacts.import_csv(
        db,
        T0,
        write(tmp_path, "FICTIF — A,Mairie,astreinte élus,01 99 00 01 11,a@x.example,\n"),
        actor="test",
    )
    cell = auth.get_user_by_login(db, "cell")
    liaison = auth.get_user_by_login(db, "liaison")
    seen = contacts.directory(db, T0, cell, purpose="directory", request_id="r1")
    assert seen[0].phones == ("+33199000111",) and seen[0].to_json()["phones"]
    hidden = contacts.directory(db, T0, liaison, purpose="directory", request_id="r2")
    assert hidden[0].phones == () and hidden[0].email == "" and "phones" not in hidden[0].to_json()
    reads = [
        json.loads(r[0])
        for r in db.execute("SELECT details FROM audit_log WHERE action = 'contact.read'")
    ]
    assert [r["request_id"] for r in reads] == ["r1"]


def test_callout_board_follows_the_playbook_functions(territory_app):
    db = connect(territory_app.config["CRISIS_DB"])
    from app import events

    playbook = territory_app.extensions["library"].playbook("toxic-release")
    director = auth.get_user_by_login(db, "director")
    event = events.declare(
        db,
        T0,
        playbook,
        actor=director,
        title="Essai",
        site="FICTIF-1",
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
    )
    groups = callouts.board(db, T0, event, playbook, director, request_id="r")
    assert [g.function for g in groups] == list(playbook.callout)
    elus = groups[0].lines
    assert elus and elus[0].contact.on_call(T0)  # on call first
    target = elus[0].contact
    callouts.set_status(db, T0, event.id, target.id, "joint", actor=director, note="Arrive")
    callouts.set_status(db, T0, event.id, target.id, "en_route", actor=director)
    last = events.log_entries(db, event.id)[-1]
    assert target.name in last.text and "en route" in last.text
    assert callouts.counts(db, event, playbook)["en_route"] == 1
    with pytest.raises(PcsError):
        callouts.set_status(db, T0, event.id, target.id, "parti", actor=director)
    db.conn.close()
