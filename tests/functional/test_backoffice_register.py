"""The CSV register (spreadsheet-safe), the statistics page (server-side SVG), accounts and API keys,
and the DPO's daily digest."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from backoffice_support import signed_in_client
from dsar.deadlines import legal_day
from dsar.extensions import db
from dsar.models import ApiKey, Event, Staff, utcnow
from dsar.models.enums import Status
from dsar.security import parse_api_key
from dsar.services.register import neutralise
from factories import make_request


def _csv(response):
    raw = response.data
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark: spreadsheets read the accents right
    text = raw.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_register_csv_follows_the_filters_and_neutralises_formulas(app, policy):
    agent_name = "=HYPERLINK(\"http://evil\")"
    client, admin = signed_in_client(app, "admin", name=agent_name)
    answered = make_request(policy=policy, status=Status.ANSWERED, type="erasure",
                            received_at=datetime(2026, 3, 5, 9, tzinfo=timezone.utc), assignee_id=admin.id)
    answered.answered_at = datetime(2026, 3, 20, 10, tzinfo=timezone.utc)
    answered.outcome = "granted"
    make_request(policy=policy, status=Status.OPEN, type="access")
    db.session.commit()
    r = client.get("/backoffice/register.csv?type=erasure")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    rows = _csv(r)
    assert rows[0] == ["Référence", "Type", "Reçue le", "Délai démarré le", "Échéance le", "Répondu le",
                       "Dans les délais", "Issue", "Traitée par", "Canal", "Personne concernée"]
    assert len(rows) == 2
    ref, rtype, received, start, due, answered_on, on_time, outcome, handled, channel, kind = rows[1]
    assert (channel, kind) == ("Formulaire en ligne", "Patient")
    assert (ref, rtype, received, start, due, answered_on, on_time, outcome) == (
        answered.reference, "Effacement", "2026-03-05", "2026-03-05", "2026-04-07", "2026-03-20", "oui", "Accordée")
    assert handled == "'" + agent_name  # never evaluated by a spreadsheet


def test_neutralise_every_formula_trigger():
    for bad in ("=1+1", "+33 6", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(bad) == "'" + bad
    assert neutralise("Dupont") == "Dupont" and neutralise(None) == ""


def test_register_with_a_bad_filter_is_a_422_not_a_file(app):
    client, _ = signed_in_client(app, "dpo")
    assert client.get("/backoffice/register.csv?received_from=yesterday").status_code == 422
    assert client.get("/backoffice/register").status_code == 200


def test_statistics_draw_svg_charts_on_the_server(app, policy):
    today = legal_day(utcnow())
    on_time = make_request(policy=policy, status=Status.ANSWERED, received_at=utcnow() - timedelta(days=20))
    on_time.answered_at = utcnow() - timedelta(days=10)
    late = make_request(policy=policy, status=Status.ANSWERED, received_at=utcnow() - timedelta(days=60))
    late.answered_at = datetime.combine(late.due_date + timedelta(days=3), datetime.min.time(), tzinfo=timezone.utc)
    make_request(policy=policy, status=Status.OPEN, received_at=utcnow() - timedelta(days=45))  # overdue now
    db.session.commit()
    client, _ = signed_in_client(app, "auditor")
    r = client.get("/backoffice/stats")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert html.count("<svg") == 3 and "<script" not in html and "http://cdn" not in html and "style=" not in html
    assert re.search(r'id="stat-overdue">1<', html) and re.search(r'id="stat-on-time">50\s%<', html)
    assert re.search(r'id="stat-answered">2<', html)
    assert f"{today.year:04d}-{today.month:02d}" in html  # this month's bar


def test_admin_creates_an_account_and_an_api_key_shown_once(app, mailbox, run_jobs):
    client, _ = signed_in_client(app, "admin")
    r = client.post("/backoffice/admin/staff", data={"name": "Nouvelle DPO", "email": "New.DPO@example.test",
                                                      "role": "dpo", "language": "fr"})
    assert r.status_code == 302
    run_jobs()
    msg = mailbox.wait_for(1)[0]
    assert msg["To"] == "new.dpo@example.test" and "/backoffice/password/" in mailbox.text(msg)
    staff = db.session.scalar(sa.select(Staff).where(Staff.email == "new.dpo@example.test"))
    assert staff.must_change_password and staff.role == "dpo"
    r = client.post("/backoffice/admin/staff", data={"name": "x", "email": "pas-une-adresse", "role": "dpo"})
    assert r.status_code == 422 and 'id="staff-email-error"' in r.get_data(as_text=True)

    r = client.post("/backoffice/admin/keys", data={"name": "Application IDOMED", "scopes": ["submit", "read"]})
    page = r.get_data(as_text=True)
    secret = re.search(r'id="new-key-secret">([^<]+)<', page).group(1)
    prefix, digest = parse_api_key(secret)
    key = db.session.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix))
    assert key.key_hash == digest and key.scopes == ["read", "submit"] and secret not in str(key.__dict__)
    assert secret not in client.get("/backoffice/admin").get_data(as_text=True)  # shown once
    assert client.post("/backoffice/admin/keys", data={"name": "x", "scopes": ["root"]}).status_code == 422
    assert client.post(f"/backoffice/admin/keys/{key.id}/revoke").status_code == 302
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).revoked_at is not None
    actions = db.session.scalars(sa.select(Event.action).where(Event.stream == "api-keys").order_by(Event.seq)).all()
    assert actions == ["api_key_created", "api_key_revoked"]


def test_the_daily_digest_reaches_the_dpo_once_a_day(app, policy, mailbox, run_jobs):
    from dsar.jobs.digest import send_dpo_digest
    from dsar.jobs.schedule import PERIODIC
    from dsar.models import ProfessionalTask
    from factories import make_professional

    assert any(p.func_path == "dsar.jobs.digest.send_dpo_digest" and p.cron for p in PERIODIC)
    overdue = make_request(policy=policy, status=Status.OPEN, received_at=utcnow() - timedelta(days=50),
                           last_name="Secret")
    soon = make_request(policy=policy, status=Status.IN_PROGRESS, received_at=utcnow() - timedelta(days=28),
                        handler="professional")
    pro = make_professional(first_name="Anne", last_name="Kiné")
    db.session.add(ProfessionalTask(request_id=soon.id, professional_id=pro.id, status="open",
                                    expires_at=utcnow() + timedelta(days=30)))
    db.session.commit()
    assert send_dpo_digest().startswith("sent")
    assert send_dpo_digest() == "already sent today"
    run_jobs()
    msgs = mailbox.wait_for(1)
    assert len(msgs) == 1 and msgs[0]["To"] == "dpo@example.test"
    body = mailbox.text(msgs[0])
    assert overdue.reference in body and soon.reference in body and "Anne Kiné" in body
    assert "En retard : 1" in body and "Secret" not in body  # references, not the data subjects' names


def test_statistics_over_a_chosen_period_in_french_figures(app, policy):
    """Issue 18: the DPO chooses the period (3, 6, 12 or 24 months); figures are written the French way."""
    import html as html_lib

    now = utcnow()
    make_request(policy=policy, status=Status.OPEN, received_at=now - timedelta(days=20))
    make_request(policy=policy, status=Status.OPEN, received_at=now - timedelta(days=200))
    db.session.commit()
    client, _ = signed_in_client(app, "dpo")
    received = lambda html: int(re.search(r'id="stat-received">(\d+)<', html).group(1))  # noqa: E731
    twelve = client.get("/backoffice/stats?lang=fr").get_data(as_text=True)
    three = client.get("/backoffice/stats?months=3").get_data(as_text=True)
    assert received(twelve) == 2 and received(three) == 1
    assert '<option value="3" selected>les 3 derniers mois</option>' in three
    assert re.search(r"Demandes reçues du \d{1,2} \w+ \d{4} au \d{1,2} \w+ \d{4}", html_lib.unescape(three))
    bad = client.get("/backoffice/stats?months=7")
    assert bad.status_code == 422 and "Choisissez une des périodes proposées." in html_lib.unescape(bad.get_data(as_text=True))


def test_who_answered_is_recorded_in_the_page_and_the_register(app, policy):
    """Issue 18: "Traitée par" names the DPO who answered an unassigned request (page and register)."""
    from dsar.actors import Actor
    from dsar.services import actions
    from factories import make_staff

    dpo = make_staff("dpo", name="Dominique Répondante")
    req = make_request(policy=policy, status=Status.OPEN, type="objection", channel="email", subject_kind="prospect")
    db.session.commit()
    assert req.assignee_id is None
    for step in list(req.steps):
        actions.complete_step(req, Actor.for_staff(dpo), step_id=step.id, note="Fait.")
    actions.answer(req, Actor.for_staff(dpo), outcome="granted", message="C'est fait.")
    db.session.commit()
    client, _ = signed_in_client(app, "auditor")
    page = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    assert re.search(r'id="handled-by">Dominique Répondante<', page)
    rows = _csv(client.get("/backoffice/register.csv?status=all"))
    row = next(r for r in rows if r[0] == req.reference)
    assert row[8:] == ["Dominique Répondante", "E-mail", "Prospect"]
