"""A short fuzz pass over every route of the application: extreme values never answer a 5xx (issue 12, item 7).

Routes are enumerated from ``app.url_map``, so a route added later is fed the same values without anyone
listing it here. Each route gets:
- in its URL: integers of 2^64, 2^31 and 5,000 digits for every ``<int:…>``; NUL, invalid UTF-8 and 5,000
  characters for every other argument;
- in its query string (GET): ids and page numbers of 2^64 and 5,000 digits, days 9999-12-31 and 0000-01-01,
  NUL and invalid UTF-8, under the names the pages and the API read;
- as a body: for every API operation, JSON nested 3,000 levels deep, a 5,000-digit integer, ids of 2^64,
  out-of-range dates, NUL, invalid UTF-8; for every form, the same ids and days in its fields.
"""
from __future__ import annotations

from urllib.parse import quote

import pytest

from api_support import ALL_SCOPES, bearer, make_key, signing_material
from backoffice_support import signed_in_client
from dsar.extensions import db
from factories import make_request
from health_support import alive

HUGE = str(2**64)
JUST_TOO_BIG = str(2**31)
DIGITS_5000 = "9" * 5000
NUL = "%00"
BAD_UTF8 = "%FF%FE%C3%28"

INT_PATH_VALUES = [HUGE, JUST_TOO_BIG, DIGITS_5000]
TEXT_PATH_VALUES = [NUL, BAD_UTF8, "x" * 5000]

# Query names read by the pages and the API (unknown ones are ignored by pages and refused by the API).
INT_ARGS = ["assignee", "before", "after", "page", "per_page", "document", "version"]
DATE_ARGS = ["received_from", "received_to", "due_before", "updated_since"]
TEXT_ARGS = ["status", "type", "channel", "subject_kind", "search", "next", "lang", "q", "external_account_id"]
QUERY_CLASSES = {
    "huge id": (INT_ARGS, HUGE),
    "5000 digits": (INT_ARGS, DIGITS_5000),
    "negative": (INT_ARGS, "-1"),
    "last day": (DATE_ARGS, "9999-12-31"),
    "day zero": (DATE_ARGS, "0000-01-01"),
    "far future instant": (DATE_ARGS, "9999-12-31T23:59:59+00:00"),
    "NUL": (INT_ARGS + DATE_ARGS + TEXT_ARGS, NUL),
    "invalid UTF-8": (INT_ARGS + DATE_ARGS + TEXT_ARGS, BAD_UTF8),
}

NESTED_LISTS = b"[" * 3000 + b"]" * 3000
NESTED_OBJECTS = b'{"a":' * 3000 + b"1" + b"}" * 3000
JSON_BODIES = {
    "nested lists": NESTED_LISTS,
    "nested objects": NESTED_OBJECTS,
    "nested under a field": b'{"action":"note","note":' + NESTED_LISTS + b"}",
    "5000-digit integer": b'{"action":"assign","assignee_id":' + DIGITS_5000.encode() + b"}",
    "5000-digit integer, top level": DIGITS_5000.encode(),
    "huge float": b'{"expected_version":1e99999}',
    "ids of 2^64": ('{"action":"assign","assignee_id":%s,"expected_version":%s,"professional_id":%s}'
                    % (HUGE, HUGE, HUGE)).encode(),
    "out-of-range dates": b'{"received_at":"9999-12-31T23:59:59+00:00","birth_date":"0000-01-01",'
                          b'"subject":{"birth_date":"9999-12-31"},"professionals":[{"external_id":"p",'
                          b'"contract_ended_on":"9999-12-31"}],"links":[{"professional_external_id":"p",'
                          b'"patient_ref":"r","ended_on":"0000-01-01","patient_birth_date":"9999-12-31"}]}',
    "NUL": b'{"action":"note","note":"a\\u0000b","type":"\\u0000","subject_request_id":"\\u0000"}',
    "invalid UTF-8": b'{"action":"note","note":"\xff\xfe\xc3("}',
    "lone surrogate": b'{"action":"note","note":"\\ud800"}',
}
FORM_FIELDS = ["version", "assignee_id", "professional_id", "document_id", "task_id", "staff_id", "page",
               "received_at", "received_on", "birth_date", "subject_birth_date", "due_date", "contract_ended_on"]
FORM_VALUES = [HUGE, DIGITS_5000, "9999-12-31", "0000-01-01", "\x00"]
NEVER_POSTED = {"/backoffice/logout"}   # it would end the signed-in session the rest of the pass needs


@pytest.fixture
def fuzz_app(make_app, mailbox, tmp_path):
    key_path, cert_path = signing_material(tmp_path / "opendsr")
    app = make_app(DSAR_OPENDSR_SIGNING_KEY=str(key_path), DSAR_OPENDSR_CERTIFICATE=str(cert_path))
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        req = make_request(policy=policy, status="open")
        db.session.commit()
        staff_client, _ = signed_in_client(app, "admin")
        _, secret = make_key(*ALL_SCOPES, name="fuzz")
        yield app, staff_client, bearer(secret), req.reference


def _rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static"]


def _urls(rule, reference: str):
    """The rule's URL with valid arguments, then with each argument made extreme in turn."""
    valid = {}
    for name in rule.arguments:
        kind = type(rule._converters[name]).__name__
        valid[name] = "1" if "Int" in kind else (reference if name == "reference" else ("note" if name == "form" else "x"))

    def build(values):
        path = rule.rule
        for name, converter in rule._converters.items():
            path = path.replace(f"<{_spec(rule, name)}>", values[name])
        return path

    yield "valid", build({k: quote(v) for k, v in valid.items()})
    for name, converter in rule._converters.items():
        extremes = INT_PATH_VALUES if "Int" in type(converter).__name__ else TEXT_PATH_VALUES
        for value in extremes:
            values = {k: quote(v) for k, v in valid.items()}
            values[name] = value
            yield f"{name}={value[:12]}", build(values)


def _spec(rule, name: str) -> str:
    """The text of the argument in the rule, e.g. ``int:document_id`` or ``reference``."""
    for part in rule.rule.split("<")[1:]:
        inside = part.split(">")[0]
        if inside.split(":")[-1] == name:
            return inside
    raise AssertionError(f"{name} not in {rule.rule}")


def _client_for(path: str, staff_client, api_headers):
    if path.startswith("/api/"):
        return staff_client, api_headers
    return staff_client, {}


def test_no_route_answers_a_5xx_to_extreme_values(fuzz_app):
    app, staff_client, api_headers, reference = fuzz_app
    alive(app)  # with RQ, /health answers 503 (rightly) until a worker and the scheduler beat
    failures: list[str] = []
    calls = 0

    def call(method: str, url: str, what: str, **kwargs):
        nonlocal calls
        client, headers = _client_for(url, staff_client, api_headers)
        response = client.open(url, method=method, headers=headers, **kwargs)
        calls += 1
        if response.status_code >= 500:
            failures.append(f"{method} {url[:120]} ({what}) -> {response.status_code}")
        return response

    covered = set()
    for rule in _rules(app):
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        for what, url in _urls(rule, reference):
            for method in methods:
                if method == "POST" and rule.rule in NEVER_POSTED:
                    continue
                if what == "valid":
                    covered.add((method, rule.rule))
                    if method == "GET":
                        for name, (names, value) in QUERY_CLASSES.items():
                            query = "&".join(f"{n}={value}" for n in names)
                            call("GET", f"{url}?{query}", name)
                            # Lists and the API (which refuses unknown names): one name at a time too, so that
                            # a refused name does not hide what another one does.
                            if not rule.arguments or url.startswith("/api/"):
                                for n in names:
                                    call("GET", f"{url}?{n}={value}", f"{name}: {n}")
                    elif url.startswith("/api/"):
                        for name, body in JSON_BODIES.items():
                            call(method, url, name, data=body, content_type="application/json")
                    else:
                        for value in FORM_VALUES:
                            call(method, url, f"form {value[:12]!r}", data={f: value for f in FORM_FIELDS})
                else:
                    call(method, url, what)
    everything = {(m, r.rule) for r in _rules(app) for m in (r.methods or set()) - {"HEAD", "OPTIONS"}}
    assert covered == everything - {("POST", p) for p in NEVER_POSTED}
    assert calls > 500
    assert not failures, "\n".join(failures)
