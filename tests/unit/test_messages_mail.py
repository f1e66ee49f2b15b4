"""Sending validated messages to partners through a real SMTP server (aiosmtpd, in process):
what arrives, byte for byte; drills; no relay; an unreachable relay, its failure and its retry."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from app import audit, events, scheduler
from app import messages as msgs
from app.clock import FixedClock
from app.db import connect, rows
from app.messages import mail
from tests.messages_support import declare_toxic, free_port, playbooks, smtp_server, user

TOXIC = "toxic-release"


@pytest.fixture
def tdb(territory_app: Flask) -> Iterator[Any]:
    database = connect(territory_app.config["CRISIS_DB"])
    yield database
    database.conn.close()


@pytest.fixture
def tclock(territory_app: Flask) -> FixedClock:
    return territory_app.config["CLOCK"]


def relay(port: int, **kw: Any) -> msgs.SmtpRelay:
    settings = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_FROM": "crise@example.org",
                "SMTP_STARTTLS": "0", **kw}  # fmt: skip
    found = msgs.SmtpRelay.from_settings(settings)
    assert found is not None
    return found


def partners(db: Any, now: Any) -> None:
    director = user(db, "director")
    msgs.add_partner(db, now, organisation="Préfecture de la Seine-Maritime — COD", role="COD",
                     email="cod@example.org", actor=director)  # fmt: skip
    msgs.add_partner(db, now, organisation="SDIS 76", role="CTA-CODIS", email="codis@example.org",
                     kinds=["cap", "emsi"], actor=director)  # fmt: skip
    msgs.add_partner(db, now, organisation="COD (exercices)", role="COD",
                     email="cod-exercice@example.org", drill_only=True, actor=director)  # fmt: skip


def validated(db: Any, clock: FixedClock, event_id: int, kind: str, template: str) -> Any:
    m = msgs.draft(db, clock.now(), event_id, playbooks()[TOXIC], kind=kind, template=template,
                   actor=user(db, "cell"))  # fmt: skip
    return msgs.validate(db, clock.now(), m.id, playbooks()[TOXIC], actor=user(db, "director"))


def test_a_validated_situation_report_arrives_with_its_pdf_byte_for_byte(tdb, tclock):
    partners(tdb, tclock.now())
    event = declare_toxic(tdb, tclock.now())
    m = validated(tdb, tclock, event.id, "report", "point-de-situation")
    meta, pdf = msgs.content(tdb, m.id)
    with smtp_server() as (inbox, port):
        result = msgs.send(tdb, tclock.now(), m.id, actor=user(tdb, "cell"), relay=relay(port))
    assert [d.result for d in result.deliveries] == ["sent"]  # SDIS gets no reports
    assert result.skipped == () and result.failed == ()
    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == ["cod@example.org"] and envelope.mail_from == "crise@example.org"
    (mail_,) = inbox.mails()
    assert mail_["Subject"] == "Point de situation n°1 — Fuite d'ammoniac"
    assert mail_["Message-ID"] == result.deliveries[0].mail_id
    assert mail_["X-Crisis-Message"] == str(m.id)
    (attachment,) = list(mail_.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "PS01-evenement-1.pdf"
    assert attachment.get_content() == pdf  # the exact stored bytes
    body = mail_.get_body(("plain",)).get_content()
    assert meta.sha256 in body and "Port-Jérôme-sur-Seine" in body
    log = [e.text for e in events.log_entries(tdb, event.id, category="message émis")]
    assert len(log) == 2 and "remis au relais pour 1 destinataire :" in log[1]
    sent = rows(tdb, "SELECT details FROM audit_log WHERE action = 'message.delivery_sent'")
    assert json.loads(sent[0]["details"])["email"] == "cod@example.org"
    assert audit.verify(tdb).ok, audit.verify(tdb).content_problems


def test_cap_and_emsi_arrive_as_their_exact_xml(tdb, tclock):
    partners(tdb, tclock.now())
    event = declare_toxic(tdb, tclock.now())
    alert = validated(tdb, tclock, event.id, "cap", "mise-a-l-abri")
    with smtp_server() as (inbox, port):
        result = msgs.send(tdb, tclock.now(), alert.id, actor=user(tdb, "cell"),
                           relay=relay(port))  # fmt: skip
        m = validated(tdb, tclock, event.id, "emsi", "mise-a-l-abri")
        msgs.send(tdb, tclock.now(), m.id, actor=user(tdb, "cell"), relay=relay(port))
    assert sorted(d.email for d in result.sent) == ["cod@example.org", "codis@example.org"]
    got = {(e.rcpt_tos[0], a.get_content_type()): a.get_content()
           for e, mail_ in zip(inbox.envelopes, inbox.mails(), strict=True)
           for a in mail_.iter_attachments()}  # fmt: skip
    assert got[("codis@example.org", "application/cap+xml")] == msgs.content(tdb, alert.id)[1]
    assert got[("codis@example.org", "application/xml")] == msgs.content(tdb, m.id)[1]
    assert len(got) == 4


def test_drill_messages_go_only_to_drill_recipients_marked_exercice(tdb, tclock):
    partners(tdb, tclock.now())
    drill = declare_toxic(tdb, tclock.now(), drill=True, title="Fuite simulée")
    m = validated(tdb, tclock, drill.id, "emsi", "evacuation")
    with smtp_server() as (inbox, port):
        msgs.send(tdb, tclock.now(), m.id, actor=user(tdb, "cell"), relay=relay(port))
    assert [e.rcpt_tos for e in inbox.envelopes] == [["cod-exercice@example.org"]]
    (mail_,) = inbox.mails()
    assert mail_["Subject"].startswith("EXERCICE — ")
    assert mail_.get_body(("plain",)).get_content().startswith("EXERCICE — EXERCICE")
    (attachment,) = list(mail_.iter_attachments())
    assert attachment.get_filename().startswith("EXERCICE-")
    assert b"<MODE>EXERCS</MODE>" in attachment.get_content()


def test_without_a_relay_the_send_succeeds_and_lists_the_deliveries_skipped(tdb, tclock):
    partners(tdb, tclock.now())
    event = declare_toxic(tdb, tclock.now())
    m = validated(tdb, tclock, event.id, "cap", "mise-a-l-abri")
    result = msgs.send(tdb, tclock.now(), m.id, actor=user(tdb, "cell"), relay=None)
    assert result.message.status == "émis"
    assert [d.result for d in result.skipped] == ["skipped", "skipped"]
    assert result.to_dict()["skipped"][0]["email"] in ("cod@example.org", "codis@example.org")
    log = events.log_entries(tdb, event.id, category="message émis")
    assert "relais SMTP non configuré" in log[-1].text
    tclock.advance(hours=1)
    assert msgs.retry_due(tdb, tclock.now(), None) == {}  # nothing is ever sent late
    assert msgs.SmtpRelay.from_settings({"SMTP_HOST": ""}) is None
    with pytest.raises(ValueError, match="CRISIS_SMTP_FROM"):
        msgs.SmtpRelay.from_settings({"CRISIS_SMTP_HOST": "relay.example.org"})


def test_an_unreachable_relay_fails_visibly_and_the_sweep_delivers_later(tdb, tclock):
    partners(tdb, tclock.now())
    event = declare_toxic(tdb, tclock.now())
    m = validated(tdb, tclock, event.id, "cap", "mise-a-l-abri")
    port = free_port()  # nothing listens there yet
    result = msgs.send(tdb, tclock.now(), m.id, actor=user(tdb, "cell"), relay=relay(port))
    assert result.message.status == "émis"
    assert [d.result for d in result.failed] == ["failed", "failed"]
    first = result.failed[0]
    assert "relais injoignable" in first.error and first.attempts == 1
    assert first.next_attempt_at == "2026-11-23T13:01:00Z"  # one minute later
    log = events.log_entries(tdb, event.id, category="message émis")
    assert "échec pour 2" in log[-1].text and "nouvel essai à 14:01" in log[-1].text
    settings = scheduler.Settings(smtp=relay(port))
    # not due yet: the sweep does nothing (and running it twice changes nothing)
    for _ in range(2):
        done = scheduler.run_sweeps(tdb, tclock.now(), settings)
        assert done.ok and done.results["message_deliveries"] == {}
    tclock.advance(minutes=1)
    with smtp_server(port) as (inbox, _):
        done = scheduler.run_sweeps(tdb, tclock.now(), settings)
        again = scheduler.run_sweeps(tdb, tclock.now(), settings)
    assert done.ok and [d.result for d in done.results["message_deliveries"][m.id]] == [
        "sent",
        "sent",
    ]
    assert again.results["message_deliveries"] == {}
    assert sorted(e.rcpt_tos[0] for e in inbox.envelopes) == [
        "cod@example.org",
        "codis@example.org",
    ]
    attachment = next(inbox.mails()[0].iter_attachments())
    assert attachment.get_content() == msgs.content(tdb, m.id)[1]
    states = msgs.deliveries(tdb, m.id)
    assert [(d.result, d.attempts) for d in states] == [("sent", 2), ("sent", 2)]
    assert inbox.mails()[0]["Message-ID"] == states[0].mail_id  # the same id at every attempt
    actions = [r["action"] for r in rows(tdb, "SELECT action FROM audit_log")]
    assert actions.count("message.delivery_failed") == 2
    assert actions.count("message.delivery_sent") == 2
    assert audit.verify(tdb).ok, audit.verify(tdb).content_problems


def test_retries_back_off_then_give_up_in_the_main_courante(tdb, tclock):
    partners(tdb, tclock.now())
    event = declare_toxic(tdb, tclock.now())
    m = validated(tdb, tclock, event.id, "report", "point-de-situation")
    dead = relay(free_port())
    msgs.send(tdb, tclock.now(), m.id, actor=user(tdb, "cell"), relay=dead)
    delays = []
    for _ in range(mail.MAX_ATTEMPTS - 1):
        (d,) = msgs.deliveries(tdb, m.id)
        assert d.result == "failed"
        when = mail.parse_iso(d.next_attempt_at)
        delays.append(int((when - tclock.now()).total_seconds() // 60))
        tclock.set(when)
        msgs.retry_due(tdb, tclock.now(), dead)
    assert delays[:7] == [1, 2, 5, 10, 20, 30, 30]
    (d,) = msgs.deliveries(tdb, m.id)
    assert (d.result, d.attempts, d.next_attempt_at) == ("abandoned", mail.MAX_ATTEMPTS, None)
    assert "abandon après 20 essais" in events.log_entries(tdb, event.id)[-1].text
    tclock.advance(hours=1)
    assert msgs.retry_due(tdb, tclock.now(), dead) == {}
    with pytest.raises(msgs.MessageError, match="Aucun envoi en échec"):
        msgs.retry_now(tdb, tclock.now(), m.id, dead)


def test_login_with_a_password_file_and_a_manual_retry(tdb, tclock, tmp_path):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"console",
            b"s3cret-relay",
        )
        return AuthResult(success=ok)

    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret-relay\n")
    partners(tdb, tclock.now())
    event = declare_toxic(tdb, tclock.now())
    m = validated(tdb, tclock, event.id, "cap", "mise-a-l-abri")
    port = free_port()
    with_auth = relay(port, SMTP_USER="console", SMTP_PASSWORD_FILE=str(secret))
    assert with_auth.password == "s3cret-relay"
    failed = msgs.send(tdb, tclock.now(), m.id, actor=user(tdb, "cell"), relay=with_auth)
    assert len(failed.failed) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # aiosmtpd warns about AUTH without TLS: a test server
        with smtp_server(port, authenticator=authenticator, auth_require_tls=False) as (inbox, _):
            done = msgs.retry_now(tdb, tclock.now(), m.id, with_auth, actor="cell")
    assert [d.result for d in done] == ["sent", "sent"] and len(inbox.envelopes) == 2
    assert [d.attempts for d in done] == [2, 2]
    with pytest.raises(ValueError, match="PASSWORD_FILE"):
        relay(port, SMTP_PASSWORD_FILE=str(tmp_path / "missing"))


def test_the_scheduler_runs_the_delivery_sweep():
    assert ("message_deliveries", scheduler.retry_message_deliveries) in scheduler.SWEEPS
    assert timedelta(minutes=mail.BACKOFF_MIN[0]) > timedelta(0)
