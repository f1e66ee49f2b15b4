"""Messages as first-class objects: brouillon → validé → émis | annulé, who may do what, the exact
bytes frozen, the main courante and the audit chain; the cell-broadcast counter."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app import audit, events
from app import messages as msgs
from app.clock import FixedClock
from app.db import connect, row, rows
from app.messages import cbs, templates
from tests.messages_support import declare_toxic, playbooks, user

TOXIC = "toxic-release"


@pytest.fixture
def tdb(territory_app: Flask) -> Iterator[Any]:
    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


@pytest.fixture
def tclock(territory_app: Flask) -> FixedClock:
    return territory_app.config["CLOCK"]


def new_draft(db: Any, clock: FixedClock, event_id: int, kind: str = "cap", **kw: Any):
    kw.setdefault("template", "mise-a-l-abri")
    kw.setdefault("actor", user(db, "cell"))
    return msgs.draft(db, clock.now(), event_id, playbooks()[TOXIC], kind=kind, **kw)


def test_draft_is_filled_from_the_event(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    m = new_draft(tdb, tclock, event.id)
    assert m.status == "brouillon" and m.kind == "cap" and m.template == "mise-a-l-abri"
    assert m.author_name == user(tdb, "cell").name and m.content is None
    text = m.fields["description"]
    assert "Fuite d'ammoniac" in text and "14:00" in text  # the event, its time (Paris)
    assert "Port-Jérôme-sur-Seine (76476)" in text  # communes with their INSEE codes
    assert "Zone des effets irréversibles" in text and "ammoniac" in text.lower()
    assert "Fermez portes et fenêtres" in m.fields["instruction"]
    assert "Port-Jérôme-sur-Seine" in m.fields["cbs"]
    assert not any(
        templates.unknown_placeholders(v) for v in m.fields.values() if isinstance(v, str)
    )
    assert m.fields["cap"] == {
        "response": ["Shelter"],
        "urgency": "Immediate",
        "certainty": "Observed",
    }
    assert m.subject == m.fields["headline"]
    recorded = row(tdb, "SELECT * FROM audit_log WHERE action = 'message.drafted'")
    assert recorded["object_id"] == str(m.id) and recorded["actor"] == "cell"


@pytest.mark.parametrize("template", templates.TEMPLATE_IDS)
@pytest.mark.parametrize("playbook_id", sorted(playbooks()))
def test_every_playbook_has_every_template_fitting_cell_broadcast(template, playbook_id):
    """The texts live in the playbooks; filled with long values they still fit FR-Alert."""
    playbook = playbooks()[playbook_id]
    t = templates.text_for(template, playbook.messages)
    values = {name: "x" * 12 for name in templates.PLACEHOLDERS}
    values["communes"] = ", ".join(["Port-Jérôme-sur-Seine"] * 8)
    fields = templates.fill(template, playbook.messages, values)
    assert all(fields.values()) and t.response
    assert cbs.count(fields["cbs"]).fits, (playbook_id, template, cbs.count(fields["cbs"]))
    if template == "levee":
        assert t.response == ("AllClear",) and t.urgency == "Past"


def test_a_playbook_no_longer_loaded_has_no_template():
    with pytest.raises(msgs.MessageError) as caught:
        templates.text_for("levee", {})
    assert caught.value.status == 409


def test_bad_kinds_templates_and_placeholders_are_refused(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    with pytest.raises(msgs.MessageError, match="Type de message inconnu"):
        new_draft(tdb, tclock, event.id, kind="sms")
    with pytest.raises(msgs.MessageError, match="Modèle inconnu"):
        new_draft(tdb, tclock, event.id, template="confinement")
    with pytest.raises(msgs.MessageError) as no_alert:
        new_draft(tdb, tclock, event.id, template="levee")
    assert no_alert.value.status == 409
    with pytest.raises(msgs.MessageError) as liaison:
        new_draft(tdb, tclock, event.id, actor=user(tdb, "liaison"))
    assert liaison.value.status == 403
    assert templates.unknown_placeholders("{lieu} {commune}") == ["commune"]
    with pytest.raises(msgs.MessageError, match="commune"):
        templates.render("{commune}", {})


def test_only_another_director_validates(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    by_cell = new_draft(tdb, tclock, event.id)
    for login in ("cell", "liaison"):
        with pytest.raises(msgs.MessageError) as refused:
            msgs.validate(tdb, tclock.now(), by_cell.id, actor=user(tdb, login))
        assert refused.value.status == 403
    by_director = new_draft(tdb, tclock, event.id, actor=user(tdb, "director"))
    with pytest.raises(msgs.MessageError, match="un autre directeur") as own:
        msgs.validate(tdb, tclock.now(), by_director.id, actor=user(tdb, "director"))
    assert own.value.status == 403
    # whoever edited the draft may not validate it either
    msgs.edit(tdb, tclock.now(), by_cell.id, {"headline": "Confinez-vous"},
              actor=user(tdb, "director2"))  # fmt: skip
    with pytest.raises(msgs.MessageError, match="un autre directeur"):
        msgs.validate(tdb, tclock.now(), by_cell.id, actor=user(tdb, "director2"))
    done = msgs.validate(tdb, tclock.now(), by_cell.id, actor=user(tdb, "director"))
    assert done.status == "validé" and done.validated_by_name == user(tdb, "director").name
    assert done.fields["headline"] == "Confinez-vous"


def test_validation_freezes_the_exact_bytes_and_the_recipients(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    director = user(tdb, "director")
    cod = msgs.add_partner(tdb, tclock.now(), organisation="Préfecture — COD", role="COD",
                           email="cod@example.org", kinds=["cap"], actor=director)  # fmt: skip
    m = new_draft(tdb, tclock, event.id)
    assert m.recipient_ids == (cod.id,)
    media, name, preview = msgs.preview(tdb, tclock.now(), m.id, playbooks()[TOXIC])
    assert media == "application/cap+xml" and name.endswith(".xml") and b"<alert" in preview
    tclock.advance(minutes=1)
    m = msgs.validate(tdb, tclock.now(), m.id, playbooks()[TOXIC], actor=user(tdb, "director2"))
    meta, body = msgs.content(tdb, m.id)
    assert meta.sha256 == hashlib.sha256(body).hexdigest() and meta.size == len(body)
    assert [r.email for r in meta.recipients] == ["cod@example.org"]
    # the directory may change: the validated message keeps who it was validated for
    msgs.update_partner(tdb, tclock.now(), cod.id, {"email": "cod2@example.org"}, actor=director)
    assert [r.email for r in msgs.get_message(tdb, m.id).content.recipients] == ["cod@example.org"]
    assert msgs.preview(tdb, tclock.now(), m.id)[2] == body
    with pytest.raises(msgs.MessageError) as frozen:
        msgs.edit(tdb, tclock.now(), m.id, {"headline": "autre"}, actor=user(tdb, "cell"))
    assert frozen.value.status == 409
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        tdb.execute("UPDATE message_contents SET body = x'00' WHERE message_id = ?", [m.id])
    with pytest.raises(sqlite3.DatabaseError, match="cannot be edited"):
        tdb.execute("UPDATE messages SET fields = '{}' WHERE id = ?", [m.id])
    with pytest.raises(msgs.MessageError) as twice:
        msgs.validate(tdb, tclock.now(), m.id, actor=user(tdb, "director"))
    assert twice.value.status == 409


def test_emission_writes_the_main_courante_and_the_hash_in_the_audit_chain(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    m = new_draft(tdb, tclock, event.id, kind="emsi")
    m = msgs.validate(tdb, tclock.now(), m.id, playbooks()[TOXIC], actor=user(tdb, "director"))
    with pytest.raises(msgs.MessageError) as liaison:
        msgs.send(tdb, tclock.now(), m.id, actor=user(tdb, "liaison"))
    assert liaison.value.status == 403
    tclock.advance(minutes=2)
    result = msgs.send(tdb, tclock.now(), m.id, actor=user(tdb, "cell"))
    assert result.message.status == "émis" and result.message.emitted_at == "2026-11-23T13:02:00Z"
    assert result.deliveries == ()  # no partner in the directory
    digest = msgs.content(tdb, m.id)[0].sha256
    entries = events.log_entries(tdb, event.id, category="message émis")
    assert len(entries) == 1 and digest in entries[0].text and "EMSI (ALERT)" in entries[0].text
    record = row(tdb, "SELECT * FROM audit_log WHERE action = 'message.emitted'")
    details = json.loads(record["details"])
    assert details["sha256"] == digest and details["log_entry"] == entries[0].id
    assert record["at"] == entries[0].recorded_at  # one transaction, one time
    assert audit.verify(tdb).ok
    with pytest.raises(msgs.MessageError) as again:
        msgs.send(tdb, tclock.now(), m.id, actor=user(tdb, "cell"))
    assert again.value.status == 409
    with pytest.raises(msgs.MessageError, match="levée") as final:
        msgs.cancel(tdb, tclock.now(), m.id, actor=user(tdb, "director"))
    assert final.value.status == 409
    with pytest.raises(sqlite3.DatabaseError, match="final"):
        tdb.execute("UPDATE messages SET status = 'annulé' WHERE id = ?", [m.id])


def test_cancelling_drafts_and_validated_messages(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    m = new_draft(tdb, tclock, event.id)
    with pytest.raises(msgs.MessageError) as stranger:
        msgs.cancel(tdb, tclock.now(), m.id, actor=user(tdb, "liaison"))
    assert stranger.value.status == 403
    gone = msgs.cancel(tdb, tclock.now(), m.id, actor=user(tdb, "cell"), reason="doublon")
    assert gone.status == "annulé" and gone.cancel_reason == "doublon"
    with pytest.raises(msgs.MessageError):
        msgs.validate(tdb, tclock.now(), m.id, actor=user(tdb, "director"))
    v = new_draft(tdb, tclock, event.id)
    v = msgs.validate(tdb, tclock.now(), v.id, playbooks()[TOXIC], actor=user(tdb, "director"))
    assert msgs.cancel(tdb, tclock.now(), v.id, actor=user(tdb, "director2")).status == "annulé"
    assert [x.status for x in msgs.list_messages(tdb, event.id)] == ["annulé", "annulé"]


def test_a_validated_alert_overtaken_by_another_must_be_redone(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    director = user(tdb, "director")
    first = new_draft(tdb, tclock, event.id)
    second = new_draft(tdb, tclock, event.id)
    first = msgs.validate(tdb, tclock.now(), first.id, playbooks()[TOXIC], actor=director)
    second = msgs.validate(tdb, tclock.now(), second.id, playbooks()[TOXIC], actor=director)
    assert first.msg_type == second.msg_type == "Alert"
    msgs.send(tdb, tclock.now(), first.id, actor=director)
    with pytest.raises(msgs.MessageError, match="annulez-le") as stale:
        msgs.send(tdb, tclock.now(), second.id, actor=director)
    assert stale.value.status == 409
    assert msgs.get_message(tdb, second.id).status == "validé"  # nothing half-done


def test_a_report_message_attaches_the_stored_situation_report(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    m = new_draft(tdb, tclock, event.id, kind="report", template="point-de-situation")
    report = row(tdb, "SELECT id, number, sha256 FROM reports WHERE event_id = ?", [event.id])
    assert m.report_id == report["id"]  # none existed: generated for the message
    assert m.subject == "Point de situation n°1 — Fuite d'ammoniac"
    m = msgs.validate(tdb, tclock.now(), m.id, playbooks()[TOXIC], actor=user(tdb, "director"))
    meta, body = msgs.content(tdb, m.id)
    assert meta.media_type == "application/pdf" and meta.sha256 == report["sha256"]
    assert body.startswith(b"%PDF") and meta.filename == "PS01-evenement-1.pdf"
    assert meta.msg_type is None


def test_a_closed_event_still_takes_its_levee(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    director, cell = user(tdb, "director"), user(tdb, "cell")
    alert = new_draft(tdb, tclock, event.id)
    alert = msgs.validate(tdb, tclock.now(), alert.id, playbooks()[TOXIC], actor=director)
    pending = new_draft(tdb, tclock, event.id, template="evacuation")
    msgs.send(tdb, tclock.now(), alert.id, actor=cell)
    events.close(tdb, tclock.now(), event.id, "Fin", actor=director)
    with pytest.raises(msgs.MessageError, match="clos"):
        msgs.validate(tdb, tclock.now(), pending.id, playbooks()[TOXIC], actor=director)
    levee = new_draft(tdb, tclock, event.id, template="levee")
    levee = msgs.validate(tdb, tclock.now(), levee.id, playbooks()[TOXIC], actor=director)
    sent = msgs.send(tdb, tclock.now(), levee.id, actor=cell).message
    assert sent.msg_type == "Cancel" and sent.references == alert.references + (
        f"crisis-console@caux-seine.example,{alert.content.identifier},{alert.content.sent}",
    )
    texts = [e.text for e in events.log_entries(tdb, event.id, category="message émis")]
    assert len(texts) == 2 and "(Cancel)" in texts[-1]


def test_recipients_follow_the_directory_and_the_drill_rule(tdb, tclock):
    director = user(tdb, "director")
    real_cod = msgs.add_partner(tdb, tclock.now(), organisation="COD", role="COD",
                                email="cod@example.org", actor=director)  # fmt: skip
    drill_cod = msgs.add_partner(tdb, tclock.now(), organisation="COD (exercices)", role="COD",
                                 email="cod-exercice@example.org", drill_only=True,
                                 actor=director)  # fmt: skip
    samu = msgs.add_partner(tdb, tclock.now(), organisation="SAMU 76", role="régulation",
                            email="samu@example.org", kinds=["emsi"], actor=director)  # fmt: skip
    real = declare_toxic(tdb, tclock.now())
    drill = declare_toxic(tdb, tclock.now(), drill=True, title="Exercice")
    assert new_draft(tdb, tclock, real.id).recipient_ids == (real_cod.id,)
    assert new_draft(tdb, tclock, real.id, kind="emsi").recipient_ids == (real_cod.id, samu.id)
    assert new_draft(tdb, tclock, drill.id).recipient_ids == (drill_cod.id,)
    with pytest.raises(msgs.MessageError, match="exercice"):
        new_draft(tdb, tclock, drill.id, recipients=[real_cod.id])
    with pytest.raises(msgs.MessageError, match="réservé aux exercices"):
        new_draft(tdb, tclock, real.id, recipients=[drill_cod.id])
    with pytest.raises(msgs.MessageError, match="ne reçoit pas"):
        new_draft(tdb, tclock, real.id, recipients=[samu.id])
    msgs.update_partner(tdb, tclock.now(), real_cod.id, {"active": False}, actor=director)
    assert new_draft(tdb, tclock, real.id).recipient_ids == ()


def test_partner_directory_checks_its_input_and_is_audited(tdb, tclock):
    director = user(tdb, "director")
    for bad in ("cod", "a@b", "x y@example.org", "a@example.org\r\nBcc: b@example.org"):
        with pytest.raises(msgs.MessageError, match="Adresse"):
            msgs.add_partner(tdb, tclock.now(), organisation="X", role="Y", email=bad,
                             actor=director)  # fmt: skip
    with pytest.raises(msgs.MessageError, match="Types de messages"):
        msgs.add_partner(tdb, tclock.now(), organisation="X", role="Y", email="x@example.org",
                         kinds=["sms"], actor=director)  # fmt: skip
    with pytest.raises(msgs.MessageError) as cell:
        msgs.add_partner(tdb, tclock.now(), organisation="X", role="Y", email="x@example.org",
                         actor=user(tdb, "cell"))  # fmt: skip
    assert cell.value.status == 403
    p = msgs.add_partner(tdb, tclock.now(), organisation="SDIS 76", role="CTA-CODIS",
                         email="codis@example.org", kinds=["cap", "emsi"],
                         actor=user(tdb, "admin"))  # fmt: skip
    with pytest.raises(msgs.MessageError) as dup:
        msgs.add_partner(tdb, tclock.now(), organisation="SDIS", role="Z",
                         email="codis@example.org", actor=director)  # fmt: skip
    assert dup.value.status == 409
    assert [x.email for x in msgs.list_partners(tdb)] == ["codis@example.org"]
    actions = [r["action"] for r in rows(tdb, "SELECT action FROM audit_log")]
    assert actions.count("partner.added") == 1
    assert p.to_dict()["kinds"] == ["cap", "emsi"]


def test_cell_broadcast_counts_gsm_pages_extension_and_ucs2():
    assert cbs.count("a" * 93).pages == 1
    assert cbs.count("a" * 94).pages == 2
    assert cbs.count("a" * 93 * 15).fits and not cbs.count("a" * (93 * 15 + 1)).fits
    euro = cbs.count("a" * 92 + "€")  # € takes two septets and is not split across pages
    assert (euro.encoding, euro.units, euro.pages) == ("gsm7", 94, 2)
    accents = cbs.count("Évacuez à pied, éloignez-vous : ça déborde")
    assert accents.encoding == "ucs2" and accents.invalid == ("ç",)
    assert cbs.count("été où à É Ç").encoding == "gsm7"  # these are in GSM 03.38
    ucs = cbs.count("ê" * 41)
    assert (ucs.encoding, ucs.page_size, ucs.pages) == ("ucs2", 40, 2)
    assert cbs.count("⚠" + "a" * 39).pages == 1 and cbs.count("🚨" + "a" * 39).units == 41
    assert cbs.count("").pages == 0 and not cbs.count("").fits
    folded = cbs.to_gsm("Fenêtres fermées, « arrêtez » la ventilation… ça va")
    assert cbs.count(folded).encoding == "gsm7" and folded.startswith("Fenetres")
    assert " sur 15" in accents.message() and "'ç'" in accents.message()


def test_an_overlong_cell_broadcast_text_is_not_validated(tdb, tclock):
    event = declare_toxic(tdb, tclock.now())
    m = new_draft(tdb, tclock, event.id)
    msgs.edit(tdb, tclock.now(), m.id, {"cbs": "ê" * 601}, actor=user(tdb, "cell"))
    with pytest.raises(msgs.MessageError, match="16 page") as long:
        msgs.validate(tdb, tclock.now(), m.id, playbooks()[TOXIC], actor=user(tdb, "director"))
    assert long.value.field == "cbs"
    with pytest.raises(msgs.MessageError, match="une seule ligne"):
        msgs.edit(tdb, tclock.now(), m.id, {"subject": "a\r\nBcc: x"}, actor=user(tdb, "cell"))
    with pytest.raises(msgs.MessageError, match="non modifiable"):
        msgs.edit(tdb, tclock.now(), m.id, {"status": "émis"}, actor=user(tdb, "cell"))
