"""The owner's side (issue 20): the readable review, verdicts and answers in the audit chain,
reminders sent once, agreements with a review date and their diff."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest

from app import access, audit, auth, scheduler
from app.access import readable
from app.cli import main
from app.clock import iso
from app.db import connect, row, rows, scalar, transaction
from tests.conftest import T0
from tests.unit.test_access_support import (
    JUSTIFICATION,
    build_world,
    close_event,
    sign_gas,
    sign_vp,
    user,
)


@pytest.fixture
def world(db: Any) -> Any:
    found = build_world(db, T0)
    sign_gas(db, T0)
    return found


def grdf(db: Any) -> dict[str, Any]:
    found = row(db, "SELECT * FROM organisations WHERE slug = 'grdf'")
    assert found is not None
    return found


def gas_grant(db: Any, event_id: int, login: str = "liaison", now: Any = T0) -> access.Grant:
    return access.request_grant(
        db, now, user(db, login), event_id, "gas-network", reason_code="intervention_reseau",
        justification=JUSTIFICATION, duration_min=60,
    )  # fmt: skip


def doc_for(db: Any, event_id: int, now: Any = T0) -> access.ReadableReview:
    return access.readable_review(db, now, access.owner_review(db, now, grdf(db)["id"], event_id))


def test_the_review_reads_like_a_letter(db: Any, world: Any) -> None:
    g = gas_grant(db, world.event_id)
    liaison = user(db, "liaison")
    for purpose in ("view", "view", "map"):
        access.read_features(db, T0, liaison, world.event_id, "gas-network", purpose, "rq")
    close_event(db, T0 + timedelta(minutes=20), world.event_id)
    doc = doc_for(db, world.event_id, T0 + timedelta(hours=1))
    assert [x.grant.id for x in doc.grants] == [g.id]
    item = doc.grants[0]
    assert item.holder.name == "Sophie Bernard (démo)"
    assert item.holder.function == "Officier de liaison préfecture"
    assert item.state == "révoqué à la clôture de l'événement"
    assert item.minutes_open == 20 and item.time_open == "20 min"
    assert item.approval.startswith("sans approbation préalable")
    assert item.feature_ids == sorted(world.gas_inside)
    usage = {(u["usage"], u["reads"], u["features"]) for u in item.usage}
    assert usage == {("consultation de la liste", 2, 3), ("carte", 1, 3)}
    s = doc.summary
    assert (s["grants"], s["people"], s["reads"], s["features_seen"]) == (1, 1, 3, 3)
    assert s["outside_zone_reads"] == 0 and s["minutes_open"] == 20
    lines = dict(access.summary_lines(doc))
    assert lines["Lectures"] == "3 lectures enregistrées."
    assert lines["Hors zone"].startswith("0 lecture hors de la zone")
    # The JSON's read count is the number of access records of the owner's datasets.
    records = scalar(
        db,
        "SELECT count(*) FROM audit_log WHERE action = 'data.read' AND event_id = ?"
        " AND json_extract(details, '$.dataset') IN"
        " (SELECT slug FROM datasets WHERE owner_org_id = ?)",
        [world.event_id, grdf(db)["id"]],
    )
    assert doc.to_json()["summary"]["reads"] == records == 3
    # The hash is over the canonical content: recomputed from the JSON alone.
    as_json = json.loads(json.dumps(doc.to_json()))
    assert readable.content_hash(as_json) == doc.content_sha256
    as_json["grants"][0]["reads"][0]["count"] = 99
    assert readable.content_hash(as_json) != doc.content_sha256


@pytest.mark.parametrize(
    ("reason", "status", "expected"),
    [
        ("pending_timeout", "expired", "expiré sans décision (personne n'a approuvé à temps)"),
        ("agreement_withdrawn", "revoked", "révoqué : convention retirée par le propriétaire"),
        ("event_closed", "revoked", "révoqué à la clôture de l'événement"),
        ("expired", "expired", "expiré au terme prévu"),
        ("plus nécessaire", "revoked", "révoqué par Claire Morel (démo) : « plus nécessaire »"),
    ],
)
def test_states_say_why_in_words(db: Any, world: Any, reason: str, status: str, expected: str):
    g = gas_grant(db, world.event_id)
    with transaction(db):
        db.execute(
            "UPDATE grants SET status = ?, end_reason = ?, ended_at = ?, ended_by = ? WHERE id = ?",
            [status, reason, iso(T0), user(db, "director").id, g.id],
        )
    text = access.state_text(access.get_grant(db, g.id), T0)
    assert text.startswith(expected)
    assert reason not in ("pending_timeout", "agreement_withdrawn", "event_closed") or (
        reason not in text
    )


def test_verdicts_are_the_owners_and_a_contest_names_what_is_at_issue(db: Any, world: Any):
    g = gas_grant(db, world.event_id)
    doc = doc_for(db, world.event_id)
    with pytest.raises(access.AccessDenied):  # another organisation's steward
        access.record_verdict(db, T0, user(db, "steward-ccas"), doc, "conforme", "")
    with pytest.raises(access.AccessDenied):  # a director does not sign for the owner
        access.record_verdict(db, T0, user(db, "director"), doc, "conforme", "")
    with pytest.raises(access.AccessError, match="Verdict attendu"):
        access.record_verdict(db, T0, user(db, "steward"), doc, "bof", "")
    with pytest.raises(access.AccessError, match="désigner au moins un accès"):
        access.record_verdict(
            db, T0, user(db, "steward"), doc, "contestee", "Ceci n'était pas justifié du tout."
        )
    with pytest.raises(access.AccessError, match="pas dans la revue"):
        access.record_verdict(
            db, T0, user(db, "steward"), doc, "contestee", "Lecture non justifiée.", grants=[999]
        )
    before = scalar(db, "SELECT count(*) FROM notifications WHERE kind = 'review_contested'")
    v = access.record_verdict(
        db, T0, user(db, "steward"), doc, "contestee",
        f"L'accès n° {g.id} a servi hors de toute intervention sur le réseau.",
    )  # fmt: skip
    assert v.label == "contestée" and v.waiting and v.content_sha256 == doc.content_sha256
    rec = row(db, "SELECT * FROM audit_log WHERE action = 'review.verdict'")
    details = json.loads(rec["details"])
    assert details["grants"] == [g.id] and details["content_sha256"] == doc.content_sha256
    assert details["seals"][0]["table"] == "review_verdicts"
    # Every director is told; the contest waits on their home page until answered.
    notified = scalar(db, "SELECT count(*) FROM notifications WHERE kind = 'review_contested'")
    assert notified - before == len(access.directors(db)) == 2
    assert [w.id for w in access.contested_waiting(db)] == [v.id]
    with pytest.raises(access.AccessDenied):
        access.answer_verdict(db, T0, user(db, "steward"), v.id, "Je réponds à ma place.")
    with pytest.raises(access.AccessError, match="au moins"):
        access.answer_verdict(db, T0, user(db, "director"), v.id, "Vu.")
    answered = access.answer_verdict(
        db, T0, user(db, "director"), v.id, "Coupure préventive demandée par GRDF à 14 h 10."
    )
    assert answered.answer is not None and not answered.waiting
    assert access.contested_waiting(db) == []
    assert not scalar(
        db, "SELECT count(*) FROM notifications WHERE kind = 'review_contested' AND read_at IS NULL"
    )
    with pytest.raises(access.AccessError) as again:
        access.answer_verdict(db, T0, user(db, "director2"), v.id, "Une deuxième réponse ici.")
    assert again.value.status == 409
    assert scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'review.answered'") == 1
    # The steward signs off later; the latest verdict counts.
    ok = access.record_verdict(db, T0, user(db, "steward"), doc, "conforme", "Vu la réponse.")
    assert access.verdicts_of(db, world.event_id, grdf(db)["id"])[0].id == ok.id


def test_audit_verify_catches_a_changed_verdict_on_a_copy(
    db: Any, world: Any, app: Any, tmp_path: Path, runner: Any
) -> None:
    gas_grant(db, world.event_id)
    doc = doc_for(db, world.event_id)
    v = access.record_verdict(db, T0, user(db, "steward"), doc, "conforme", "Rien à redire.")
    assert audit.verify(db).ok
    copy = tmp_path / "copy.db"
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the copy holds every committed write
    shutil.copy(app.config["CRISIS_DB"], copy)
    tampered = connect(copy)
    try:
        with transaction(tampered):
            tampered.execute("DROP TRIGGER review_verdicts_no_update")
            tampered.execute(
                "UPDATE review_verdicts SET verdict = 'contestee', comment = 'x' WHERE id = ?",
                [v.id],
            )
        result = audit.verify(tampered)
    finally:
        tampered.conn.close()
    seq = scalar(db, "SELECT seq FROM audit_log WHERE action = 'review.verdict'")
    assert not result.ok and result.first_bad_seq == seq
    assert "verdict de la revue GRDF" in result.message() and "modifié" in result.message()
    # The command says it too (exit 1), and the original still verifies.
    out = runner.cli.invoke(main, ["audit", "verify"], env={**runner.env, "CRISIS_DB": str(copy)})
    assert out.exit_code == 1 and "verdict de la revue" in out.output
    assert runner("audit", "verify").exit_code == 0


def test_an_annex_row_is_sealed_too(db: Any) -> None:
    """A sealed row that vanishes is named (the seal reads any table it names)."""
    with transaction(db):
        db.execute("INSERT INTO reminders (kind, ref, sent_at) VALUES ('x', 'y', ?)", [iso(T0)])
        seal = audit.seal(db, "reminders", "y", ("kind", "ref", "sent_at"), "rappel y", key="ref")
        audit.append(db, T0, "test.sealed", details={"seals": [seal]})
    assert audit.verify(db).ok
    with transaction(db):
        db.execute("DELETE FROM reminders WHERE ref = 'y'")
    result = audit.verify(db)
    assert not result.ok and "rappel y : supprimé" in result.message()


def test_overdue_reviews_are_flagged_once(db: Any, world: Any) -> None:
    gas_grant(db, world.event_id)
    close_event(db, T0, world.event_id)
    policy = access.ReminderPolicy(review_delay=timedelta(days=14))
    assert access.remind(db, T0 + timedelta(days=13), policy)["reviews_overdue"] == 0
    later = T0 + timedelta(days=15)
    assert access.remind(db, later, policy)["reviews_overdue"] == 1
    assert access.remind(db, later + timedelta(hours=1), policy)["reviews_overdue"] == 0
    notes = rows(db, "SELECT org_id, user_id FROM notifications WHERE kind = 'review_overdue'")
    assert len([n for n in notes if n["user_id"] is None]) == 1  # the owner's stewards
    assert len([n for n in notes if n["user_id"]]) == 2  # each director
    assert scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'review.overdue'") == 1
    # A signed review is not overdue.
    assert access.overdue(db, later, timedelta(days=14))
    access.record_verdict(db, later, user(db, "steward"), doc_for(db, world.event_id, later),
                          "conforme", "")  # fmt: skip
    assert access.overdue(db, later, timedelta(days=14)) == []


def test_holders_are_warned_and_directors_told_of_requests_once(db: Any, world: Any) -> None:
    g = gas_grant(db, world.event_id)
    policy = access.ReminderPolicy(grant_warning=timedelta(minutes=15))
    assert access.remind(db, T0 + timedelta(minutes=40), policy)["grants_expiring"] == 0
    assert access.remind(db, T0 + timedelta(minutes=46), policy)["grants_expiring"] == 1
    assert access.remind(db, T0 + timedelta(minutes=50), policy)["grants_expiring"] == 0
    note = row(db, "SELECT * FROM notifications WHERE kind = 'grant_expiring'")
    assert note["user_id"] == user(db, "liaison").id and note["grant_id"] == g.id
    assert "se termine à 15:00" in note["text"]  # Paris time
    # A request waiting for a second director reaches every director but the requester.
    sign_vp(db, T0)
    code = pyotp.TOTP(auth.enrol_totp(db, T0, "director")).at(T0)
    director = user(db, "director")
    pending = access.request_grant(
        db, T0, director, world.event_id, "vulnerable-persons", reason_code="evacuation",
        justification=JUSTIFICATION, duration_min=30, totp=code,
    )  # fmt: skip
    assert pending.status == "pending"
    assert access.remind(db, T0 + timedelta(minutes=1), policy)["requests_waiting"] == 1
    assert access.remind(db, T0 + timedelta(minutes=2), policy)["requests_waiting"] == 0
    told = [
        r["user_id"]
        for r in rows(db, "SELECT user_id FROM notifications WHERE kind = 'request_waiting'")
    ]
    assert told == [user(db, "director2").id]
    # A person sees and marks only their own notices.
    mine = access.personal_notifications(db, user(db, "director2"))
    assert [n["kind"] for n in mine] == ["request_waiting"]
    assert not access.mark_personal_read(db, T0, user(db, "director"), mine[0]["id"])
    assert access.mark_personal_read(db, T0, user(db, "director2"), mine[0]["id"])


def test_agreements_carry_a_review_date_and_stop_when_signed_so(db: Any, world: Any) -> None:
    steward = user(db, "steward")
    a = access.list_agreements(db, dataset_slug="gas-network")[0]
    assert a.review_at == iso(T0 + timedelta(days=365))  # a year after it takes effect
    with pytest.raises(access.AccessError, match="date de revue"):
        access.edit_agreement(db, T0, steward, a.id, review_at="2026-01-01")
    with pytest.raises(access.AccessError, match="fin de validité"):
        access.edit_agreement(db, T0, steward, a.id, valid_to="2027-01-01", review_at="2027-06-01")
    b = access.edit_agreement(
        db, T0, steward, a.id, review_at="2026-12-01", on_lapse="stop", max_duration_min=90
    )
    changes = dict((label, (old, new)) for label, old, new in access.diff(a, b))
    assert changes["Durée maximale"] == ("120 min", "90 min")
    assert changes["Date de revue"] == ("23/11/2027", "01/12/2026")
    assert changes["À la date de revue"][1] == "n'ouvre plus de nouvel accès"
    assert "Rôles autorisés" not in changes
    # A month before: one reminder to the owner; past the date, « à renouveler », and no grant.
    policy = access.ReminderPolicy(agreement_notice=timedelta(days=30))
    soon = T0 + timedelta(days=2)
    assert access.remind(db, soon, policy)["agreements"] == 1
    assert access.remind(db, soon, policy)["agreements"] == 0
    assert access.renewal(b, soon, timedelta(days=30)).code == "revue_proche"
    lapsed = T0 + timedelta(days=9)
    assert access.renewal(b, lapsed).code == "a_renouveler"
    assert access.remind(db, lapsed, policy)["agreements"] == 1
    with pytest.raises(access.AccessDenied, match="à renouveler"):
        gas_grant(db, world.event_id, now=lapsed)
    assert scalar(
        db, "SELECT count(*) FROM audit_log WHERE action = 'grant.refused'"
        " AND json_extract(details, '$.why') = 'agreement_lapsed'",
    ) == 1  # fmt: skip
    # Renewing (a new version) moves the review date a year on and opens grants again.
    c = access.edit_agreement(db, lapsed, steward, b.id)
    assert c.review_at == iso(lapsed + timedelta(days=365)) and not c.lapsed(lapsed)
    assert gas_grant(db, world.event_id, now=lapsed).status == "active"
    assert [v.version for v in access.versions(db, a.key)] == [1, 2, 3]


def test_a_lapsed_agreement_signed_to_continue_still_opens(db: Any, world: Any) -> None:
    a = access.list_agreements(db, dataset_slug="gas-network")[0]
    later = T0 + timedelta(days=400)
    assert a.lapsed(later) and a.on_lapse == "continue"
    assert access.renewal(a, later).label.startswith("à renouveler")
    assert gas_grant(db, world.event_id, now=later).status == "active"


def test_the_scheduler_runs_the_reminders(db: Any, world: Any) -> None:
    assert ("owner_reminders", scheduler.owner_reminders) in scheduler.SWEEPS
    gas_grant(db, world.event_id)
    result = scheduler.run_sweeps(db, T0 + timedelta(minutes=50), scheduler.Settings())
    assert result.ok and result.results["owner_reminders"]["grants_expiring"] == 1
