"""XSS and markup injection: every text a user or a file can set is inert wherever it is shown.

One world is filled through the real forms with payloads (each field with its own marker), then
every GET route of the URL map is walked as each role, page and htmx fragment. HTML is *parsed*:
the test fails if any injected element or attribute exists, and each field's marker must be
seen as literal text somewhere (so a field that stopped being shown cannot make it pass). JSON
must be served as application/json, the SVG map must parse as XML without script or handlers,
and the PDFs (reports, log, owner review, map extract) must show the payload as text, with no
reportlab markup interpreted and no link annotation to an attacker's address.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import events
from app.db import scalar
from app.web.security import rule_for
from tests.conftest import T0, Client
from tests.unit import test_access_support as support

ROLES = ("director", "cell", "liaison", "steward", "exercise", "admin")
EVIL = "evil.example"


def payload(marker: str) -> str:
    """Script, attribute break-out, handler, javascript: URL, template and reportlab markup."""
    return (
        f'{marker}<script>alert(1)</script>"><img src=x onerror=alert(1)>'
        f'<svg onload=alert(1)>{{{{7*7}}}}<a href="javascript:alert(1)">j</a>'
        f'<font color=red>F</font><a href="https://{EVIL}/">l</a>'
    )


MARKERS = {
    "title": "XSSTITLE",
    "log": "XSSLOG",
    "correction": "XSSCORR",
    "note": "XSSNOTE",
    "justification": "XSSJUST",
    "user_admin": "XSSUSERA",
    "user_cli": "XSSUSERC",
    "property": "XSSPROP",
    "statement": "XSSCLOSE",
}
# No quote: multipart file names cannot carry one (browsers send %22).
FILE_NAME = "XSSFILE<img src=x onerror=alert(1)>{{7*7}}.geojson"


class Inspector(HTMLParser):
    """Collects what an injection would create: elements, handlers, script URLs, text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []
        self.attr_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name, value in attrs:
            self.attr_text.append(value or "")
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "formaction", "xlink:href", "hx-get"):
                if (value or "").strip().lower().startswith(("javascript:", "data:text")):
                    self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "script" and not found.get("src"):
            self.problems.append("inline <script>")
        if tag == "img" and found.get("src") in ("x", "/etc/passwd"):
            self.problems.append("<img src=x>")
        if tag in ("font", "svg") or (tag == "a" and EVIL in (found.get("href") or "")):
            self.problems.append(f"<{tag}> injected")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def inspect_html(html: str) -> Inspector:
    parser = Inspector()
    parser.feed(html)
    parser.close()
    return parser


def pdf_text(body: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(body)
    out = subprocess.run(
        ["pdftotext", "-raw", str(path), "-"], capture_output=True, check=True, timeout=60
    )
    return out.stdout.decode("utf-8", "replace")


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def check_pdf(body: bytes, tmp_path: Path, markers: list[str], whole: bool = True) -> str:
    assert body.startswith(b"%PDF"), body[:100]
    uris = re.findall(rb"/URI\s*\(([^)]*)\)", body)
    assert not [u for u in uris if EVIL.encode() in u or u.lower().startswith(b"javascript")]
    assert b"/JavaScript" not in body and b"/JS " not in body
    text = squeeze(pdf_text(body, tmp_path))
    for marker in markers:
        assert squeeze(payload(marker))[:40] in text, (marker, text[:3000])
    if whole:  # reportlab markup is shown, not interpreted (an interpreted <font> vanishes)
        assert "<fontcolor=red>F</font>" in text and f'<ahref="https://{EVIL}/">' in text
    return text


# --- the poisoned world ------------------------------------------------------------------------


def _client(app: Flask, login: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(login)
    return client


@pytest.fixture
def poisoned(app: Flask, sdb: Any, world: support.World, runner: Any) -> dict[str, Any]:
    """Payloads in every field, each set through its form (or the CLI, or an upload)."""
    playbook = app.extensions["library"].playbooks["toxic-release"]
    director = support.user(sdb, "director")
    event = events.declare(
        sdb,
        T0,
        playbook,
        actor=director,
        title=payload(MARKERS["title"]),
        params={"wind_from_deg": 240, "wind_speed_ms": 4},
        point=[support.LON, support.LAT],
    )
    eid = event.id
    cell = _client(app, "cell")
    r = cell.post(f"/events/{eid}/log", data={"category": "information", "text": payload("XSSLOG")})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    first = scalar(sdb, "SELECT max(id) FROM log_entries WHERE event_id = ?", [eid])
    r = cell.post(
        f"/events/{eid}/log",
        data={"category": "information", "text": payload("XSSCORR"), "corrects_id": str(first)},
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    item = scalar(sdb, "SELECT min(id) FROM checklist_items WHERE event_id = ?", [eid])
    r = cell.post(f"/events/{eid}/checklist/{item}", data={"note": payload("XSSNOTE")})
    assert r.status_code in (200, 302), r.get_data(as_text=True)[:500]
    r = cell.post(
        f"/events/{eid}/grants",
        data={
            "dataset": "gas-network",
            "reason_code": "intervention_reseau",
            "justification": "Repérage des vannes " + payload("XSSJUST"),
            "duration_min": "60",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:1500]
    grant_id = scalar(sdb, "SELECT max(id) FROM grants")
    admin = _client(app, "admin")
    r = admin.post(
        "/admin/users",
        data={
            "login": "eve",
            "name": payload("XSSUSERA"),
            "org": "caux-seine",
            "roles": "cell",
            "password": "une phrase de passe assez longue",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    result = runner(
        "user",
        "add",
        "mallory",
        "--name",
        payload("XSSUSERC"),
        "--org",
        "caux-seine",
        "--role",
        "cell",
        "--password-stdin",
        input="une autre phrase de passe\n",
    )
    assert result.exit_code == 0, result.output
    # An imported property (whitelisted by the agreement, so shown) and a hostile file name.
    steward = _client(app, "steward")
    feature = {
        "type": "Feature",
        "properties": {"id": "DEMO-GAS-IN-X", "pressure": "MPB", "material": payload("XSSPROP")},
        "geometry": {
            "type": "LineString",
            "coordinates": [[support.LON, support.LAT], [support.LON + 0.001, support.LAT]],
        },
    }
    body = json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    r = steward.post(
        "/catalogue/gas-network/import",
        data={"file": (io.BytesIO(body), FILE_NAME)},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:1500]
    # The response boards: a contact of the directory, a task and a means with payload texts.
    r = cell.post(
        "/contacts",
        data={
            "name": payload("XSSCONTACT"),
            "function": "astreinte élus",
            "organisation": payload("XSSORG"),
            "phones": "01 99 00 07 77",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    r = cell.post(
        f"/events/{eid}/tasks",
        data={"title": payload("XSSTASK"), "assignee": "role:liaison", "due": "30"},
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    r = cell.post(
        f"/events/{eid}/means",
        data={"name": payload("XSSMEANS"), "kind": "bus", "status": "engage"},
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    # Two authors with payload names write in the log (so their names are shown as authors).
    for login, password in (("eve", "une phrase de passe assez longue"),):
        author: Client = app.test_client()  # type: ignore[assignment]
        author.login(login, password)
        author.post(f"/events/{eid}/log", data={"category": "information", "text": "vu"})
    return {"event_id": eid, "grant_id": grant_id, "item_id": item, "first_entry": first}


def _values(ids: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": ids["event_id"],
        "grant_id": ids["grant_id"],
        "item_id": ids["item_id"],
        "agreement_id": 1,
        "notification_id": 1,
        "report_id": 1,
        "login": "eve",
        "slug": "gas-network",
        "fmt": "geojson",
        "name": "htmx.min.js",
        "item": "x",
        "inject_id": "x",
        "contact_id": 1,
        "delivery_id": 1,  # a checkpoint given to an owner
        "message_id": 1,
        "partner_id": 1,
        "identifier": "x",
        # a basemap tile (/basemaps/<name>/<z>/<x>/<y>.<ext>)
        "z": 8,
        "x": 0,
        "y": 0,
        "ext": "png",
    }


def _get_urls(app: Flask, ids: dict[str, Any]) -> list[str]:
    values = _values(ids)
    eid = ids["event_id"]
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        if rule.endpoint.startswith("assets."):
            continue
        args = {n: values.get(n, "x") for n in rule.arguments}
        urls.append(rule.build(args, append_unknown=False)[1])
    urls += [
        f"/events/{eid}/grants/new?dataset=gas-network",
        f"/acces/revue?event={eid}",
        f"/acces?grant={ids['grant_id']}",
        f"/events/{eid}/log?compact=1",
        f"/events/{eid}/log?since=0",
        f"/events/{eid}/log?corrects={ids['first_entry']}",
        f"/events/{eid}/log?author=eve",
        "/catalogue/gas-network",
        f"/api/v1/events/{eid}/datasets/gas-network/features",
    ]
    return urls


def _check_response(url: str, response: Any, seen: list[str], tmp_path: Path) -> None:
    assert response.status_code != 500, url
    ctype = response.headers.get("Content-Type", "")
    body = response.get_data()
    if response.status_code in (204, 301, 302) or not body:
        return
    if ctype.startswith("text/html"):
        page = inspect_html(body.decode())
        assert page.problems == [], (url, page.problems)
        seen.append("".join(page.text))
        seen.append(" ".join(page.attr_text))
    elif "json" in ctype:
        assert ctype.startswith(
            ("application/json", "application/geo+json", "application/manifest+json")
        ), (url, ctype)
        seen.append(json.dumps(json.loads(body), ensure_ascii=False))
    elif ctype.startswith("image/svg+xml"):
        check_svg(body, url)
        seen.append(body.decode())
    elif ctype.startswith("application/pdf"):
        assert body.startswith(b"%PDF"), url
    elif ctype.startswith("text/javascript"):
        assert url == "/sw.js", (url, ctype)  # the service worker: a file, no data
    elif ctype.startswith("image/vnd.microsoft.icon"):
        assert url == "/favicon.ico", (url, ctype)  # the browser tab's icon: a file, no data
    elif ctype.startswith(("application/cap+xml", "application/atom+xml")):
        ET.fromstring(body)  # well-formed: no payload broke out of a text node
    else:
        assert ctype.startswith(("text/csv", "application/xml", "text/xml")), (url, ctype)


def check_svg(body: bytes, url: str) -> None:
    root = ET.fromstring(body)  # well-formed: no payload broke out of a text node
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        assert tag not in ("script", "foreignObject", "img", "font", "a"), (url, tag)
        for name, value in el.attrib.items():
            local = name.rsplit("}", 1)[-1]
            assert not local.startswith("on"), (url, tag, name)
            assert not value.strip().lower().startswith("javascript:"), (url, tag, name)


def test_payloads_are_inert_on_every_page_fragment_and_api(
    app: Flask, poisoned: dict[str, Any], tmp_path: Path
) -> None:
    urls = _get_urls(app, poisoned)
    seen: list[str] = []
    walked = 0
    for role in ROLES:
        client = _client(app, role)
        for url in urls:
            rule = app.url_map.bind("localhost").match(url.split("?")[0], return_rule=True)[0]
            access_rule = rule_for(app, rule.endpoint)
            assert access_rule is not None
            if access_rule.roles is not None and role not in access_rule.roles:
                continue
            _check_response(url, client.get(url), seen, tmp_path)
            fragment = client.get(url, headers={"HX-Request": "true"})
            _check_response(url, fragment, seen, tmp_path)
            walked += 1
    assert walked > 100
    everything = "\n".join(seen)
    for field, marker in MARKERS.items():
        if field == "statement":
            continue
        # The literal text, template expression included, reached the user: shown, not run.
        assert payload(marker) in everything, f"{field} never shown: the walk proves nothing"
    assert FILE_NAME in everything
    assert "{{7*7}}" in everything


def test_closing_statement_is_inert(app: Flask, poisoned: dict[str, Any], tmp_path: Path) -> None:
    eid = poisoned["event_id"]
    director = _client(app, "director")
    r = director.post(f"/events/{eid}/close", data={"statement": payload("XSSCLOSE")})
    assert r.status_code == 302, r.get_data(as_text=True)[:1000]
    seen: list[str] = []
    for url in (f"/events/{eid}", f"/events/{eid}/log", f"/api/v1/events/{eid}", "/events/"):
        _check_response(url, director.get(url), seen, tmp_path)
        _check_response(url, director.get(url, headers={"HX-Request": "true"}), seen, tmp_path)
    assert payload("XSSCLOSE") in "\n".join(seen)
    log = director.get(f"/events/{eid}/log.pdf")
    assert log.status_code == 200
    check_pdf(log.data, tmp_path, ["XSSCLOSE", "XSSLOG", "XSSCORR"])


def test_error_messages_echoing_input_are_inert(app: Flask, poisoned: dict[str, Any]) -> None:
    """Refused forms echo what was typed (agreement terms, unknown dataset, bad level)."""
    eid = poisoned["event_id"]
    steward = _client(app, "steward")
    evil = payload("XSSAGREE")
    r = steward.post(
        "/acces/conventions",
        data={
            "dataset": "gas-network",
            "roles": "cell",
            "event_kinds": evil,
            "fields": evil,
            "approval": evil,
            "scope": evil,
            "max_duration_min": evil,
            "margin_m": evil,
            "valid_from": evil,
        },
    )
    assert r.status_code == 422
    assert inspect_html(r.get_data(as_text=True)).problems == []
    cell = _client(app, "cell")
    for response in (
        cell.get(f"/events/{eid}/grants/new?dataset=" + evil),
        cell.get("/catalogue/" + evil),
        cell.get(f"/events/{eid}/log?category={evil}&author={evil}"),
        cell.post(f"/events/{eid}/log", data={"category": evil, "text": evil, "fact_at": evil}),
        cell.post(
            f"/events/{eid}/log",
            data={"category": evil, "text": evil},
            headers={"HX-Request": "true"},
        ),
        cell.get("/events/new?playbook=" + evil + "&title=" + evil),
        cell.get("/catalogue?q=" + evil + "&theme=" + evil),
    ):
        assert response.status_code != 500
        if response.headers.get("Content-Type", "").startswith("text/html"):
            html = response.get_data(as_text=True)
            assert inspect_html(html).problems == [], html[:2000]
    api = cell.post(f"/api/v1/events/{eid}/log", json={"category": evil, "text": 3})
    assert api.headers["Content-Type"].startswith("application/json")
    signed_out = app.test_client()
    page = signed_out.get("/login?next=" + evil)
    assert inspect_html(page.get_data(as_text=True)).problems == []


def test_pdfs_show_payloads_as_text_without_links(
    app: Flask, poisoned: dict[str, Any], tmp_path: Path
) -> None:
    eid = poisoned["event_id"]
    cell = _client(app, "cell")
    # A read of the poisoned feature, so the owner review has something to show.
    assert cell.get(f"/events/{eid}/datasets/gas-network").status_code == 200
    r = cell.post(f"/events/{eid}/reports")
    assert r.status_code == 302, r.get_data(as_text=True)[:1000]
    report_id = scalar_app(app, "SELECT max(id) FROM reports")
    report = cell.get(f"/reports/{report_id}.pdf")
    assert report.status_code == 200
    check_pdf(report.data, tmp_path, ["XSSTITLE", "XSSLOG"])
    log = cell.get(f"/events/{eid}/log.pdf")
    check_pdf(log.data, tmp_path, ["XSSTITLE", "XSSLOG", "XSSCORR"])
    extract = cell.get(f"/events/{eid}/extract.pdf")
    assert extract.status_code == 200
    check_pdf(extract.data, tmp_path, ["XSSTITLE"], whole=False)  # title clipped to fit
    steward = _client(app, "steward")
    review = steward.get(f"/acces/revue.pdf?event={eid}")
    assert review.status_code == 200
    check_pdf(review.data, tmp_path, ["XSSTITLE", "XSSJUST"])


def scalar_app(app: Flask, sql: str) -> Any:
    from app.db import connect

    db = connect(app.config["CRISIS_DB"])
    try:
        return scalar(db, sql)
    finally:
        db.conn.close()


def test_svg_map_of_a_poisoned_event_is_well_formed(app: Flask, poisoned: dict[str, Any]) -> None:
    cell = _client(app, "cell")
    response = cell.get(f"/events/{poisoned['event_id']}/map.svg")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    check_svg(response.data, "map.svg")
    assert "XSSTITLE" in response.get_data(as_text=True)
