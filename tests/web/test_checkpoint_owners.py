"""Checkpoints that someone else holds (issue 13, item 11).

A tail cut after the last checkpoint, or a log re-chained with the checkpoint files deleted,
cannot be seen from inside the server: the data owners get each signed checkpoint (steward
inbox, e-mail when a relay is configured) and their copy checks the console later.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask

from app import access, audit, auth, messages
from app.db import connect, rows, transaction
from tests.conftest import T0, Runner
from tests.messages_support import smtp_server, user
from tests.unit.test_access_support import JUSTIFICATION, build_world, sign_gas


def cli(app: Flask, tmp_path: Path, db_path: str | None = None, **env: str) -> Runner:
    return Runner(
        {
            "CRISIS_DB": db_path or app.config["CRISIS_DB"],
            "CRISIS_CHECKPOINT_KEY": app.config["CRISIS_CHECKPOINT_KEY"],
            "CRISIS_CHECKPOINT_DIR": app.config["CRISIS_CHECKPOINT_DIR"],
            **env,
        }
    )


def read_gas(app: Flask) -> Any:
    """A liaison opens GRDF's gas network and reads it: records about GRDF's data."""
    db = connect(app.config["CRISIS_DB"])
    w = build_world(db, T0)
    sign_gas(db, T0)
    liaison = user(db, "liaison")
    access.request_grant(
        db, T0, liaison, w.event_id, "gas-network", reason_code="intervention_reseau",
        justification=JUSTIFICATION, duration_min=30,
    )  # fmt: skip
    access.read_features(db, T0, liaison, w.event_id, "gas-network", "view", "req-1")
    db.conn.close()
    return w


def test_a_signed_checkpoint_reaches_the_owners_inbox_and_verifies_the_console(
    app: Flask, tmp_path: Path
) -> None:
    """Guards the delivery: the steward of the owner whose data was read gets the checkpoint
    (inbox, download link, owner review), others do not; the owner's copy passes `audit verify
    --checkpoint`, and catches a log re-chained with the server's checkpoints deleted."""
    read_gas(app)
    run = cli(app, tmp_path)
    signed = run("audit", "checkpoint")
    assert signed.exit_code == 0, signed.output
    assert "Remis à GRDF" in signed.output

    client = app.test_client()
    client.login("steward")
    inbox = client.get("/acces").get_data(as_text=True)
    assert "Point de contrôle signé n°" in inbox and "télécharger le point de contrôle" in inbox
    db = connect(app.config["CRISIS_DB"])
    grdf = auth.get_user_by_login(db, "steward")
    assert grdf is not None
    held = access.held_checkpoint(db, grdf.org_id)
    assert held is not None
    db.conn.close()
    copy = client.get(f"/acces/points-de-controle/{held.id}")
    assert copy.status_code == 200 and copy.headers["Content-Disposition"].startswith("attachment")
    owner_file = tmp_path / "copie-grdf.json"
    owner_file.write_bytes(copy.data)
    review = client.get("/acces/revue").get_data(as_text=True)
    assert f"Point de contrôle détenu par GRDF : n° {held.seq}" in review

    other = app.test_client()
    other.login("steward-ccas")  # the CCAS's data was not read: nothing for them
    assert "Point de contrôle signé" not in other.get("/acces").get_data(as_text=True)
    assert other.get(f"/acces/points-de-controle/{held.id}").status_code == 403

    ok = run("audit", "verify", "--checkpoint", str(owner_file))
    assert ok.exit_code == 0, ok.output

    # Someone holding the server re-chains the log from a record before the checkpoint and
    # deletes the server's checkpoints: from inside, nothing shows (and verify says why) ...
    tampered = tmp_path / "tampered.db"
    src = sqlite3.connect(app.config["CRISIS_DB"])
    dst = sqlite3.connect(tampered)
    src.backup(dst)
    src.close()
    for name in ("audit_log_no_update", "audit_log_no_delete", "audit_checkpoints_no_delete"):
        dst.execute(f"DROP TRIGGER {name}")
    dst.execute("DELETE FROM audit_checkpoints")
    dst.execute("DELETE FROM audit_log WHERE seq >= ?", [held.seq - 3])
    dst.commit()
    dst.close()
    empty_dir = tmp_path / "no-checkpoints"
    inside = cli(app, tmp_path, str(tampered), CRISIS_CHECKPOINT_DIR=str(empty_dir))
    blind = inside("audit", "verify")
    assert "Aucun point de contrôle signé" in blind.output
    # ... but the owner's copy does.
    caught = inside("audit", "verify", "--checkpoint", str(owner_file))
    assert caught.exit_code == 1
    assert "tail cut" in caught.output


def test_the_checkpoint_is_mailed_to_the_owner_and_delivered_once(
    app: Flask, tmp_path: Path
) -> None:
    """Guards the e-mail: through the configured relay (a real SMTP server), the checkpoint file
    attached; a second sweep gives and sends nothing more; with no relay it is recorded as
    skipped."""
    read_gas(app)
    db = connect(app.config["CRISIS_DB"])
    messages.add_partner(
        db, T0, organisation="GRDF", role="Astreinte SIG", email="sig@grdf.example",
        kinds=["checkpoint"], actor=user(db, "director"),
    )  # fmt: skip
    signer = audit.Signer(app.config["CRISIS_CHECKPOINT_KEY"], app.config["CRISIS_CHECKPOINT_DIR"])
    cp, _ = signer.sign(db, T0, "test")
    with smtp_server() as (inbox, port):
        relay = messages.SmtpRelay("127.0.0.1", port, "crise@example.org", starttls=False)
        given = access.deliver_to_owners(db, T0, signer)
        mailed = messages.mail_checkpoints(db, T0, relay)
        assert [d.seq for d in given] == [cp.seq]
        assert [(m.email, m.result) for m in mailed] == [("sig@grdf.example", "sent")]
        (mail,) = inbox.mails()
        (attachment,) = list(mail.iter_attachments())
        assert audit.Checkpoint.from_json(attachment.get_content().decode()) == cp
        assert access.deliver_to_owners(db, T0, signer) == []
        assert messages.mail_checkpoints(db, T0, relay) == []
    with transaction(db):
        audit.append(db, T0, "data.read", details={"dataset": "gas-network"})
    signer.sign(db, T0, "test")
    access.deliver_to_owners(db, T0, signer)
    skipped = messages.mail_checkpoints(db, T0, None)
    assert [m.result for m in skipped] == ["skipped"]
    assert rows(db, "SELECT count(*) AS n FROM checkpoint_deliveries")[0]["n"] == 2
    assert audit.verify(db).ok  # deliveries are sealed content like the rest
    db.conn.close()
