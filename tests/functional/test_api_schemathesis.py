"""Schemathesis against the API's own OpenAPI document, through WSGI: no 5xx, no answer that breaks the document.

Every operation gets generated calls — valid ones and deliberately invalid ones — made with a key holding
every scope, so that the calls reach the views rather than stopping at 401/403. Examples are bounded so
that the whole file runs in well under a minute.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, negative_data_rejection, response_headers_conformance, response_schema_conformance,
    status_code_conformance,
)

from api_support import ALL_SCOPES, bearer, make_key, signing_material
from dsar.extensions import db
from factories import make_professional, make_request

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, negative_data_rejection]
# Bounded so that the file runs in well under a minute; the negative cases cost most to generate.
MAX_EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 8}


@pytest.fixture
def api_app(make_app, tmp_path, mailbox):
    key_path, cert_path = signing_material(tmp_path / "opendsr")
    app = make_app(DSAR_OPENDSR_SIGNING_KEY=str(key_path), DSAR_OPENDSR_CERTIFICATE=str(cert_path),
                   DSAR_OPENDSR_CALLBACK_HOSTS="127.0.0.1")
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        # Something to find: requests in several states and a professional to route to.
        for status in ("awaiting_identity", "open", "in_progress", "answered"):
            make_request(policy=policy, status=status)
        make_professional(external_id="pro-1")
        db.session.commit()
        yield app


@pytest.fixture
def api_secret(api_app):
    _, secret = make_key(*ALL_SCOPES, name="schemathesis")
    return secret


@pytest.fixture
def api_schema(api_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api_app)


OPERATIONS = [
    ("POST", "/api/v1/requests"),
    ("GET", "/api/v1/requests"),
    ("GET", "/api/v1/requests/{reference}"),
    ("POST", "/api/v1/requests/{reference}/actions"),
    ("POST", "/api/v1/directory/professionals"),
    ("POST", "/api/v1/directory/care-links"),
    ("GET", "/api/v1/opendsr/discovery"),
    ("GET", "/api/v1/opendsr/cert.pem"),
    ("POST", "/api/v1/opendsr/opengdpr_requests"),
    ("GET", "/api/v1/opendsr/opengdpr_requests/{subject_request_id}"),
    ("DELETE", "/api/v1/opendsr/opengdpr_requests/{subject_request_id}"),
    ("GET", "/api/v1/suppression"),
]


# Operations that take no input at all have nothing to make invalid: they are called with valid input only.
WITHOUT_INPUT = {("GET", "/api/v1/opendsr/discovery"), ("GET", "/api/v1/opendsr/cert.pem")}
RUNS = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + \
       [(m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if (m, p) not in WITHOUT_INPUT]


# schemathesis' own pytest plugin (from_fixture) does not run under pytest 9: drive its strategies with Hypothesis.
@pytest.mark.parametrize("method, path, mode", RUNS)
def test_the_api_keeps_to_its_own_document(api_schema, api_secret, method, path, mode):
    operation = api_schema[path][method]
    calls = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES[mode], deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def exercise(case):
        response = case.call_and_validate(headers=bearer(api_secret), checks=CHECKS)
        calls.append(response.status_code)

    exercise()
    assert calls, "no call was made"


def test_the_document_covers_every_operation(api_schema):
    """Nothing escapes the run above: the operations it exercises are all the document has."""
    operations = {(op.method.upper(), op.path) for op in (r.ok() for r in api_schema.get_all_operations())}
    assert operations == set(OPERATIONS)
