"""Builders shared by the messages tests: playbooks, users, events, partners, schemas, and an
in-process SMTP server (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import cache
from typing import Any

import xmlschema

from app import auth, events
from app.playbooks import Playbook, load_playbooks
from tests.conftest import PROJECT

STANDARDS = PROJECT / "tests" / "fixtures" / "standards"
CAP_XSD = STANDARDS / "cap" / "CAP-v1.2-schema.xsd"
EMSI_XSD = STANDARDS / "emsi" / "EMSI.xsd"
EMSI_SAMPLES = sorted((STANDARDS / "emsi").glob("*-message.xml"))
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
EMSI = "{urn:emergency:eda:1.9:emsi}"


@cache
def cap_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(CAP_XSD))


@cache
def emsi_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(EMSI_XSD))


@cache
def playbooks() -> dict[str, Playbook]:
    found, errors = load_playbooks(PROJECT / "playbooks")
    assert not errors, errors
    return found


def user(db: Any, login: str) -> auth.User:
    found = auth.get_user_by_login(db, login)
    assert found is not None, login
    return found


def declare_toxic(db: Any, now: Any, *, drill: bool = False, title: str = "Fuite d'ammoniac"):
    """A toxic release at the fictitious plant FICTIF-1, wind from 200° at 3 m/s."""
    return events.declare(
        db,
        now,
        playbooks()["toxic-release"],
        actor=user(db, "cell"),
        title=title,
        params={"wind_from_deg": 200, "wind_speed_ms": 3, "substance": "Ammoniac"},
        site="FICTIF-1",
        drill=drill,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """What the in-process SMTP server received."""

    envelopes: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def mails(self) -> list[EmailMessage]:
        return [
            message_from_bytes(e.original_content, policy=policy.default)  # type: ignore[misc]
            for e in self.envelopes
        ]


@contextmanager
def smtp_server(port: int | None = None, **kwargs: Any) -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 in a thread, for the test's duration."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port or free_port(), **kwargs)
    controller.start()
    try:
        yield inbox, int(controller.port)
    finally:
        controller.stop()
