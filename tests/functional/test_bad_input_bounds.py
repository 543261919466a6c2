"""Issue 12, item 7: what a client sends never makes a 5xx — deep JSON, huge numbers, huge ids, far dates."""
from __future__ import annotations

import pytest

from api_support import bearer, make_key
from backoffice_support import signed_in_client
from dsar.extensions import db
from factories import make_request

HUGE = str(2**64)


@pytest.mark.parametrize("body", [b"[" * 3000 + b"]" * 3000, b'{"a":' * 3000 + b"1" + b"}" * 3000,
                                  b'{"type":"access","subject":' + b"[" * 3000 + b"]" * 3000 + b"}"])
def test_json_nested_3000_levels_is_a_400(client, app, body):
    _, secret = make_key("submit")
    res = client.post("/api/v1/requests", data=body, content_type="application/json",
                      headers=bearer(secret, **{"Accept-Language": "en"}))
    assert res.status_code == 400
    assert res.get_json() == {"error": "bad_json", "message": "The JSON body is nested too deeply.", "fields": {}}


def test_a_5000_digit_integer_is_a_400(client, app, policy):
    _, secret = make_key("staff")
    req = make_request(policy=policy, status="open")
    db.session.commit()
    body = b'{"action":"assign","assignee_id":' + b"9" * 5000 + b"}"
    res = client.post(f"/api/v1/requests/{req.reference}/actions", data=body, content_type="application/json",
                      headers=bearer(secret, **{"Accept-Language": "en"}))
    assert res.status_code == 400 and res.get_json()["message"] == "The JSON body holds a number that is too large."


def test_an_id_of_2_64_in_json_is_a_422_naming_the_field(client, app, policy):
    _, secret = make_key("staff")
    req = make_request(policy=policy, status="open")
    db.session.commit()
    res = client.post(f"/api/v1/requests/{req.reference}/actions", headers=bearer(secret),
                      json={"action": "assign", "assignee_id": 2**64})
    assert res.status_code == 422 and "assignee_id" in res.get_json()["fields"]


def test_ids_of_2_64_in_urls_are_404(app, policy):
    staff_client, _ = signed_in_client(app, "admin")
    req = make_request(policy=policy, status="open")
    db.session.commit()
    for url in (f"/backoffice/requests/{req.reference}/documents/{HUGE}",
                f"/backoffice/requests/{req.reference}/documents/{'9' * 5000}/pages/1.png",
                f"/download/some-token/{HUGE}"):
        assert staff_client.get(url).status_code == 404, url
    for url in (f"/backoffice/admin/staff/{HUGE}/disable", f"/backoffice/admin/keys/{HUGE}/revoke",
                f"/backoffice/webhooks/endpoints/{HUGE}/disable", f"/backoffice/requests/{req.reference}/tasks/{HUGE}/revoke"):
        assert staff_client.post(url, data={"version": "1"}).status_code == 404, url


def test_a_nul_in_a_url_segment_is_a_404(app, policy):
    staff_client, _ = signed_in_client(app, "admin")
    _, secret = make_key("read")
    assert staff_client.get("/backoffice/requests/DSAR%00").status_code == 404
    assert staff_client.get("/api/v1/requests/DSAR%00", headers=bearer(secret)).status_code == 404


def test_filters_with_a_huge_id_or_a_far_date_are_refused_with_the_filter_named(app, policy):
    staff_client, _ = signed_in_client(app, "dpo")
    make_request(policy=policy, status="open")
    db.session.commit()
    assert staff_client.get(f"/backoffice/?assignee={HUGE}").status_code == 422
    for query in ("received_to=9999-12-31", "received_from=9999-12-31"):
        res = staff_client.get(f"/backoffice/?{query}")
        assert res.status_code == 422 and "9998-12-31" in res.get_data(as_text=True), query   # the bound, said
    assert staff_client.get(f"/backoffice/webhooks?before={HUGE}").status_code == 200


def test_the_register_is_refused_before_it_starts_never_cut_after_a_200(app, policy):
    """received_to=9999-12-31 used to send a 200 and a few rows, then stop: a truncated register with no error."""
    staff_client, _ = signed_in_client(app, "dpo")
    for _ in range(3):
        make_request(policy=policy, status="open")
    db.session.commit()
    res = staff_client.get("/backoffice/register.csv?received_to=9999-12-31")
    assert res.status_code == 422
    assert not res.headers["Content-Type"].startswith("text/csv")
    whole = staff_client.get("/backoffice/register.csv?received_to=2999-12-31&status=all")
    assert whole.status_code == 200 and whole.headers["Content-Type"].startswith("text/csv")
    assert whole.get_data(as_text=True).count("DSAR-") == 3


def test_api_list_filters_refuse_out_of_range_days(client, app):
    _, secret = make_key("read")
    for query, field in (("received_to=9999-12-31", "received_to"), ("received_from=0000-01-01", "received_from"),
                         ("due_before=9999-12-31", "due_before"), ("updated_since=9999-12-31T23:59:59Z", "updated_since")):
        res = client.get(f"/api/v1/requests?{query}", headers=bearer(secret))
        assert res.status_code == 422 and field in res.get_json()["fields"], (query, res.get_json())
