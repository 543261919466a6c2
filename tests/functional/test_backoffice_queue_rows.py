"""What each row of the queue says, now that a page translates each word and formats each day once (issue 19):
rows of different types, statuses, days and handlers each keep their own words."""
from __future__ import annotations

import html as html_lib
import re
from datetime import datetime, timedelta, timezone

from babel.dates import format_date

from dsar.deadlines import legal_day
from dsar.extensions import db
from dsar.models import utcnow
from dsar.models.enums import RequestType, Status, SubjectKind
from backoffice_support import signed_in_client
from factories import make_request, make_staff


def _row_text(page: str, reference: str) -> str:
    row = re.search(rf'<tr class="urgency-[a-z]+" data-reference="{reference}">(.*?)</tr>', page, re.S).group(1)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", row)).split())


def test_each_row_keeps_its_own_words_and_days(app, policy):
    today = legal_day(utcnow())
    agent = make_staff("agent", name="Agathe Test")
    assigned = make_request(type=RequestType.ACCESS, subject_kind=SubjectKind.PATIENT, status=Status.OPEN,
                            first_name="Anne", last_name="Lenoir",
                            received_at=datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc))
    assigned.due_date, assigned.assignee_id = today + timedelta(days=3), agent.id
    routed = make_request(type=RequestType.ERASURE, subject_kind=SubjectKind.PROSPECT, status=Status.IN_PROGRESS,
                          first_name="Bruno", last_name="Blanc", handler="professional",
                          received_at=datetime(2026, 3, 6, 23, 30, tzinfo=timezone.utc))   # 7 March in Paris
    routed.due_date = today + timedelta(days=30)
    waiting = make_request(type=RequestType.ACCESS, subject_kind=SubjectKind.PATIENT, status=Status.AWAITING_IDENTITY,
                           first_name="Chloé", last_name="Vert",
                           received_at=datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc))
    db.session.commit()
    client, _ = signed_in_client(app, "agent")
    page = client.get("/backoffice/?lang=fr").get_data(as_text=True)

    def day(d):
        return format_date(d, "medium", locale="fr")

    assert _row_text(page, assigned.reference) == (
        f"{assigned.reference} Accès Anne Lenoir (Patient) ouverte 5 mars 2026 {day(today + timedelta(days=3))} "
        f"3 · Échéance sous 7 jours Agathe Test")
    assert _row_text(page, routed.reference) == (
        f"{routed.reference} Effacement Bruno Blanc (Prospect) en cours de traitement 7 mars 2026 "
        f"{day(today + timedelta(days=30))} 30 · Dans les temps Un professionnel")
    assert _row_text(page, waiting.reference) == (
        f"{waiting.reference} Accès Chloé Vert (Patient) en attente d'un justificatif d'identité 5 mars 2026 — "
        f"Délai non démarré Personne pour l'instant")
    assert f'aria-label="Sélectionner {waiting.reference}"' in page
