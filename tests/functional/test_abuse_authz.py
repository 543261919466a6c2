"""The authorization matrix: every URL rule of the app × every kind of caller (issue 9).

Callers ("principals"): nobody; each staff role (admin, DPO, agent, auditor), signed in with password and
TOTP; each API key scope (submit, read, staff, directory); a requester holding the secret links of their
own request (status, confirmation, download); another requester holding the links of theirs; the
professional in charge holding the task link of their task (policy art. 8.2); another professional
holding the link of another task.

Each caller presents what they hold and nothing else: a session cookie, a bearer key, or their own
token in a ``<token>`` slot. A caller holding no token of the kind a route takes presents the token
they do hold (a token made for one purpose must never open another) or, holding none, a made-up one.

``EXPECTED`` below is the specification, written out per route: for each caller, the status code (or
``"login"``: sent to the sign-in page; or ``PASSES``: let through the authorization, whatever the
validation of the empty body then says). A route missing from the table fails the test, so a new route
cannot be added without deciding who may use it.

Besides the status code, every response is searched for the names of the two patients of the world:
a caller may only ever see the names they are entitled to (staff and reading keys: both; a requester
or a professional: the one of their own request; everyone else: none).
"""
from __future__ import annotations

import base64
import json
import uuid

import pytest
from flask import url_for

from health_support import alive
from api_support import make_key, signing_material
from backoffice_support import ROLES, add_identity_document, signed_in_client, staff_with_totp
from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import ApiSubmission, OutboxMessage, WebhookEndpoint, utcnow
from dsar.models.enums import Status
from dsar.models.fulfilment import LinkPurpose
from dsar.security import encrypt_secret
from dsar.services import fulfilment, intake, routing
from dsar.services.staff import create_api_key
from dsar.tokens import status_token
from factories import make_professional, make_request

# Names that appear nowhere else: finding one in a response means that response shows that request.
NAME_A = "Zephyrinovsky"
NAME_B = "Quillardeau"

STAFF = ROLES                                        # admin, dpo, agent, auditor
KEYS = ("key_submit", "key_read", "key_staff", "key_directory")
REQUESTERS = ("requester_own", "requester_other")
PROFESSIONALS = ("professional_own", "professional_other")
PRINCIPALS = ("anonymous", *STAFF, *KEYS, *REQUESTERS, *PROFESSIONALS)

PASSES = "passes"   # authorised: any answer but 401/403, a sign-in redirect, a refused link (400/410) or a 5xx
LOGIN = "login"     # sent to the back-office sign-in page

WRITERS = {"admin", "dpo", "agent"}
ALL_STAFF = set(STAFF)
FIGURES = {"admin", "dpo", "auditor"}


def everyone(expected) -> dict:
    return {p: expected for p in PRINCIPALS}


def staff_only(roles: set[str], ok, method: str) -> dict:
    """A back-office route: ``roles`` get ``ok``, other staff 403; without a staff session, sign in (GET) or 401."""
    table = {p: (LOGIN if method == "GET" else 401) for p in PRINCIPALS}
    table.update({role: (ok if role in roles else 403) for role in STAFF})
    return table


def api_only(scopes: set[str], ok) -> dict:
    """An API route: keys holding one of ``scopes`` get ``ok``, other keys 403; no key at all (cookies do not count) 401."""
    table = {p: 401 for p in PRINCIPALS}
    table.update({f"key_{s}": (ok if s in scopes else 403) for s in ("submit", "read", "staff", "directory")})
    return table


def token_route(family: str, own, other) -> dict:
    """A route opened by a secret link: its holder gets ``own``, the holder of another such link ``other``,
    everyone else (no link of this kind: a link of another purpose, or a made-up one) 400."""
    table = {p: 400 for p in PRINCIPALS}
    holders = PROFESSIONALS if family == "task" else REQUESTERS
    table[holders[0]] = own
    table[holders[1]] = other
    return table


def with_staff(table: dict, expected) -> dict:
    return {**table, **{role: expected for role in STAFF}}


# --- the specification ------------------------------------------------------------------------------------

EXPECTED: dict[str, dict] = {
    # Open to anyone.
    "static": everyone(200),
    "health.health_GET": everyone(200),
    "public.index_GET": everyone(200),
    "public.new_request_GET": everyone(200),
    "public.new_request_POST": everyone(422),         # the empty form: every field asked again
    "public.submitted_GET": everyone(302),            # nothing was submitted in this session: back to the form
    "public.links_GET": everyone(200),
    "public.links_POST": everyone(422),
    "api_docs.docs_GET": everyone(200),
    "api-docs.openapi_json": everyone(200),
    "opendsr.discovery_GET": everyone(200),
    "opendsr.certificate_GET": everyone(200),
    # The sign-in pages: open, and they open nothing by themselves.
    "backoffice.login_GET": with_staff(everyone(200), 302),   # signed in already: on to the queue
    "backoffice.login_POST": everyone(401),                    # no such account
    "backoffice.login_code_GET": everyone(302),               # no sign-in in progress: back to the start
    "backoffice.login_code_POST": everyone(302),
    "backoffice.login_enrol_GET": everyone(302),
    "backoffice.login_enrol_POST": everyone(302),
    "backoffice.login_password_GET": everyone(302),
    "backoffice.login_password_POST": everyone(302),
    "backoffice.reset_password_GET": everyone(400),            # nobody here holds a reset link
    "backoffice.reset_password_POST": everyone(400),
    "backoffice.logout_POST": everyone(302),
    # The requester's secret links (DESIGN.md "Identity": signed, expiring, purpose-salted).
    "public.confirm_GET": token_route("confirm", 303, 303),    # confirmed already: on to the status page
    "public.confirm_POST": token_route("confirm", 303, 303),
    "public.status_GET": token_route("status", 200, 200),      # each sees their own request only (names checked)
    "public.upload_POST": token_route("status", 422, 422),     # no file chosen
    "public.withdraw_POST": token_route("status", 422, 422),   # the confirmation box not ticked
    "public.clarification_POST": token_route("status", 422, 422),  # the empty answer
    "public.rectification_POST": token_route("status", 422, 422),  # no field chosen
    "public.download_GET": token_route("download", 200, 200),
    "public.download_POST": token_route("download", 422, 422),  # nothing pasted
    # Another requester's download link with this request's file: the file is not part of that answer.
    "public.download_file_GET": token_route("download", 200, 404),
    # The answer's files from the status page (issue 18): the status secret opens its own request's links only.
    "public.status_file_GET": token_route("status", 200, 404),
    # The professional's task link (policy art. 8.2): good for that task only.
    "tasks.task_GET": token_route("task", 200, 200),
    "tasks.acknowledge_POST": token_route("task", 303, 303),
    "tasks.answer_POST": token_route("task", 422, 422),
    "tasks.answer_confirm_POST": token_route("task", 409, 409),   # no preview confirmed: nothing sent (issue 18)
    "tasks.decline_POST": token_route("task", 422, 422),
    "tasks.extension_POST": token_route("task", 422, 422),
    "tasks.help_POST": token_route("task", 422, 422),
    "tasks.medical_item_POST": token_route("task", 422, 422),  # no item named: nothing recorded (CSP R.1111-1)
    "tasks.step_POST": token_route("task", 422, 422),         # no step chosen: nothing ticked (the checklist)
    "tasks.renew_POST": token_route("task", 303, 303),        # the link still works: nothing to renew
    # The professional approves the erasure of shared health content (issue 17); no systems file here: 409.
    "tasks.erasure_approval_POST": token_route("task", 409, 409),
    # The back-office (issue 5): admin everything; DPO requests, register, statistics, webhook log;
    # agent requests but no accounts, register or statistics; auditor reads only.
    "backoffice.queue_GET": staff_only(ALL_STAFF, 200, "GET"),
    "backoffice.search_POST": staff_only(ALL_STAFF, 302, "POST"),
    "backoffice.queue_assign_POST": staff_only(WRITERS, 302, "POST"),   # nothing selected: back with a message
    "backoffice.request_GET": staff_only(ALL_STAFF, 200, "GET"),
    "backoffice.document_GET": staff_only(ALL_STAFF, 200, "GET"),
    "backoffice.document_page_GET": staff_only(ALL_STAFF, PASSES, "GET"),   # the pages of a PDF document, as pictures
    # A professional's task link, re-sent or withdrawn by staff (no task 999999: a 404 after the check).
    "backoffice.task_resend_POST": staff_only(WRITERS, PASSES, "POST"),
    "backoffice.task_revoke_POST": staff_only(WRITERS, PASSES, "POST"),
    "backoffice.fulfilment_GET": staff_only(ALL_STAFF, 200, "GET"),
    "backoffice.action_POST": staff_only(WRITERS, 400, "POST"),          # the form's version is missing
    "backoffice.intake_GET": staff_only(WRITERS, 200, "GET"),
    "backoffice.intake_POST": staff_only(WRITERS, 422, "POST"),
    "backoffice.register_GET": staff_only(FIGURES, 200, "GET"),
    "backoffice.register_csv_GET": staff_only(FIGURES, 200, "GET"),
    # The art. 21(3) suppression list (hashes only) goes to marketing: admin and DPO (issue 17).
    "backoffice.suppression_csv_GET": staff_only({"admin", "dpo"}, 200, "GET"),
    "backoffice.stats_GET": staff_only(FIGURES, 200, "GET"),
    "backoffice.admin_GET": staff_only({"admin"}, 200, "GET"),
    "backoffice.admin_staff_create_POST": staff_only({"admin"}, 422, "POST"),
    "backoffice.admin_staff_reset_POST": staff_only({"admin"}, PASSES, "POST"),
    "backoffice.admin_staff_disable_POST": staff_only({"admin"}, PASSES, "POST"),
    "backoffice.admin_staff_enable_POST": staff_only({"admin"}, PASSES, "POST"),
    "backoffice.admin_staff_unlock_POST": staff_only({"admin"}, PASSES, "POST"),
    "backoffice.admin_key_create_POST": staff_only({"admin"}, PASSES, "POST"),
    "backoffice.admin_key_revoke_POST": staff_only({"admin"}, PASSES, "POST"),
    "backoffice.webhooks_GET": staff_only({"admin", "dpo"}, 200, "GET"),
    "backoffice.webhook_endpoint_create_POST": staff_only({"admin"}, PASSES, "POST"),
    "backoffice.webhook_endpoint_rotate_POST": staff_only({"admin"}, 200, "POST"),
    "backoffice.webhook_endpoint_disable_POST": staff_only({"admin"}, 302, "POST"),
    "backoffice.webhook_endpoint_enable_POST": staff_only({"admin"}, 302, "POST"),
    "backoffice.webhook_delivery_retry_POST": staff_only({"admin", "dpo"}, 302, "POST"),
    "backoffice.recipient_notified_POST": staff_only(WRITERS, PASSES, "POST"),
    "backoffice.recipient_impossible_POST": staff_only(WRITERS, PASSES, "POST"),
    "backoffice.deactivation_POST": staff_only(WRITERS, PASSES, "POST"),
    "backoffice.erasure_plan_POST": staff_only(WRITERS, PASSES, "POST"),
    # Execution on the systems (issue 17): agents compute a dry run; approving and executing is the DPO's.
    "backoffice.dry_run_POST": staff_only(WRITERS, PASSES, "POST"),
    "backoffice.dry_run_approve_POST": staff_only({"admin", "dpo"}, PASSES, "POST"),
    "backoffice.dry_run_reject_POST": staff_only({"admin", "dpo"}, PASSES, "POST"),
    "backoffice.dry_run_execute_POST": staff_only({"admin", "dpo"}, PASSES, "POST"),
    "backoffice.execution_resume_POST": staff_only({"admin", "dpo"}, PASSES, "POST"),
    "backoffice.restriction_announce_lift_POST": staff_only(WRITERS, PASSES, "POST"),
    "backoffice.restriction_lift_POST": staff_only({"admin", "dpo"}, PASSES, "POST"),
    "backoffice.rectification_propose_POST": staff_only(WRITERS, PASSES, "POST"),
    "backoffice.letter_POST": staff_only(WRITERS, PASSES, "POST"),
    # Letters seen before they go out (issue 18): nothing chosen or written, the form comes back with its error.
    "backoffice.letter_preview_POST": staff_only(WRITERS, 422, "POST"),
    "backoffice.answer_preview_POST": staff_only(WRITERS, 422, "POST"),
    "backoffice.link_reissue_POST": staff_only(WRITERS, PASSES, "POST"),
    "backoffice.portable_data_POST": staff_only(WRITERS, PASSES, "POST"),
    "backoffice.portable_data_remove_POST": staff_only(WRITERS, PASSES, "POST"),
    "backoffice.directive_POST": staff_only(WRITERS, PASSES, "POST"),
    # Collection (issue 16): "run again" on a failed system is the DPO's (and admin's); no run 999999: a 404
    # after the check. A manual system's owner link: nobody here holds one (404). The professional's review
    # of sealed content (policy art. 8.2) opens with their task link; no collection here: 404 after the check.
    "systems.rerun_POST": staff_only({"admin", "dpo"}, PASSES, "POST"),
    "systems.owner_GET": everyone(404),
    "systems.owner_POST": everyone(404),
    # A manual system's owner confirms an execution (issue 17): only their own link opens it.
    "execution_owner.owner_execute_GET": everyone(404),
    "execution_owner.owner_execute_POST": everyone(404),
    "systems.review_GET": token_route("task", 404, 404),
    "systems.review_withhold_POST": token_route("task", 404, 404),
    "systems.review_release_POST": token_route("task", 404, 404),
    # The JSON API: a bearer key with the right scope, nothing else (a staff session cookie is no key).
    "requests.requests_POST": api_only({"submit", "staff"}, 422),          # the empty body
    "requests.requests_GET": api_only({"read", "staff"}, 200),
    "requests.request_GET": api_only({"read", "staff"}, 200),
    "requests.request_actions_POST": api_only({"staff"}, 422),
    "directory.professionals_POST": api_only({"directory"}, 422),
    "directory.care_links_POST": api_only({"directory"}, 422),
    "suppression.suppression_GET": api_only({"staff"}, 200),             # and a "suppression" key (issue 17)
    "opendsr.opengdpr_requests_POST": api_only({"submit", "staff"}, 400),   # OpenDSR says 400 (spec §7.6)
    # Another client's OpenDSR request: a submit key sees its own only (404 for the others'); read and staff see all.
    "opendsr.opengdpr_request_GET": {**api_only({"submit", "read", "staff"}, 200), "key_submit": 404},
    "opendsr.opengdpr_request_DELETE": {**api_only({"submit", "staff"}, 202), "key_submit": 404},
}

# Routes that change who is signed in: called last, in this order.
LAST = ("backoffice.logout_POST",)

# Whose names each caller may ever see.
MAY_SEE = {p: set() for p in PRINCIPALS}
MAY_SEE.update({role: {NAME_A, NAME_B} for role in STAFF})
MAY_SEE.update({"key_read": {NAME_A, NAME_B}, "key_staff": {NAME_A, NAME_B}})
MAY_SEE.update({"requester_own": {NAME_A}, "professional_own": {NAME_A},
                "requester_other": {NAME_B}, "professional_other": {NAME_B}})

TOKEN_FAMILY = {
    "public.confirm_GET": "confirm", "public.confirm_POST": "confirm",
    "public.status_GET": "status", "public.upload_POST": "status", "public.withdraw_POST": "status",
    "public.clarification_POST": "status", "public.rectification_POST": "status", "public.status_file_GET": "status",
    "public.download_GET": "download", "public.download_POST": "download", "public.download_file_GET": "download",
    "backoffice.reset_password_GET": "reset", "backoffice.reset_password_POST": "reset",
}


def token_family(endpoint: str) -> str | None:
    if endpoint.startswith(("tasks.", "systems.review")):
        return "task"
    return TOKEN_FAMILY.get(endpoint)


# --- the world ----------------------------------------------------------------------------------------------


def _opened_patient_request(policy, pro, last_name: str, email: str):
    """An open patient request, email confirmed, routed to ``pro``: a task and its link (policy art. 8.2)."""
    req = make_request(policy=policy, status=Status.OPEN, first_name="Alba", last_name=last_name, email=email)
    req.email_confirmed_at = utcnow()
    routing.route_to_professional(req, Actor.system(), pro)
    doc = add_identity_document(req, policy)
    link = fulfilment.issue_link(req, [doc], Actor.system("tests"), purpose=LinkPurpose.LETTER, email=False)
    db.session.flush()
    return req, doc, link


@pytest.fixture
def app_with_opendsr(make_app, tmp_path):
    key_path, cert_path = signing_material(tmp_path / "opendsr")
    app = make_app(DSAR_OPENDSR_SIGNING_KEY=str(key_path), DSAR_OPENDSR_CERTIFICATE=str(cert_path))
    with app.app_context():
        yield app


@pytest.fixture
def world(app_with_opendsr, mailbox):
    app = app_with_opendsr
    alive(app)  # /health is 200 only with a worker and the scheduler beating (with RQ)
    policy = app.extensions["dsar_policy"]
    pro_a = make_professional(email="dr.a@example.test")
    pro_b = make_professional(email="dr.b@example.test")
    req_a, doc_a, link_a = _opened_patient_request(policy, pro_a, NAME_A, "alba.a@example.test")
    req_b, doc_b, link_b = _opened_patient_request(policy, pro_b, NAME_B, "alba.b@example.test")

    # Another API client's OpenDSR request (a request of a third person, named neither A nor B).
    other_client, _ = create_api_key(name="other client", scopes=["submit"], created_by="tests")
    req_d = make_request(policy=policy, status=Status.OPEN, last_name="Tiers", channel="account")
    submission = ApiSubmission(request_id=req_d.id, api_key_id=other_client.id, protocol="opendsr",
                               client_reference=str(uuid.uuid4()), body_sha256="0" * 64, callback_urls=[])
    db.session.add(submission)

    # What the admin pages act on: a colleague, a key, a webhook receiver and a delivery given up.
    colleague, _ = staff_with_totp("agent", email="colleague@example.test")
    victim_key, _ = create_api_key(name="victim", scopes=["read"], created_by="tests")
    # Subscribed to no event the test causes: nothing is delivered to it meanwhile.
    endpoint = WebhookEndpoint(url="http://127.0.0.1:9/hooks", secret_encrypted=encrypt_secret("whsec_test"),
                               created_by="tests", events=["request.none"])
    db.session.add(endpoint)
    db.session.flush()
    failed = OutboxMessage(kind="webhook", status="failed", template="request.status_changed", language="fr",
                           recipient=endpoint.url, body_text="{}", message_id=f"<{uuid.uuid4().hex}@tests>",
                           attempts=8, max_attempts=8)
    db.session.add(failed)

    keys = {name: make_key(name.split("_", 1)[1], name=name)[1] for name in KEYS}
    tokens = {
        "requester_own": {"status": status_token(req_a), "download": link_a._token},
        "requester_other": {"status": status_token(req_b), "download": link_b._token},
        "professional_own": {"task": routing.task_token(routing.live_task(req_a))},
        "professional_other": {"task": routing.task_token(routing.live_task(req_b))},
    }
    db.session.commit()
    tokens["requester_own"]["confirm"] = intake.confirmation_token(req_a)
    tokens["requester_other"]["confirm"] = intake.confirmation_token(req_b)
    return {
        "app": app, "req_a": req_a, "req_b": req_b, "doc_a": doc_a, "doc_b": doc_b, "link_a": link_a,
        "keys": keys, "tokens": tokens,
        "values": {
            "reference": req_a.reference, "document_id": doc_a.id, "link_id": link_a.id,
            "staff_id": colleague.id, "key_id": victim_key.id, "endpoint_id": endpoint.id,
            "message_id": failed.id, "subject_request_id": submission.client_reference, "form": "note",
            "filename": "style.css",
            # Recipient notifications and portable datasets do not exist on an access request: a 404 after the check.
            "task_id": 999999, "dataset_id": 999999, "page": 1, "run_id": 999999, "dry_run_id": 999999,
        },
    }


def _forged_token() -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"r": 1, "k": "x"}).encode()).decode().rstrip("=")
    return f"{payload}.AAAAAA.forgedsignatureforgedsignature0"


def _client_for(principal: str, world):
    app = world["app"]
    headers = {}
    if principal in STAFF:
        client, _ = signed_in_client(app, principal)
    else:
        client = app.test_client()
    if principal in KEYS:
        headers["Authorization"] = f"Bearer {world['keys'][principal]}"
    if principal in REQUESTERS:
        # The person opened their status page from the email: this browser may download their answers.
        r = client.get(f"/status/{world['tokens'][principal]['status']}")
        assert r.status_code == 200
    return client, headers


def _token_for(principal: str, family: str, world) -> str:
    held = world["tokens"].get(principal, {})
    if family in held:
        return held[family]
    if held:
        # The token of another purpose they do hold: it must not open this route.
        return held.get("status") or held.get("task")
    return _forged_token()


def _calls(world, principal):
    app = world["app"]
    calls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                values = {arg: world["values"][arg] for arg in rule.arguments if arg != "token"}
                family = token_family(rule.endpoint)
                if "token" in rule.arguments:
                    values["token"] = _token_for(principal, family, world)
                calls.append((rule.endpoint, method, url_for(rule.endpoint, **values)))
    calls.sort(key=lambda c: (c[0] in LAST, c[0], c[1]))
    return calls


def _check(expected, response, method: str, family: str | None, where: str) -> None:
    code = response.status_code
    assert code < 500, where
    if expected == LOGIN:
        assert code == 302 and "/backoffice/login" in response.headers["Location"], where
    elif expected == PASSES:
        assert code not in (401, 403), where
        if family is not None:
            assert code not in (400, 410), where
        if code in (301, 302, 303):
            assert "/backoffice/login" not in response.headers["Location"], where
    else:
        assert code == expected, where


# --- the tests --------------------------------------------------------------------------------------------


def test_the_table_covers_every_route_and_only_them(app_with_opendsr):
    endpoints = {rule.endpoint for rule in app_with_opendsr.url_map.iter_rules()}
    assert endpoints - set(EXPECTED) == set(), "a route nobody decided about"
    assert set(EXPECTED) - endpoints == set(), "the table names a route that does not exist"
    for endpoint, row in EXPECTED.items():
        assert set(row) == set(PRINCIPALS), endpoint


def test_the_table_agrees_with_the_guards_in_the_code(app_with_opendsr):
    """The back-office roles in the table are those of each view's ``staff_required`` (no drift either way)."""
    for endpoint, row in EXPECTED.items():
        view = app_with_opendsr.view_functions[endpoint]
        roles = getattr(view, "staff_roles", None)
        allowed_by_table = {r for r in STAFF if row[r] not in (403, LOGIN)}
        if roles is not None:
            assert {str(r) for r in roles} == allowed_by_table, endpoint


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_authorization_matrix(world, principal):
    client, headers = _client_for(principal, world)
    seen = 0
    for endpoint, method, url in _calls(world, principal):
        expected = EXPECTED[endpoint][principal]
        response = client.open(url, method=method, headers=headers, data={} if method != "GET" else None)
        where = f"{principal} {method} {endpoint} {url} -> {response.status_code}"
        _check(expected, response, method, token_family(endpoint), where)
        body = response.get_data(as_text=False).decode("utf-8", "ignore")
        shown = {name for name in (NAME_A, NAME_B) if name in body}
        assert shown <= MAY_SEE[principal], f"{where}: shows {shown - MAY_SEE[principal]}"
        seen += 1
    assert seen >= len(EXPECTED)


# --- the cross-object cases, one by one -----------------------------------------------------------------------


def test_a_task_token_edited_to_name_another_task_opens_nothing(world):
    """Holding task B's link, change the task id inside it to A's: the signature no longer holds (400)."""
    client = world["app"].test_client()
    token_b = world["tokens"]["professional_other"]["task"]
    payload, rest = token_b.split(".", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["t"] = routing.live_task(world["req_a"]).id
    edited = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=") + "." + rest
    r = client.get(f"/task/{edited}")
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert NAME_A not in body and NAME_B not in body and world["req_a"].reference not in body


def test_a_superseded_task_link_shows_nothing_of_the_request(world):
    task = routing.live_task(world["req_a"])
    old = world["tokens"]["professional_own"]["task"]
    routing.resend_task_link(task, _staff_actor())
    db.session.commit()
    client = world["app"].test_client()
    r = client.get(f"/task/{old}")
    assert r.status_code == 410
    assert NAME_A not in r.get_data(as_text=True)
    assert client.get(f"/task/{routing.task_token(task)}").status_code == 200


def _staff_actor():
    staff, _ = staff_with_totp("dpo")
    return Actor.for_staff(staff)


def test_another_requesters_status_link_does_not_unlock_this_answer(world):
    client = world["app"].test_client()
    link_a = world["tokens"]["requester_own"]["download"]
    status_b = world["tokens"]["requester_other"]["status"]
    r = client.post(f"/download/{link_a}", data={"status_link": f"http://localhost/status/{status_b}"})
    assert r.status_code == 403
    assert NAME_B not in r.get_data(as_text=True)
    r = client.get(f"/download/{link_a}/{world['doc_a'].id}")
    assert r.status_code == 403   # still locked: B's secret opened nothing of A
    # A's own status link does unlock it.
    status_a = world["tokens"]["requester_own"]["status"]
    r = client.post(f"/download/{link_a}", data={"status_link": f"http://localhost/status/{status_a}"})
    assert r.status_code == 303
    assert client.get(f"/download/{link_a}/{world['doc_a'].id}").status_code == 200


def test_a_download_link_opens_only_its_own_files(world):
    client = world["app"].test_client()
    assert client.get(f"/status/{world['tokens']['requester_own']['status']}").status_code == 200
    link_a = world["tokens"]["requester_own"]["download"]
    r = client.get(f"/download/{link_a}/{world['doc_b'].id}")
    assert r.status_code == 404


def test_a_staff_document_url_with_another_requests_document_is_a_404(world):
    client, _ = signed_in_client(world["app"], "dpo")
    r = client.get(f"/backoffice/requests/{world['req_a'].reference}/documents/{world['doc_b'].id}")
    assert r.status_code == 404
    assert client.get(f"/backoffice/requests/{world['req_a'].reference}/documents/{world['doc_a'].id}").status_code == 200


def test_a_revoked_status_link_opens_nothing(world):
    client = world["app"].test_client()
    old = world["tokens"]["requester_own"]["status"]
    world["req_a"].status_link_salt = None   # replacing the salt revokes every earlier link (tokens.py)
    fresh = status_token(world["req_a"])
    db.session.commit()
    r = client.get(f"/status/{old}")
    assert r.status_code == 400 and NAME_A not in r.get_data(as_text=True)
    assert client.get(f"/status/{fresh}").status_code == 200


def test_a_staff_session_is_no_api_key(world):
    client, _ = signed_in_client(world["app"], "admin")
    r = client.get("/api/v1/requests")
    assert r.status_code == 401
    assert r.get_json()["error"] == "missing_key"
