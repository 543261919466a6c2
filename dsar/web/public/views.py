"""Public pages: the request form, email confirmation, the requester's status page and what it offers.

Views are thin: parse the form, call one service of ``dsar.services.intake``, commit, redirect.
A failure the person caused (a field, a file, a link, a state) answers 4xx with the page
again and the message next to what caused it.
"""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _, refresh
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import RequestEntityTooLarge

from ...actors import Actor
from ...deadlines import compute_deadline, legal_day
from ...errors import N_, Conflict, DomainError, IllegalTransition, InvalidInput, PermissionDenied
from ...extensions import csrf, db, limiter
from ...formatting import human_size
from ...lifecycle import calendar_for
from ...models import utcnow
from ...models.enums import ActorType, Status
from ...policy.text import localized
from ...services import authority, documents, form_submissions, intake
from ...services.submission import InvalidRequest, normalise_email
from ...tokens import TokenError, TokenExpired, status_token
from ..common import client_ip, configured_limit, current_language, translate_error, user_agent
from .blueprint import bp
from .downloads import remember_status_unlocked
from .content import (
    FIELD_ORDER, OUTCOME_WORDS, RELATIONSHIPS, REQUEST_TYPES, SUBJECT_KIND_HINTS, form_field_for, progress_steps,
    status_words,
)
from ...lifecycle import clarification_effect
from ...urls import public_url

# Per client (IP address). Tight on what writes or sends email; looser on pages a person reloads.
# Each can be changed with the config key DSAR_RATE_LIMIT_<NAME>, e.g. DSAR_RATE_LIMIT_SUBMIT="3 per hour".
RATE_LIMITS = {
    "submit": "5 per hour;20 per day",
    "upload": "20 per hour;60 per day",
    "token_page": "30 per minute;300 per hour",
    "token_action": "20 per hour",
    "resend": "5 per hour;20 per day",
}


STALE = N_("This request was changed by someone else while you were looking at it. Reload the page to see the change.")


def _limit(name: str):
    return configured_limit(name, RATE_LIMITS[name])


def _policy():
    return current_app.extensions["dsar_policy"]



def _use_language_of(req) -> None:
    """A page opened from an email speaks the request's language, unless the person chose one."""
    chosen = "lang" in request.args or session.get("lang") in current_app.config["LANGUAGES"]
    g.force_language = None if chosen else req.language
    refresh()


def _requester_actor(req) -> Actor:
    return Actor.for_requester(req, ip=client_ip(), user_agent=user_agent())


@bp.app_template_global()
def request_type_name(key: str, language: str | None = None) -> str:
    """The policy's name of a request type, in ``language`` (emails) or the page's language."""
    rt = _policy().request_types.get(key)
    return localized(rt.name, language or current_language()) if rt else key


@bp.app_template_global()
def new_request_url() -> str:
    return public_url("public.new_request_GET")


@bp.errorhandler(TokenError)
def link_problem(err: TokenError):
    db.session.rollback()
    expired = isinstance(err, TokenExpired)
    return render_template("public/link_problem.html", expired=expired, message=translate_error(err)), err.status_code


# --- home and form ---------------------------------------------------------------------------------------


@bp.get("/")
def index_GET():
    return render_template("public/index.html", deadline_example=_deadline_example(),
                           rights_article=_policy().article("rights"))


def _deadline_example() -> dict:
    """If a complete request arrived today, when the answer would be due (deadline rules 2-3), for the explanation."""
    policy = _policy()
    today = legal_day(utcnow())
    dl = compute_deadline(today, calendar=calendar_for(policy), months=policy.deadlines.months)
    return {"today": today, "due": dl.due_date, "months": policy.deadlines.months,
            "extension_months": policy.deadlines.extension_months}


def _form_context(values: dict | None = None, errors: dict | None = None, problems: list | None = None) -> dict:
    policy = _policy()
    lang = current_language()
    types = [{"key": key, "name": localized(policy.request_types[key].name, lang), **REQUEST_TYPES[key],
              "gdpr": policy.request_types[key].gdpr,
              "legal_reference": localized(policy.request_types[key].legal_reference, lang)}
             for key in REQUEST_TYPES if key in policy.request_types]
    kinds = [{"key": key, "name": localized(kind.name, lang), "hint": SUBJECT_KIND_HINTS.get(key)}
             for key, kind in policy.subject_kinds.items()]
    relationships = []
    for key, label, hint in RELATIONSHIPS:
        proof = authority.proof_for(key)
        relationships.append({"key": key, "label": label, "hint": hint,
                              "proof": localized(proof, lang) if proof else None})
    return {
        "values": values or {},
        "submission_nonce": (values or {}).get(form_submissions.NONCE_FIELD) or form_submissions.new_form_nonce(),
        "errors": errors or {},
        "problems": problems or [],
        "types": types,
        "kinds": kinds,
        "relationships": relationships,
        "deadline_example": _deadline_example(),
        "identity": policy.identity,
        "max_size": human_size(policy.identity.max_size_bytes),
        "delete_after": policy.identity.delete_unconfirmed_after.describe(lang),
        "rights_article": policy.article("rights"),
        "routing_article": policy.article("routing"),
    }


@bp.get("/request/new")
def new_request_GET():
    values = {"acting_for": "self"}
    if request.args.get("type") in REQUEST_TYPES:
        values["type"] = request.args["type"]
    return render_template("public/new_request.html", **_form_context(values))


@bp.post("/request/new")
@limiter.limit(_limit("submit"))
def new_request_POST():
    form = request.form
    values = {name: form.get(name, "").strip() for name in FIELD_ORDER}
    acting_for = values.get("acting_for") or "self"
    # The same form sent twice is one request: the second POST shows the first one's result (item 9, issue 12).
    submission = form_submissions.submission_key(form.get(form_submissions.NONCE_FIELD), form.items(multi=True))
    previous = form_submissions.previous_request(submission)
    if previous is not None:
        return _submitted(previous.reference, acting_for)
    subject = {
        "kind": values["subject_kind"] or None,
        "first_name": values["subject_first_name"],
        "last_name": values["subject_last_name"],
        "email": values["subject_email"],
        "phone": values["subject_phone"],
        "birth_date": values["subject_birth_date"],
        "deceased": values["subject_deceased"],
    }
    requester = None
    if acting_for != "self":
        requester = {
            "acting_for": acting_for,
            "relationship": values["relationship"] or None,
            "first_name": values["requester_first_name"],
            "last_name": values["requester_last_name"],
            "email": values["requester_email"],
            "phone": values["requester_phone"],
            "postal_address": form.get("requester_postal_address", ""),
        }
    errors: dict[str, list[str]] = {}
    problems: list[tuple[str, str]] = []

    def add(field, message):
        errors.setdefault(field, []).append(message)
        problems.append((field, message))

    if not values["accuracy"]:
        add("accuracy", _("Please confirm that the information is accurate and that you may make this request."))
    actor = Actor(ActorType.REQUESTER, None, "requester", ip=client_ip(), user_agent=user_agent())
    req = None
    try:
        req = intake.submit_request(
            type=values["type"] or None, subject=subject, requester=requester, channel="web",
            language=current_language(), details=form.get("details", ""),
            medical_record=values["medical_record"], form_submission_hash=submission,
            actor=actor,
        )
    except IntegrityError:
        # The same form, sent twice at once: the other POST created the request (and its one email).
        db.session.rollback()
        return _sent_twice(submission, acting_for)
    except InvalidRequest as err:
        db.session.rollback()
        for p in err.problems:
            add(form_field_for(p.field), translate_error(p))
    except InvalidInput as err:
        db.session.rollback()
        add(form_field_for(err.field or "type"), translate_error(err))
    if errors:
        db.session.rollback()
        problems.sort(key=lambda p: FIELD_ORDER.index(p[0]) if p[0] in FIELD_ORDER else len(FIELD_ORDER))
        values["details"] = form.get("details", "")
        values["requester_postal_address"] = form.get("requester_postal_address", "")
        values[form_submissions.NONCE_FIELD] = form.get(form_submissions.NONCE_FIELD) if submission else None
        return render_template("public/new_request.html", **_form_context(values, errors, problems)), 422
    reference = req.reference  # read before the commit, which expires it
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return _sent_twice(submission, acting_for)
    return _submitted(reference, acting_for)


def _sent_twice(submission: str | None, acting_for: str):
    """The same form, sent twice at once: the other POST created the request (and its one email)."""
    previous = form_submissions.previous_request(submission)
    if previous is None:
        raise
    return _submitted(previous.reference, acting_for)


def _submitted(reference: str, acting_for: str):
    # The reference is shown on the next page, from the session: a URL carrying it would let anyone
    # check whether a reference exists.
    session["dsar_submitted"] = {"reference": reference, "acting_for": acting_for}
    return redirect(url_for("public.submitted_GET"), code=303)


@bp.get("/request/sent")
def submitted_GET():
    submitted = session.get("dsar_submitted")
    if not submitted:
        return redirect(url_for("public.new_request_GET"))
    policy = _policy()
    return render_template("public/submitted.html", reference=submitted["reference"],
                           hours=intake.CONFIRM_LINK_MAX_AGE // 3600,
                           delete_after=policy.identity.delete_unconfirmed_after.describe(current_language()))


# --- email confirmation ----------------------------------------------------------------------------------


@bp.get("/confirm/<token>")
@limiter.limit(_limit("token_page"))
def confirm_GET(token: str):
    # A GET never changes anything: mail scanners open links. The person presses the button.
    req = intake.request_for_confirmation_token(token)
    _use_language_of(req)
    if req.status != Status.UNCONFIRMED or req.email_confirmed_at is not None:
        if req.email_confirmed_at is not None:
            flash(_("Your email address is already confirmed."), "info")
        return redirect(url_for("public.status_GET", token=status_token(req)), code=303)
    return render_template("public/confirm.html", token=token, reference=req.reference)


@bp.post("/confirm/<token>")
@limiter.limit(_limit("token_action"))
def confirm_POST(token: str):
    try:
        result = intake.confirm_email(token, ip=client_ip(), user_agent=user_agent())
        db.session.commit()
    except StaleDataError:
        # Two clicks at once: the other one confirmed it.
        db.session.rollback()
        result = intake.Confirmation(intake.request_for_confirmation_token(token), True)
    req = result.request
    if result.already_confirmed:
        if req.email_confirmed_at is not None:   # not for a request withdrawn before it was ever confirmed
            flash(_("Your email address is already confirmed."), "info")
    else:
        flash(_("Thank you: your email address is confirmed. Keep the email we have just sent you: its link "
                "brings you back to this page."), "success")
    return redirect(url_for("public.status_GET", token=status_token(req)), code=303)


# --- the status page -------------------------------------------------------------------------------------


def _status_context(req, token: str) -> dict:
    policy = _policy()
    lang = current_language()
    label, explanation = status_words(req)
    refused_docs = [d for d in req.documents if d.kind in documents.IDENTITY_KINDS and d.review_status == "refused"]
    return {
        "req": req,
        "token": token,
        "type_name": localized(policy.request_types[req.type].name, lang) if req.type in policy.request_types else req.type,
        "status_label": label,
        "status_explanation": explanation,
        "missing": intake.missing_documents(req),
        "required_kinds": intake.required_document_kinds(req),
        "proof": localized(authority.authority_proof(req), lang) if authority.authority_proof(req) else None,
        "can_upload": intake.can_upload(req),
        "can_withdraw": intake.can_withdraw(req),
        "question": intake.open_question(req) if req.status == Status.AWAITING_REQUESTER else None,
        "question_effect": _question_effect(req, policy),
        "identity_documents": [d for d in req.documents if d.kind in documents.IDENTITY_KINDS],
        "last_refusal": refused_docs[-1] if refused_docs else None,
        "max_size": human_size(policy.identity.max_size_bytes),
        "accepted_types": policy.identity.accepted_types,
        "complaint": policy.controller.complaint_authority,
        "outcome_words": OUTCOME_WORDS,
        "progress": progress_steps(req),
        "errors": {},
        "values": {},
    }


def _render_status(req, token: str, status: int = 200, *, errors: dict | None = None, values: dict | None = None,
                   message: str | None = None):
    ctx = _status_context(req, token)
    ctx["errors"] = errors or {}
    ctx["values"] = values or {}
    ctx["page_error"] = message
    return render_template("public/status.html", **ctx), status


@bp.get("/status/<token>")
@limiter.limit(_limit("token_page"))
def status_GET(token: str):
    req = intake.request_for_status_token(token)
    _use_language_of(req)
    # This browser holds the status secret now: the answer's download links open in it (downloads.py).
    remember_status_unlocked(req)
    return _render_status(req, token)[0]


def _expected_version() -> int | None:
    raw = request.form.get("version", "")
    return int(raw) if raw.isdigit() else None


def _domain_error_page(req, token: str, err: DomainError, field: str | None = None):
    db.session.rollback()
    req = intake.request_for_status_token(token)  # fresh after the rollback
    message = translate_error(err)
    errors = {field: [message]} if field else {}
    return _render_status(req, token, err.status_code, errors=errors, message=None if field else message)


# Room for the other fields of the upload form (CSRF token, kind) and the multipart framing.
FORM_OVERHEAD = 64 * 1024


@bp.post("/status/<token>/document")
@csrf.exempt  # checked below, once the body limit is set: the automatic check would read the body first
@limiter.limit(_limit("upload"))
def upload_POST(token: str):
    req = intake.request_for_status_token(token)
    _use_language_of(req)
    limit = _policy().identity.max_size_bytes
    too_large = documents.DocumentRejected("too_large", limit=human_size(limit))
    # The size limit holds before the body is read: the declared Content-Length first; then werkzeug stops
    # reading at max_content_length even without one (chunked); inspect_upload reads the file with a bounded read.
    request.max_content_length = limit + FORM_OVERHEAD
    if request.content_length is not None and request.content_length > request.max_content_length:
        return _domain_error_page(req, token, too_large, "document")
    try:
        if current_app.config["WTF_CSRF_ENABLED"]:
            csrf.protect()
        upload = request.files.get("document")
        kind = request.form.get("kind") or "identity"
    except RequestEntityTooLarge:
        return _domain_error_page(req, token, too_large, "document")
    if upload is None or not upload.filename:
        return _domain_error_page(req, token, InvalidInput(N_("Choose a file to send."), code="required"), "document")
    try:
        intake.add_identity_document(req, kind, upload.stream, upload.filename, upload.mimetype,
                                     _requester_actor(req))
        db.session.commit()
    except InvalidInput as err:
        # The choice of kind is shown only to representatives; otherwise the message goes with the file.
        shows_kind = "authority" in intake.required_document_kinds(req)
        return _domain_error_page(req, token, err, "kind" if err.field == "kind" and shows_kind else "document")
    except (IllegalTransition, Conflict, PermissionDenied) as err:
        return _domain_error_page(req, token, err)
    except StaleDataError:
        return _domain_error_page(req, token, Conflict(STALE))
    if req.status == Status.IDENTITY_REVIEW:
        flash(_("Thank you, we have received your document. We will check it and write to you."), "success")
    else:
        flash(_("Thank you, we have received your document. Please also send the other document asked for below."),
              "success")
    return redirect(url_for("public.status_GET", token=token) + "#documents", code=303)


@bp.post("/status/<token>/withdraw")
@limiter.limit(_limit("token_action"))
def withdraw_POST(token: str):
    req = intake.request_for_status_token(token)
    _use_language_of(req)
    if not request.form.get("confirm"):
        err = InvalidInput(N_("Tick the box to confirm that you want to withdraw your request."), code="required")
        return _domain_error_page(req, token, err, "confirm")
    try:
        intake.withdraw(req, _requester_actor(req), expected_version=_expected_version())
        db.session.commit()
    except (IllegalTransition, Conflict, PermissionDenied) as err:
        return _domain_error_page(req, token, err)
    except StaleDataError:
        return _domain_error_page(req, token, Conflict(STALE))
    flash(_("Your request has been withdrawn. We have sent you a confirmation by email."), "success")
    return redirect(url_for("public.status_GET", token=token), code=303)


def _question_effect(req, policy) -> str | None:
    """What the open clarification does to the deadline (DESIGN.md rule 4): said on the page as in the letter."""
    question = intake.open_question(req) if req.status == Status.AWAITING_REQUESTER else None
    if question is None:
        return None
    return clarification_effect(req, policy, question.kind or "scope", question.started_on)


@bp.post("/status/<token>/clarification")
@limiter.limit(_limit("token_action"))
def clarification_POST(token: str):
    req = intake.request_for_status_token(token)
    _use_language_of(req)
    try:
        intake.answer_clarification(req, _requester_actor(req), request.form.get("answer", ""),
                                    expected_version=_expected_version())
        db.session.commit()
    except InvalidInput as err:
        db.session.rollback()
        fresh = intake.request_for_status_token(token)
        return _render_status(fresh, token, err.status_code, errors={"answer": [translate_error(err)]},
                              values={"answer": request.form.get("answer", "")})
    except (IllegalTransition, Conflict, PermissionDenied) as err:
        return _domain_error_page(req, token, err)
    except StaleDataError:
        return _domain_error_page(req, token, Conflict(STALE))
    flash(_("Thank you for your answer. We are working on your request again."), "success")
    return redirect(url_for("public.status_GET", token=token), code=303)


# --- lost links ------------------------------------------------------------------------------------------


@bp.get("/links")
def links_GET():
    return render_template("public/links.html", values={}, errors={})


@bp.post("/links")
@limiter.limit(_limit("resend"))
def links_POST():
    email = request.form.get("email", "")
    if normalise_email(email) is None:
        message = _("Please enter a valid email address, such as name@example.fr.")
        return render_template("public/links.html", values={"email": email}, errors={"email": [message]}), 422
    intake.resend_links(email, current_language())
    db.session.commit()
    # The same answer whether or not the address made a request: the page reveals nothing.
    return render_template("public/links_sent.html")
