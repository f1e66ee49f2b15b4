"""Load once, pass objects: a request reads its event once and its zones once.

Counted with sqlite3's trace callback on the request's connection: the record mappers' queries
(``records.EVENT_SQL``, ``records.latest_zones``) are what a second read would repeat.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from app import db as db_module
from app.web import context
from tests.builders import declare_with_grant

EVENT_READ = "FROM events e LEFT JOIN users u"
ZONES_READ = "SELECT * FROM event_zones WHERE event_id = "


@pytest.fixture
def statements(territory_app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement of the connections requests open from now on (the idle ones of the
    app's pool are closed first)."""
    seen: list[str] = []
    opened = db_module.connect

    def connect(path: Any, **kw: Any) -> Any:
        db = opened(path, **kw)
        db.conn.set_trace_callback(seen.append)
        return db

    monkeypatch.setattr(db_module, "connect", connect)
    with territory_app.app_context():
        context.pool().close()
    return seen


@pytest.fixture
def event_id(territory_app: Flask) -> int:
    """A toxic release on the fictitious plant, the cell holding a grant on the gas network."""
    return declare_with_grant(territory_app.test_client, holder="cell", drill=True)


REQUESTS = [
    ("post", "/events/{id}/reports"),
    ("get", "/api/v1/events/{id}/impact"),
    ("get", "/api/v1/events/{id}/zones"),
    ("get", "/api/v1/events/{id}/map-features"),
    ("get", "/events/{id}/map.svg"),
    ("get", "/events/{id}/extract.pdf"),
    ("get", "/events/{id}/impact"),
    ("get", "/events/{id}"),
]


@pytest.mark.parametrize(("method", "path"), REQUESTS)
def test_a_request_reads_its_event_and_zones_once(
    territory_app: Flask, event_id: int, statements: list[str], method: str, path: str
) -> None:
    client = territory_app.test_client()
    client.login("cell")
    statements.clear()
    response = getattr(client, method)(path.format(id=event_id))
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
    events_read = sum(EVENT_READ in s for s in statements)
    zones_read = sum(ZONES_READ in s for s in statements)
    print(f"{method.upper()} {path}: event read {events_read}x, zones read {zones_read}x")
    assert (events_read, zones_read) == (1, 1)
