"""Configuration warnings shown to the DPO, and the contradictions that block letters (issue 13 items 1, 11, 13).

The policy file is workflows/idomed.yaml as it encodes the seed; a contradiction there (the invalidated
Privacy Shield, "health data never leave the EU" beside US transfers of the Idomed application) is a
configuration gap that stops every letter, not a sentence in a letter.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from dsar.policy import load_policy
from dsar.policy_warnings import (
    HEALTH_DATA_TRANSFER, INVALIDATED_SAFEGUARD, MISSING_DPO_CONTACT, READING, configuration_warnings,
    letter_blockers,
)

IDOMED = Path(__file__).resolve().parents[2] / "workflows" / "idomed.yaml"


@pytest.fixture(scope="module")
def idomed():
    return load_policy(IDOMED)


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load(IDOMED.read_text(encoding="utf-8"))


def _load(tmp_path, doc):
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_policy(path)


def test_the_clarification_rules_are_the_policys(idomed):
    # DESIGN.md rule 4: identity suspends (décret n° 2019-536 art. 77); scope does not (GDPR art. 12(3)).
    rules = idomed.deadlines
    assert rules.clarification_suspends("identity") is True
    assert rules.clarification_suspends("scope") is False
    assert "art. 77" in rules.clarifications["identity"].legal_reference["fr"]
    assert "12(3)" in rules.clarifications["scope"].legal_reference["en"]


def test_a_policy_may_make_a_scope_question_suspend_and_unknown_kinds_are_refused(tmp_path, raw):
    doc = copy.deepcopy(raw)
    doc["deadlines"]["clarifications"]["scope"]["suspends"] = True
    assert _load(tmp_path, doc).deadlines.clarification_suspends("scope") is True
    doc["deadlines"]["clarifications"]["tone"] = {"suspends": True}
    with pytest.raises(Exception, match="deadlines.clarifications"):
        _load(tmp_path, doc)


def test_without_the_key_the_law_applies(tmp_path, raw):
    doc = copy.deepcopy(raw)
    del doc["deadlines"]["clarifications"]
    rules = _load(tmp_path, doc).deadlines
    assert rules.clarification_suspends("identity") and not rules.clarification_suspends("scope")


def test_the_seeds_contradictions_block_letters_and_are_shown(idomed):
    blockers = letter_blockers(idomed)
    keys = {w.key for w in blockers}
    # Privacy Shield (CJEU C-311/18, 16 July 2020) for Sendgrid, Zapier, Stripe, Nexmo, Tokbox, Firebase, G Suite.
    shield = {w.key for w in blockers if w.code == INVALIDATED_SAFEGUARD}
    assert "recipients.client_file.sendgrid.transfers[0].safeguard" in shield
    assert "recipients.application.tokbox.transfers[0].safeguard" in shield
    assert all(w.params["case"] == "CJEU C-311/18 (Schrems II)" for w in blockers if w.code == INVALIDATED_SAFEGUARD)
    # "Health data never leave the EU" beside video calls that may go to the US: Tokbox says nothing.
    health = {w.key for w in blockers if w.code == HEALTH_DATA_TRANSFER}
    assert "recipients.application.tokbox.receives_health_data" in health
    # Nexmo sends one-time passwords: the file says it receives no health data, so no contradiction there.
    assert "recipients.application.nexmo.receives_health_data" not in keys
    # The client file holds no health data: its US processors are not a health-data contradiction.
    assert not any(k.startswith("recipients.client_file") for k in health)
    assert all(w.blocks_letters for w in blockers)


def test_a_fixed_policy_has_no_blocker(tmp_path, raw):
    doc = copy.deepcopy(raw)
    for recipients in doc["recipients"].values():
        for r in recipients:
            for t in r.get("transfers", []):
                if t["safeguard"] == "privacy_shield":
                    t["safeguard"], t["safeguard_status"] = "data_privacy_framework", "as_stated"
            if r.get("transfers") and r["key"] in ("tokbox", "firebase", "gsuite"):
                r["receives_health_data"] = False
    assert letter_blockers(_load(tmp_path, doc)) == []
    # Saying health data may leave the EU also removes the contradiction (the statement changes, not a letter).
    doc["recipients"]["application"][-3]["receives_health_data"] = None
    doc["transfers"]["health_data_outside_eu"] = True
    assert letter_blockers(_load(tmp_path, doc)) == []


def test_a_missing_dpo_contact_is_a_warning_not_a_blocker(idomed):
    warnings = configuration_warnings(idomed)
    dpo = [w for w in warnings if w.code == MISSING_DPO_CONTACT]
    assert [w.key for w in dpo] == ["controller.dpo.email"] and not dpo[0].blocks_letters


def test_the_open_readings_are_documented_choices_shown_to_the_dpo(idomed):
    # Issue 13 item 13: "5 ou 10 ans", the archive start, the extension end at month ends.
    readings = {w.key: w for w in configuration_warnings(idomed) if w.code == READING}
    assert set(readings) == {"readings.legal_archive_period", "readings.archive_start",
                             "readings.extension_end_at_month_end"}
    archive = readings["readings.legal_archive_period"].params
    assert "5 ou 10 ans" in archive["question"]["fr"] and "10 ans" in archive["choice"]["fr"]
    assert "data_categories.client_file.identification.retention.archive" in archive["applies_to"]
    assert "fin du contrat" in readings["readings.archive_start"].params["choice"]["fr"]
    assert "3 mois" in readings["readings.extension_end_at_month_end"].params["choice"]["fr"]
    assert not any(w.blocks_letters for w in readings.values())


def test_the_readings_match_what_the_code_does(idomed):
    # The documented choices are the ones applied: 10 years from the end of the contract; start + 3 months.
    from datetime import date

    from dsar.deadlines import NATIONAL_FR, compute_deadline
    from dsar.policy import erasure_plan

    ident = next(c for c in idomed.categories_for("client_file", "professional") if c.key == "identification")
    assert ident.retention.archive.duration.years == 10 and ident.retention.archive.anchor == "contract_end"
    plan = erasure_plan(idomed, ["client_file"], "professional", contract_ended_on=date(2020, 1, 31),
                        today=date(2026, 3, 1))
    item = next(i for i in plan if i.category == "identification")
    assert item.until == date(2030, 1, 31)
    # 31 January 2027 + 3 months = 30 April (Friday), not 28 February + 2 months = 28 April.
    assert compute_deadline(date(2027, 1, 31), calendar=NATIONAL_FR, extended=True).extended_due_date == date(2027, 4, 30)


def test_the_warnings_are_shown_on_the_queue_page(make_app):
    from backoffice_support import signed_in_client

    app = make_app(DSAR_POLICY=str(IDOMED))
    with app.app_context():
        client, _ = signed_in_client(app, "dpo")
        html = client.get("/backoffice/").get_data(as_text=True)
    assert 'id="policy-warnings"' in html and 'id="letters-blocked"' in html
    assert "recipients.application.tokbox.receives_health_data" in html
    assert "controller.dpo.email" in html and "readings.legal_archive_period" in html
    assert "5 ou 10 ans" in html


def test_the_queue_renders_the_warnings_once_per_language_and_policy(make_app, tmp_path, raw):
    """Issue 19: the section is the same on every page of the queue, so it is rendered once per language and
    policy; a page in another language, or for another policy, never shows a section rendered for the first."""
    from flask import template_rendered

    from backoffice_support import signed_in_client

    def section(html):
        start = html.index('id="policy-warnings"')
        return html[start:html.index("</section>", start)]

    app = make_app(DSAR_POLICY=str(IDOMED))
    rendered = []

    def record(_app, template, context, **_kw):   # held here: blinker keeps only a weak reference
        rendered.append(template.name)

    template_rendered.connect(record, app)
    with app.app_context():
        client, _ = signed_in_client(app, "dpo")
        french = [client.get("/backoffice/?lang=fr").get_data(as_text=True) for _ in range(3)]
        english = client.get("/backoffice/?lang=en").get_data(as_text=True)
    assert rendered.count("backoffice/_policy_warnings.html") == 2            # French once, English once
    assert section(french[0]) == section(french[2]) and "5 ou 10 ans" in section(french[0])
    assert "The policy file needs the DPO" in section(english) and section(english) != section(french[0])

    doc = copy.deepcopy(raw)
    doc["controller"]["dpo"]["email"] = "dpo@example.test"   # the DPO contact given: one warning less
    _load(tmp_path, doc)                                        # writes tmp_path/policy.yaml, and it loads
    other = make_app(DSAR_POLICY=str(tmp_path / "policy.yaml"))
    with other.app_context():
        client, _ = signed_in_client(other, "dpo")
        html = client.get("/backoffice/?lang=fr").get_data(as_text=True)
    assert "controller.dpo.email" in section(french[0]) and "controller.dpo.email" not in section(html)
