"""Schemathesis over every operation of the API document (/api/v1/ and the CAP URLs), through
its WSGI integration with the test app, authenticated as a director with a Bearer token.

For each operation, schema-valid (positive) and schema-breaking (negative) requests, a modest
number of each (``EXAMPLES``, derandomised: the same cases at every run), against a territory
with a declared toxic release, a drill, an emitted CAP alert, a draft, a report and partners,
so that path parameters name real objects. Every built-in check of schemathesis runs (no 5xx,
status codes, content types, headers and bodies as documented, schema-breaking data refused,
schema-valid data accepted, authentication not ignored) plus ours: every refusal is a JSON error
whose message is French. A schema-valid request the domain refuses (an unknown playbook, a level
it already has) is a 422 with its French message: 422 counts as an acceptance of the shape
(docs/decisions.md).

The operations are grouped by tag, one test per tag, so that the suite's workers share them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from app import auth, events
from app import messages as msgs
from app.db import connect
from tests.conftest import make_app
from tests.messages_support import playbooks, user

# Every tag of the document: a test fails below when an operation's tag is not listed here.
TAGS = (
    "Session",
    "Événements",
    "Main courante",
    "Situation",
    "Données",
    "Accès",
    "Réponse",
    "Audit",
    "Points de situation",
    "Messages",
    "CAP et EMSI",
    "Partenaires",
)
EXAMPLES = 5
ENGLISH = re.compile(
    r"\b(the|is|not|invalid|required|field|must|error|missing|unknown|expected)\b", re.I
)
QUOTED = re.compile(r"«[^»]*»|\"[^\"]*\"")
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            # A schema-valid request the domain refuses is a 422 (or, for the older endpoints'
            # checks of a value's content, a 400) with its French message.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "422"]
            }
        }
    }
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, territory_template: Any) -> dict[str, Any]:
    app = make_app(tmp_path_factory.mktemp("schemathesis"), territory_template)
    db = connect(app.config["CRISIS_DB"])
    now = app.config["CLOCK"].now()
    token = auth.create_token(db, now, "director", name="schemathesis")
    toxic = playbooks()["toxic-release"]
    event = events.declare(
        db, now, toxic, actor=user(db, "cell"), title="FICTIF — fuite d'ammoniac",
        params={"wind_from_deg": 200, "wind_speed_ms": 3}, site="FICTIF-1",
    )  # fmt: skip
    events.declare(
        db, now, toxic, actor=user(db, "cell"), title="FICTIF — exercice", drill=True,
        params={"wind_from_deg": 90, "wind_speed_ms": 2}, site="FICTIF-1",
    )  # fmt: skip
    partners = msgs.demo_partners(db, now)
    alert = msgs.draft(db, now, event.id, toxic, kind="cap", template="mise-a-l-abri",
                       actor=user(db, "cell"))  # fmt: skip
    msgs.validate(db, now, alert.id, toxic, actor=user(db, "director2"))
    msgs.send(db, now, alert.id, actor=user(db, "cell"))
    draft = msgs.draft(db, now, event.id, toxic, kind="emsi", template="point-de-situation",
                       actor=user(db, "cell"))  # fmt: skip
    report = msgs.draft(db, now, event.id, toxic, kind="report", template="point-de-situation",
                        actor=user(db, "cell"))  # fmt: skip
    emitted = msgs.get_message(db, alert.id)
    db.conn.close()
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json", app, config=CONFIG, headers=headers
    )
    assert emitted is not None and emitted.content is not None
    return {
        "schema": schema,
        "headers": headers,
        "paths": {
            "event_id": event.id,
            "message_id": draft.id,
            "report_id": report.report_id,
            "partner_id": partners[0].id,
            "identifier": emitted.content.identifier,
            "item": "declencher-ppi",
            "slug": "communes",
            "centre_id": "DEMO-CARE-01",
        },
    }


def french_refusal(response: Any) -> None:
    if response.status_code < 400:
        return
    body = response.json()
    message = body.get("error") if isinstance(body, dict) else None
    assert isinstance(message, str) and message.strip(), f"no message: {body!r}"
    assert body.get("status") == response.status_code, body
    said = QUOTED.sub("", message)  # what the client sent, quoted back, is not ours
    assert not ENGLISH.search(said), f"not French: {message!r}"


def _operations(schema: Any, tag: str) -> list[Any]:
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if tag in (operation.tags or []):
            found.append(operation)
    return found


def test_every_tag_is_exercised(api: dict[str, Any]) -> None:
    tags = {t for result in api["schema"].get_all_operations() for t in result.ok().tags or []}
    assert tags <= set(TAGS), f"add these tags to TAGS in {__file__}: {sorted(tags - set(TAGS))}"


@pytest.mark.parametrize("tag", TAGS)
def test_api_operations(api: dict[str, Any], tag: str) -> None:
    operations = _operations(api["schema"], tag)
    assert operations, tag
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in api["paths"].items() if k in names}
        takes_input = operation.body or operation.query
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and not takes_input:
                continue  # nothing to break but the (fixed) path
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                response = case.call_and_validate(headers=api["headers"])
                french_refusal(response)

            run()
