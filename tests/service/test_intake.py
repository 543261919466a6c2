"""Receiving requests (intake.submit_request), the requester's links and documents, and the two purges."""
import io
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine

from dsar import audit
from dsar.actors import Actor
from dsar.deadlines import legal_day
from dsar.errors import IllegalTransition, InvalidInput, PermissionDenied
from dsar.extensions import db
from dsar.jobs.schedule import PERIODIC
from dsar.models import DataRequest, Event, OutboxMessage, utcnow
from dsar.models.enums import ActorType, Status
from dsar.services import actions, documents, intake
from dsar.tokens import TokenError, TokenExpired, make_token, status_token
from factories import make_staff
from hostile_files import valid_jpeg, valid_pdf, valid_png

PUBLIC = Actor(ActorType.REQUESTER, None, "requester", ip="203.0.113.5", user_agent="pytest")


def submit(**overrides):
    values = dict(
        type="access",
        subject={"kind": "prospect", "first_name": "Jeanne", "last_name": "Dupont", "email": "Jeanne@Example.test"},
        requester=None,
        channel="web",
        actor=PUBLIC,
    )
    values.update(overrides)
    return intake.submit_request(**values)


def for_child(**subject):
    return dict(
        subject={"kind": "patient", "first_name": "Léo", "last_name": "Dupont", **subject},
        requester={"acting_for": "other", "relationship": "parent", "first_name": "Jeanne", "last_name": "Dupont",
                   "email": "parent@example.test"},
    )


def events_of(req):
    return db.session.scalars(sa.select(Event).where(Event.request_id == req.id).order_by(Event.seq)).all()


def outbox(template=None):
    q = sa.select(OutboxMessage).order_by(OutboxMessage.id)
    if template:
        q = q.where(OutboxMessage.template == template)
    return db.session.scalars(q).all()


def confirmed(req):
    intake.confirm_email(intake.confirmation_token(req))
    return req


def staff_actor(role="dpo"):
    return Actor.for_staff(make_staff(role), ip="198.51.100.9")


# --- submission ------------------------------------------------------------------------------------------


def test_a_web_request_waits_unconfirmed_and_its_confirmation_email_goes_out(app, mailbox, run_jobs):
    req = submit()
    db.session.commit()
    run_jobs()
    assert req.status == Status.UNCONFIRMED
    assert req.reference == f"DSAR-{legal_year(req)}-{req.id:06d}"
    assert req.clock_started_on is None and req.due_date is None      # rule 1: not complete yet
    assert req.requester.email == "jeanne@example.test" and req.requester.acting_for == "self"
    [ev] = events_of(req)
    assert ev.action == "received" and ev.actor_type == "requester" and ev.ip == "203.0.113.5"
    # The audit trail names the request, never the person.
    assert "Dupont" not in str(ev.details) and "example.test" not in str(ev.details)
    [msg] = mailbox.wait_for(1)
    assert msg["To"] == "jeanne@example.test"
    assert req.reference in msg["Subject"]
    text = mailbox.text(msg)
    assert "/confirm/" in text and "48" in text
    assert "jeanne@example.test" not in text.split("/confirm/")[1]      # no personal data in the link


def legal_year(req):
    return legal_day(req.received_at).year


def test_every_problem_is_reported_at_once_with_its_field_and_nothing_is_written(app):
    with pytest.raises(intake.InvalidRequest) as exc:
        submit(type="acces", subject={"kind": "martian", "first_name": " ", "last_name": "D", "email": "not-an-email",
                                      "phone": "abc", "birth_date": "31/02/1980", "shoe_size": 42},
               details="x" * 5001)
    fields = exc.value.fields
    assert set(fields) == {"type", "subject.kind", "subject.first_name", "subject.email", "subject.phone",
                           "subject.birth_date", "subject.shoe_size", "details"}
    assert exc.value.status_code == 422
    assert fields["subject.shoe_size"][0].code == "unknown_field"
    assert db.session.scalar(sa.select(sa.func.count(DataRequest.id))) == 0


def test_a_rectification_must_say_what_to_correct(app):
    with pytest.raises(intake.InvalidRequest) as exc:
        submit(type="rectification")
    assert set(exc.value.fields) == {"details"}
    req = submit(type="rectification", details="My first name is Jeanne, not Jean.")
    assert req.details == "My first name is Jeanne, not Jean."


@pytest.mark.parametrize("kwargs,field,code", [
    # Parental authority ends at 18.
    (for_child(birth_date="2000-01-01"), "requester.relationship", "not_a_minor"),
    (for_child(), "subject.birth_date", "required"),
    # Only an heir or a person named in directives acts for someone who has died.
    ({"subject": {"kind": "prospect", "first_name": "A", "last_name": "B", "email": "a@example.test", "deceased": True}},
     "subject.deceased", "deceased_self"),
    ({"subject": {"kind": "prospect", "first_name": "A", "last_name": "B", "deceased": True},
      "requester": {"relationship": "guardian", "first_name": "C", "last_name": "D", "email": "c@example.test"}},
     "requester.relationship", "deceased_needs_heir"),
    # Directives for after death are the person's own (Informatique et Libertés art. 85).
    ({"type": "post_mortem_directive", "subject": {"kind": "prospect", "first_name": "A", "last_name": "B"},
      "requester": {"relationship": "heir", "first_name": "C", "last_name": "D", "email": "c@example.test"}},
     "type", "directive_after_death"),
    ({"requester": {"acting_for": "other", "relationship": "cousin", "first_name": "C", "last_name": "D",
                    "email": "c@example.test"}}, "requester.relationship", "bad_relationship"),
    ({"medical_record": True}, "medical_record", "not_medical"),
])
def test_representatives_and_special_cases_are_checked(app, kwargs, field, code):
    with pytest.raises(intake.InvalidRequest) as exc:
        submit(**kwargs)
    assert code in [p.code for p in exc.value.fields.get(field, [])], exc.value.fields


def test_an_heir_acts_for_a_deceased_person_and_must_prove_it(app, policy):
    req = submit(subject={"kind": "patient", "first_name": "Paul", "last_name": "Martin"},
                 requester={"relationship": "heir", "first_name": "Anne", "last_name": "Martin",
                            "email": "anne@example.test", "postal_address": "1 rue de la Paix\r\n75002 Paris"})
    assert req.subject.deceased is True
    assert req.requester.acting_for == "other" and req.requester.relationship_to_subject == "heir"
    assert req.requester.postal_address == "1 rue de la Paix\n75002 Paris"
    assert intake.required_document_kinds(req) == ["identity", "authority"]
    assert intake.authority_proof(req) == dict(policy.identity.representative_proofs["heir"])
    # The mandatary's proof is the policy's "mandate".
    assert intake.proof_for("mandatary") == dict(policy.identity.representative_proofs["mandate"])


def test_activities_default_to_those_of_the_subject_kind_and_unknown_ones_are_refused(app, policy):
    req = submit()
    assert req.activities == [a.key for a in policy.activities_for_subject("prospect")]
    with pytest.raises(intake.InvalidRequest) as exc:
        submit(activities=["application", "nope"])
    assert [p.code for p in exc.value.fields["activities"]] == ["unknown_activity", "unknown_activity"]


def test_the_public_cannot_vouch_for_its_own_identity_nor_backdate_a_request(app):
    with pytest.raises(PermissionDenied):
        submit(channel="email", identity_method="in_person")
    with pytest.raises(PermissionDenied):
        submit(received_at=utcnow() - timedelta(days=40))
    with pytest.raises(intake.InvalidRequest) as exc:
        submit(identity_method="account", actor=staff_actor())
    assert "identity_method" in exc.value.fields      # a web form is never verified at receipt


def test_identity_checked_at_receipt_starts_the_clock_on_the_day_of_receipt(app, mailbox, run_jobs):
    # Deadline rule 1: a request whose identity was checked at receipt is complete on the day of receipt.
    staff = staff_actor()
    received = datetime(2026, 3, 5, 22, 30, tzinfo=timezone.utc)       # 23:30 in Paris, still 5 March
    req = submit(channel="phone", identity_method="in_person", received_at=received, actor=staff)
    db.session.commit()
    run_jobs()
    assert req.status in (Status.OPEN, Status.IN_PROGRESS)
    assert req.clock_started_on == date(2026, 3, 5)
    assert req.due_date == date(2026, 4, 7)          # 5 April 2026 is Easter Sunday, the 6th Easter Monday
    assert req.identity_method == "in_person" and req.identity_verified_by == staff.label
    assert req.email_confirmed_at is not None
    actions_seen = [e.action for e in events_of(req)]
    assert actions_seen[0] == "received" and any(a.startswith("rout") for a in actions_seen[1:])
    [msg] = mailbox.wait_for(1)
    assert "7 avril 2026" in mailbox.text(msg)       # French by default


def test_a_request_made_from_the_account_is_verified_by_the_account(app):
    class Key:
        id, name, scopes = 7, "idomed-app", ["submit"]

    req = submit(channel="account", external_account_id="acc-42", actor=Actor.for_api_key(Key()))
    assert req.identity_method == "account" and req.status in (Status.OPEN, Status.IN_PROGRESS)
    assert req.external_account_id == "acc-42"


def test_a_letter_logged_by_staff_counts_as_confirmed_and_awaits_an_identity_document(app, mailbox, run_jobs):
    req = submit(channel="post", actor=staff_actor(), received_at=datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    db.session.commit()
    run_jobs()
    assert req.status == Status.AWAITING_IDENTITY and req.email_confirmed_at is not None
    assert req.clock_started_on is None
    [msg] = mailbox.wait_for(1)
    assert "/status/" in mailbox.text(msg) and msg["Subject"].startswith("Nous avons bien reçu")


# --- confirmation and links --------------------------------------------------------------------------------


def test_confirming_moves_the_request_on_and_a_second_click_changes_nothing(app, mailbox, run_jobs):
    req = submit()
    token = intake.confirmation_token(req)
    db.session.commit()
    first = intake.confirm_email(token, ip="203.0.113.7")
    db.session.commit()
    assert first.already_confirmed is False and req.status == Status.AWAITING_IDENTITY
    ev = events_of(req)[-1]
    assert (ev.action, ev.actor_type, ev.ip) == ("confirm_email", "requester", "203.0.113.7")
    second = intake.confirm_email(token)
    assert second.already_confirmed is True
    assert [e.action for e in events_of(req)] == ["received", "confirm_email"]
    run_jobs()
    subjects = [m["Subject"] for m in mailbox.wait_for(2)]
    assert subjects[1].startswith("Nous avons bien reçu votre demande")


def test_a_confirmation_link_expires_after_48_hours(app):
    req = submit()
    token = intake.confirmation_token(req)
    db.session.commit()
    with time_machine.travel(utcnow() + timedelta(hours=47), tick=False):
        assert intake.request_for_confirmation_token(token).id == req.id
    with time_machine.travel(utcnow() + timedelta(hours=49), tick=False):
        with pytest.raises(TokenExpired) as exc:
            intake.confirm_email(token)
    assert exc.value.status_code == 410
    assert req.status == Status.UNCONFIRMED


def test_tampered_and_wrong_purpose_tokens_are_refused(app):
    req = confirmed(submit())
    confirm = intake.confirmation_token(req)
    status = status_token(req)
    tampered = status[:-2] + ("AA" if not status.endswith("AA") else "BB")
    for bad in (tampered, confirm, "", "x" * 200, make_token("task", {"r": req.id, "k": req.status_link_salt})):
        with pytest.raises(TokenError):
            intake.request_for_status_token(bad)
    with pytest.raises(TokenError):
        intake.request_for_confirmation_token(status)        # a status link never confirms an address
    assert intake.request_for_status_token(status).id == req.id


def test_one_requesters_link_never_opens_another_request(app):
    a, b = confirmed(submit()), confirmed(submit(subject={"kind": "prospect", "first_name": "Paul",
                                                          "last_name": "Durand", "email": "paul@example.test"}))
    # A token for request b carrying a's salt (what a forger would need) is refused, and vice versa.
    forged = make_token("status", {"r": b.id, "k": a.status_link_salt})
    with pytest.raises(TokenError) as exc:
        intake.request_for_status_token(forged)
    assert exc.value.message == "This link is not valid."       # the same words as for a request that does not exist
    assert intake.request_for_status_token(status_token(a)).id == a.id
    assert intake.request_for_status_token(status_token(b)).id == b.id
    # Replacing the salt revokes the earlier links.
    old = status_token(a)
    a.status_link_salt = "0" * 32
    with pytest.raises(TokenError):
        intake.request_for_status_token(old)


def test_links_are_resent_without_revealing_anything_and_not_more_than_every_ten_minutes(app, mailbox, run_jobs):
    unconfirmed = submit()
    done = confirmed(submit(type="erasure"))
    db.session.commit()
    run_jobs()
    mailbox.wait_for(3)
    mailbox.clear()
    intake.resend_links("JEANNE@example.test", "fr")
    intake.resend_links("nobody@example.test", "fr")          # an unknown address: same call, nothing sent
    db.session.commit()
    run_jobs()
    # The confirmation was sent less than ten minutes ago: only the links email goes out.
    [msg] = mailbox.wait_for(1)
    assert msg["To"] == "jeanne@example.test" and done.reference in mailbox.text(msg)
    assert unconfirmed.reference not in mailbox.text(msg)
    with time_machine.travel(utcnow() + timedelta(minutes=11), tick=False):
        intake.resend_links("jeanne@example.test", "en")
        db.session.commit()
    run_jobs()
    templates = sorted(m.template for m in outbox()[-2:])
    assert templates == ["confirm_email", "request_links"]


# --- documents -------------------------------------------------------------------------------------------


def upload(req, data=None, kind="identity", name="cni.jpg", declared="image/jpeg"):
    return intake.add_identity_document(req, kind, io.BytesIO(data or valid_jpeg()), name, declared,
                                        Actor.for_requester(req, ip="203.0.113.8"))


def test_no_document_before_the_address_is_confirmed(app):
    req = submit()
    with pytest.raises(IllegalTransition) as exc:
        upload(req)
    assert exc.value.status_code == 409 and exc.value.code == "unconfirmed"
    assert req.documents == []


def test_an_identity_document_is_stored_encrypted_and_sends_the_request_to_review(app, policy):
    req = confirmed(submit())
    doc = upload(req, valid_png(), name="C:\\Users\\jeanne\\photo.pdf", declared="application/pdf")
    assert req.status == Status.IDENTITY_REVIEW
    # The content decides: a PNG named .pdf is a PNG.
    assert (doc.mime, doc.kind, doc.display_name, doc.review_status) == ("image/png", "identity", "photo.pdf", "pending")
    assert "jeanne" not in doc.storage_name and "photo" not in doc.storage_name
    assert documents.read_document(doc) == valid_png()
    raw = (documents.file_store().root / doc.storage_name[0:2] / doc.storage_name[2:4] / doc.storage_name).read_bytes()
    # A Fernet token (base64 text): neither the image nor its signature shows. (A bare b"PNG" may occur by chance
    # in ~35 KB of base64, about one run in six: that check was flaky.)
    assert raw.startswith(b"gAAAAA") and valid_png() not in raw and b"\x89PNG\r\n\x1a\n" not in raw
    # Provisional until checked: a year from receipt (policy art. 12).
    assert doc.retain_until == policy.identity.copy_retention.after(legal_day(doc.uploaded_at))
    ev = [e for e in events_of(req) if e.action == "document_uploaded"][0]
    assert ev.details["sha256"] == doc.sha256 and "photo" not in str(ev.details)
    assert [e.action for e in events_of(req)][-1] == "submit_identity"


def test_a_representative_goes_to_review_only_with_both_identity_and_authority(app):
    req = confirmed(submit(**for_child(birth_date="2015-06-01")))
    upload(req)
    assert req.status == Status.AWAITING_IDENTITY and intake.missing_documents(req) == ["authority"]
    upload(req, valid_pdf(), kind="authority", name="livret.pdf", declared="application/pdf")
    assert req.status == Status.IDENTITY_REVIEW and intake.missing_documents(req) == []


def test_a_proof_of_authority_is_not_taken_from_someone_acting_for_themself(app):
    req = confirmed(submit())
    with pytest.raises(InvalidInput) as exc:
        upload(req, kind="authority")
    assert exc.value.field == "kind"


def test_a_refused_document_is_replaced_and_the_same_file_is_refused_again(app, mailbox, run_jobs):
    req = confirmed(submit())
    upload(req)
    db.session.commit()
    actions.refuse_identity(req, staff_actor(), reason="The photo is blurred.")
    db.session.commit()
    assert req.status == Status.AWAITING_IDENTITY
    with pytest.raises(documents.DocumentRejected) as exc:
        upload(req)                                   # the very file just refused
    assert exc.value.code == "duplicate"
    db.session.rollback()
    upload(req, valid_png(), name="nette.png", declared="image/png")
    assert req.status == Status.IDENTITY_REVIEW
    db.session.commit()
    run_jobs()
    refused = [m for m in mailbox.wait_for(3) if "autre document" in m["Subject"]]
    assert refused and "The photo is blurred." in mailbox.text(refused[0])
    assert "/status/" in mailbox.text(refused[0]) and "#upload" in mailbox.text(refused[0])


def test_uploads_are_refused_once_identity_is_verified_and_beyond_the_cap(app):
    req = confirmed(submit())
    upload(req)
    for i in range(intake.MAX_IDENTITY_DOCUMENTS - 1):     # more pages while under review: allowed
        upload(req, valid_png()[:-12] + _png_end_variant(i), name=f"page{i}.png", declared="image/png")
    with pytest.raises(IllegalTransition) as exc:
        upload(req, valid_pdf(), name="one-more.pdf")
    assert exc.value.code == "too_many_documents"
    actions.verify_identity(req, staff_actor())
    assert req.status == Status.OPEN
    with pytest.raises(IllegalTransition) as exc:
        upload(req, valid_pdf())
    assert exc.value.code == "no_document_expected" and exc.value.status_code == 409


def _png_end_variant(i):
    """A valid PNG differing from the others by a text chunk (so each has its own hash)."""
    import struct
    import zlib

    text = b"Comment\x00page %d" % i
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(">I", zlib.crc32(b"tEXt" + text))
    iend = b"\x00\x00\x00\x00IEND\xaeB`\x82"
    return chunk + iend


def test_a_rolled_back_upload_leaves_no_file_behind(app):
    req = confirmed(submit())
    db.session.commit()
    doc = upload(req)
    name = doc.storage_name
    assert documents.file_store().exists(name)
    db.session.rollback()
    assert not documents.file_store().exists(name)


# --- the requester's other actions ------------------------------------------------------------------------


def test_the_requester_withdraws_and_is_told_by_email(app, mailbox, run_jobs):
    req = confirmed(submit(language="en"))
    intake.withdraw(req, Actor.for_requester(req), expected_version=req.version)
    db.session.commit()
    run_jobs()
    assert req.status == Status.WITHDRAWN and req.closed_at is not None
    last = mailbox.wait_for(3)[-1]
    assert last["Subject"] == f"Your request {req.reference} is withdrawn"     # the requester's language
    with pytest.raises(IllegalTransition):
        intake.withdraw(req, Actor.for_requester(req))


def test_answering_a_clarification_ends_the_pause_and_moves_the_deadline(app, policy):
    staff = staff_actor()
    req = submit(channel="phone", identity_method="in_person", actor=staff,
                 received_at=datetime(2026, 3, 5, 9, tzinfo=timezone.utc))
    with time_machine.travel(datetime(2026, 3, 10, 9, tzinfo=timezone.utc), tick=False):
        # An identity question: the period is suspended (policy deadlines.clarifications, décret n° 2019-536 art. 77).
        actions.ask_clarification(req, staff, question="Which account do you mean?", kind="identity")
    assert req.status == Status.AWAITING_REQUESTER
    with pytest.raises(InvalidInput):
        intake.answer_clarification(req, Actor.for_requester(req), "   ")
    with time_machine.travel(datetime(2026, 3, 20, 9, tzinfo=timezone.utc), tick=False):
        intake.answer_clarification(req, Actor.for_requester(req), "The old one, jeanne.d@…")
    assert req.status == Status.IN_PROGRESS
    assert req.pauses[-1].answer.startswith("The old one") and req.paused_days == 10
    assert req.due_date == date(2026, 4, 15)          # rule 4: 5 April + 10 paused days
    with pytest.raises(IllegalTransition):
        intake.answer_clarification(req, Actor.for_requester(req), "again")


# --- purges ------------------------------------------------------------------------------------------------


def test_an_unconfirmed_request_is_deleted_after_the_policys_waiting_period(app, policy):
    assert policy.identity.delete_unconfirmed_after.days == 7
    with time_machine.travel(datetime(2026, 3, 1, 10, tzinfo=timezone.utc), tick=False):
        old = submit()
        kept = confirmed(submit(type="erasure"))
    db.session.commit()
    old_id, old_ref, stream = old.id, old.reference, audit.stream_for(old)
    assert intake.purge_unconfirmed(date(2026, 3, 8)) == 0        # 1 March + 7 days: still waiting
    assert intake.purge_unconfirmed(date(2026, 3, 9)) == 1
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(DataRequest, old_id) is None
    assert db.session.get(DataRequest, kept.id).status == Status.AWAITING_IDENTITY
    assert db.session.scalars(sa.select(Event).where(Event.stream == stream)).all() == []
    assert [m for m in outbox() if m.request_id == old_id] == [] and len(outbox("confirm_email")) == 1
    [purged] = db.session.scalars(sa.select(Event).where(Event.action == "stream_purged")).all()
    assert purged.stream == "system" and purged.details["stream"] == stream and old_ref in purged.details["reason"]
    assert audit.verify_chain() == []


def test_an_identity_copy_is_deleted_a_year_after_its_check_and_the_record_of_the_check_stays(app, policy):
    with time_machine.travel(datetime(2025, 1, 10, 10, tzinfo=timezone.utc), tick=False):
        req = confirmed(submit())
        doc = upload(req)
    db.session.commit()
    reviewer = staff_actor()
    with time_machine.travel(datetime(2025, 2, 1, 10, tzinfo=timezone.utc), tick=False):
        actions.verify_identity(req, reviewer)
    db.session.commit()
    name = doc.storage_name
    # Policy art. 12: one year, counted from the check (1 February 2025), not from receipt.
    assert doc.retain_until == date(2026, 2, 1)
    assert intake.purge_identity_copies(date(2026, 1, 20)) == 0
    assert intake.purge_identity_copies(date(2026, 2, 1)) == 0
    assert doc.retain_until == date(2026, 2, 1)
    assert intake.purge_identity_copies(date(2026, 2, 2)) == 1
    db.session.commit()
    assert not documents.file_store().exists(name)
    assert doc.storage_name is None and doc.purged_at is not None
    # "Document checked: date, method, by whom" stays.
    assert (doc.review_status, doc.reviewed_by, doc.sha256) == ("accepted", reviewer.label, doc.sha256)
    assert doc.reviewed_at.date() == date(2025, 2, 1) and req.identity_method == "document"
    assert events_of(req)[-1].action == "document_purged"
    with pytest.raises(Exception) as exc:
        documents.read_document(doc)
    assert getattr(exc.value, "status_code", None) == 404
    assert intake.purge_identity_copies(date(2026, 3, 1)) == 0      # nothing twice


def test_the_purges_are_periodic_jobs(app):
    from dsar.jobs import purge, resolve

    paths = {p.func_path for p in PERIODIC}
    assert {"dsar.jobs.purge.purge_unconfirmed_requests", "dsar.jobs.purge.purge_expired_identity_copies"} <= paths
    for path in paths:
        assert callable(resolve(path))
    with time_machine.travel(datetime(2026, 3, 1, 10, tzinfo=timezone.utc), tick=False):
        submit()
    db.session.commit()
    with time_machine.travel(datetime(2026, 3, 20, 10, tzinfo=timezone.utc), tick=False):
        assert purge.purge_unconfirmed_requests() == 1
        assert purge.purge_expired_identity_copies() == 0
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count(DataRequest.id))) == 0


@pytest.mark.parametrize("template,context", [
    ("confirm_email", {"confirm_url": "https://x/confirm/t", "hours": 48, "delete_after": "7 days"}),
    ("request_received", {"missing_documents": ["identity", "authority"],
                          "proof": {"fr": "Livret de famille", "en": "Family record book"}}),
    ("identity_accepted", {"due_date": date(2026, 4, 7)}),
    ("identity_refused", {"reason": "Illisible / unreadable"}),
    ("clarification_asked", {"question": "Quel compte ? / Which account?", "effect": "clock_runs",
                             "due_date": date(2026, 4, 7), "paused_on": date(2026, 3, 10)}),
    ("request_withdrawn", {}),
    ("request_links", {"links": [{"reference": "DSAR-2026-000001", "type": "access", "status": "open",
                                  "url": "https://x/status/t"}]}),
])
def test_the_journey_emails_speak_the_requesters_language(app, template, context):
    from dsar.services.notifications import render_email

    req = confirmed(submit(requester={"relationship": "mandatary", "first_name": "Anne", "last_name": "Martin",
                                      "email": "anne@example.test"}))
    ctx = dict({"status": req.status, "due_date": req.due_date}, **context, reference=req.reference,
               status_url="https://x/status/t", request=req)
    with app.test_request_context("/"):
        fr = render_email(template, "fr", ctx)
        en = render_email(template, "en", ctx)
    words = {"fr": ("Bonjour", "Ce message a été envoyé automatiquement"),
             "en": ("Hello", "This message was sent automatically")}
    for lang, (subject, text, html) in (("fr", fr), ("en", en)):
        assert subject and "\n" not in subject
        for word in words[lang]:
            assert word in text and word in html, (lang, word)
        other = words["en" if lang == "fr" else "fr"][0]
        assert other not in text and other not in html
    assert fr[0] != en[0]
    if template == "identity_accepted":
        assert "7 avril 2026" in fr[1] and "April 7, 2026" in en[1]
    if template == "clarification_asked":
        # A scope question: the period keeps running (GDPR art. 12(3)), and the email says until when.
        assert "continue de courir" in fr[1] and "7 avril 2026" in fr[1]
        assert "keeps running" in en[1] and "April 7, 2026" in en[1]
    if template == "request_received":
        assert "Livret de famille" in fr[1] and "Family record book" in en[1] and "Droit d'accès" in fr[1]
