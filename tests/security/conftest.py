"""Helpers shared by the attack tests: a world with an event, grants and a TOTP-enrolled user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from flask import Flask

from app import auth
from app.db import connect, scalar
from tests.conftest import T0
from tests.unit import test_access_support as support


@pytest.fixture
def sdb(app: Flask) -> Iterator[Any]:
    database = connect(app.config["CRISIS_DB"])
    yield database
    database.conn.close()


@pytest.fixture
def world(app: Flask, sdb: Any) -> support.World:
    """Gas network (GRDF, restricted) + vulnerable persons (CCAS, personal), one open event."""
    found = support.build_world(sdb, T0)
    support.sign_gas(sdb, T0)
    support.sign_vp(sdb, T0)
    return found


def audit_length(db: Any) -> int:
    return int(scalar(db, "SELECT count(*) FROM audit_log"))


def enrol(db: Any, login: str) -> pyotp.TOTP:
    """Enrol a TOTP secret for a user (domain call), return the generator."""
    secret = auth.enrol_totp(db, T0, login)
    return pyotp.TOTP(secret)
