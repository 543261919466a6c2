"""The OpenAPI document and the documentation page rendered from it."""
from __future__ import annotations

import re


def test_the_openapi_document_describes_the_api(client):
    res = client.get("/api/v1/openapi.json")
    assert res.status_code == 200 and res.content_type.startswith("application/json")
    spec = res.get_json()
    assert spec["openapi"].startswith("3.") and spec["info"]["version"] == "v1"
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer",
        "description": "An API key: dsar_<prefix>_<secret>. Scopes: submit, read, staff, directory, suppression."}
    create = spec["paths"]["/api/v1/requests"]["post"]
    assert create["security"] == [{"bearerAuth": []}] and create["x-scopes"] == ["submit", "staff"]
    # Unknown fields are errors, and the document says so.
    body = spec["components"]["schemas"]["RequestCreate"]
    assert body["additionalProperties"] is False
    assert set(body["required"]) == {"type", "subject", "channel", "identity"}
    assert body["properties"]["type"]["enum"] == ["access", "rectification", "erasure", "portability", "restriction",
                                                  "objection", "consent_withdrawal", "post_mortem_directive"]
    resource = spec["components"]["schemas"]["Request"]
    for name in ("reference", "type", "status", "channel", "received_at", "clock_started_on", "due_date",
                 "extended_due_date", "outcome", "language"):
        assert name in resource["properties"]
    assert resource["properties"]["due_date"]["format"] == "date"
    assert resource["properties"]["received_at"]["format"] == "date-time"
    assert set(spec["components"]["schemas"]["Error"]["required"]) == {"error", "message", "fields"}


def test_the_documentation_page_is_rendered_on_the_server(client):
    res = client.get("/api/v1/docs")
    assert res.status_code == 200 and res.content_type.startswith("text/html")
    html = res.get_data(as_text=True)
    assert "Documentation de l’API" in html                     # French by default
    for operation in ("POST</span> <code>/api/v1/requests</code>", "/api/v1/requests/{reference}/actions",
                      "/api/v1/directory/care-links", "/api/v1/opendsr/opengdpr_requests/{subject_request_id}"):
        assert operation in html
    assert 'id="schema-RequestCreate"' in html and 'href="#schema-RequestCreate"' in html
    assert "X-DSAR-Signature" in html and "HMAC-SHA256" in html
    # No script and no resource from elsewhere: the CSP (script-src 'self', no inline) holds.
    assert "<script" not in html and "style=" not in html
    assert not re.search(r'(src|href)="https?://', html)
    english = client.get("/api/v1/docs", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "API documentation" in english and 'lang="en"' in english


def test_a_wrong_method_says_which_ones_are_allowed(client):
    res = client.put("/api/v1/requests")
    assert res.status_code == 405
    assert set(res.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert res.get_json()["error"] == "method_not_allowed"


def test_an_unknown_api_address_is_a_json_404(client):
    res = client.get("/api/v1/nothing-here")
    assert res.status_code == 404
    assert set(res.get_json()) == {"error", "message", "fields"}


def test_the_language_of_an_api_call_does_not_outlive_it(client):
    from flask import g

    # The test's app context is shared with the calls it makes, as a job's or a CLI command's would be.
    res = client.get("/api/v1/requests", headers={"Accept-Language": "en"})
    assert res.get_json()["message"].startswith("An API key is needed")
    assert g.get("force_language") is None
