"""The policy file (workflows/idomed.yaml) against the seed policy, the loader's errors,
the rights evaluation and the erasure plan.

The expected tables below are copied from shared/seed/READING.md (which
resolves the seed's merged cells) and from the seed's articles, not from the
YAML: a wrong cell in the file fails here.
"""

from __future__ import annotations

import copy
import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dsar.policy import (
    ERASURE_ACTIONS,
    REQUEST_TYPE_RIGHT,
    REQUEST_TYPES,
    RIGHTS,
    Duration,
    Policy,
    PolicyError,
    PolicyLookupError,
    erasure_plan,
    evaluate_rights,
    get_policy,
    load_policy,
    localized,
)

ROOT = Path(__file__).resolve().parents[2]
IDOMED = ROOT / "workflows" / "idomed.yaml"
SMALL = ROOT / "tests" / "fixtures" / "policy_small.yaml"
README = ROOT / "workflows" / "README.md"
D = date.fromisoformat


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(IDOMED)


@pytest.fixture(scope="module")
def small() -> Policy:
    return load_policy(SMALL)


# --------------------------------------------------------------------------
# Art. 8.1 rights matrices, as READING.md resolves them.
#   Y    = ✓ (applies)
#   -    = empty cell (not applicable)
#   n/a  = "sans objet" (not applicable, with a note)
#   C:x  = applies under condition x (cd = "données sensibles";
#          ph = "patient, for the sharing of health data", patients only)
# --------------------------------------------------------------------------

RIGHT_ROWS = ("access", "rectification", "consent_withdrawal", "objection", "erasure", "portability", "restriction", "automated_decision")

CLIENT_FILE_COLUMNS = ("user_management", "prospection", "commercial_statistics", "request_management", "debt_collection", "user_reviews")
CLIENT_FILE_MATRIX = {
    #                      1 contrat  2 prospection  3 statistiques  4 Demandes  5 contentieux  6 avis
    "access":             ("Y",       "Y",           "Y",            "Y",        "Y",           "Y"),
    "rectification":      ("Y",       "Y",           "Y",            "Y",        "Y",           "Y"),
    "consent_withdrawal": ("C:sd",    "-",           "-",            "-",        "-",           "-"),
    "objection":          ("-",       "Y",           "Y",            "-",        "-",           "Y"),
    "erasure":            ("Y",       "Y",           "Y",            "Y",        "Y",           "Y"),
    "portability":        ("Y",       "-",           "-",            "-",        "Y",           "-"),
    "restriction":        ("Y",       "Y",           "Y",            "Y",        "Y",           "Y"),
    "automated_decision": ("n/a",     "n/a",         "n/a",          "n/a",      "n/a",         "n/a"),
}

APPLICATION_COLUMNS = ("telemedicine_tools", "account_personalisation", "user_support", "service_improvement", "security", "request_management")
# Columns 1-3 are one merged cell (contract), 5-6 another (legal obligation).
APPLICATION_MATRIX = {
    #                      1 télémédecine  2 personnalisation  3 support  4 amélioration  5 sécurité  6 Demandes
    "access":             ("Y",            "Y",                "Y",       "Y",            "Y",        "Y"),
    "rectification":      ("Y",            "Y",                "Y",       "Y",            "Y",        "Y"),
    "consent_withdrawal": ("C:ph",         "C:ph",             "C:ph",    "-",            "-",        "-"),
    "objection":          ("C:ph",         "C:ph",             "C:ph",    "Y",            "Y",        "Y"),
    "erasure":            ("Y",            "Y",                "Y",       "Y",            "Y",        "Y"),
    "portability":        ("Y",            "Y",                "Y",       "-",            "-",        "-"),
    "restriction":        ("Y",            "Y",                "Y",       "Y",            "Y",        "Y"),
    "automated_decision": ("n/a",          "n/a",              "n/a",     "n/a",          "n/a",      "n/a"),
}

CONDITIONS = {
    "sd": ("Données sensibles", None),
    "ph": ("Patient, pour le partage de données de santé", ("patient",)),
}


def _cell(rule) -> str:
    """The YAML cell written in the notation of the expected tables."""
    if rule.status == "applies":
        return "Y"
    if rule.status == "not_applicable":
        return "n/a" if rule.note else "-"
    for code, (text, kinds) in CONDITIONS.items():
        if rule.condition["fr"].startswith(text) and rule.subject_kinds == kinds:
            return f"C:{code}"
    return f"C:?{rule.condition['fr']}"


def _matrix(policy: Policy, activity: str) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    sps = policy.activity(activity).sub_purposes
    return tuple(sp.key for sp in sps), {right: tuple(_cell(sp.rights[right]) for sp in sps) for right in RIGHT_ROWS}


def test_rights_tuple_is_the_matrix_rows():
    assert RIGHTS == RIGHT_ROWS


@pytest.mark.parametrize(
    "activity, columns, expected",
    [
        pytest.param("client_file", CLIENT_FILE_COLUMNS, CLIENT_FILE_MATRIX, id="Fichier Clients/Prospects"),
        pytest.param("application", APPLICATION_COLUMNS, APPLICATION_MATRIX, id="Application Idomed"),
    ],
)
def test_rights_matrix_matches_art_8_1_cell_by_cell(policy, activity, columns, expected):
    got_columns, got = _matrix(policy, activity)
    assert got_columns == columns
    for right in RIGHT_ROWS:
        for column, want, have in zip(columns, expected[right], got[right]):
            assert have == want, f"{activity}.{column}.{right}: policy file says {have}, READING.md says {want}"


def test_consent_withdrawal_in_the_client_file_says_why_it_is_conditional(policy):
    rule = policy.activity("client_file").sub_purpose("user_management").rights["consent_withdrawal"]
    # art. 8.2 ties the withdrawal to the patient's account in the application.
    assert "8.2" in rule.note["fr"] and "Compte" in rule.note["fr"]
    assert rule.condition["en"]


# --------------------------------------------------------------------------
# Art. 4-6: activities, controllers, data subjects, legal bases
# --------------------------------------------------------------------------

LEGAL_BASES_ART_6 = {
    ("client_file", "user_management"): "contract",  # Exécution d'un contrat
    ("client_file", "prospection"): "legitimate_interest",  # Intérêts légitimes
    ("client_file", "commercial_statistics"): "legitimate_interest",  # Intérêts légitimes
    ("client_file", "request_management"): "legal_obligation",  # Obligation légale
    ("client_file", "debt_collection"): "contract",  # Exécution du contrat
    ("client_file", "user_reviews"): "legitimate_interest",  # Intérêt légitime
    ("application", "telemedicine_tools"): "contract",
    ("application", "account_personalisation"): "contract",
    ("application", "user_support"): "contract",
    ("application", "service_improvement"): "legitimate_interest",
    ("application", "security"): "legal_obligation",
    ("application", "request_management"): "legal_obligation",
}


def test_legal_basis_per_sub_purpose_matches_art_6(policy):
    got = {(a.key, sp.key): sp.legal_basis for a in policy.activities.values() for sp in a.sub_purposes}
    assert got == LEGAL_BASES_ART_6


def test_sensitive_data_rest_on_medical_care_in_the_application_only(policy):
    app = policy.activity("application")
    assert app.sensitive_data.basis == "medical_care"
    assert "prise en charge médicale" in app.sensitive_data.label["fr"]
    assert policy.activity("client_file").sensitive_data is None


def test_activities_controllers_and_subjects_match_art_4_and_5(policy):
    cf, app = policy.activity("client_file"), policy.activity("application")
    assert cf.name["fr"] == "Fichier Clients/Prospects" and app.name["fr"] == "Application Idomed"
    assert (cf.joint, cf.controllers) == (False, ("idomed",))
    assert (app.joint, app.controllers) == (True, ("idomed", "professional"))
    assert set(cf.data_subjects) == {"professional", "prospect"}
    assert set(app.data_subjects) == {"patient", "professional"}
    assert [a.key for a in policy.activities_for_subject("patient")] == ["application"]
    assert [a.key for a in policy.activities_for_subject("prospect")] == ["client_file"]
    assert [a.key for a in policy.activities_for_subject("professional")] == ["client_file", "application"]
    assert cf.sub_purpose("prospection").direct_marketing is True


def test_request_responsibilities_match_art_5(policy):
    app = policy.activity("application")
    assert set(app.parties("receive", "patient")) == {"professional", "idomed"}
    assert app.parties("examine", "patient") == ("professional",)
    assert app.parties("examine", "patient", role="support") == ("idomed",)
    assert policy.answering_parties("application", "patient") == ("professional",)
    assert policy.answering_parties("application", "professional") == ("idomed",)
    assert app.parties("examine", "professional", role="support") == ("professional",)
    assert app.responsibilities.notify_recipients == {"professional": "in_charge", "idomed": "in_charge"}
    # A processing under IDOMED alone: IDOMED does everything.
    assert policy.answering_parties("client_file", "prospect") == ("idomed",)


def test_controller_contact_and_complaint_authority(policy):
    c = policy.controller
    assert c.name == "IDOMED"
    # contact@idomed.fr is the address for lost login devices (policy art. 10), not the DPO's: the policy
    # names no DPO contact, so the file says none (a configuration warning; issue 13 item 11).
    assert c.contact_email == "contact@idomed.fr" and c.dpo.email is None and c.dpo_email is None
    assert c.postal_address is None  # not in the policy: left for the operator
    assert c.complaint_authority.name == "CNIL"
    assert c.complaint_authority.url == "https://www.cnil.fr/fr/plaintes/internet"
    assert c.complaint_authority.postal_address == "CNIL, 3 Place de Fontenoy, TSA 80715, 75334 Paris Cedex 07"
    assert "controller.postal_address" in policy.configuration_gaps()


# --------------------------------------------------------------------------
# Art. 7 and 12: data categories and retention
# (activity, category): (subject kinds, active rule, active duration,
#                        archive duration, archive from, archive grounds, other grounds)
# --------------------------------------------------------------------------

Y10 = Duration(years=10)
RETENTION_ART_12 = {
    ("client_file", "identification"): ({"professional", "prospect"}, "contract_plus", Duration(years=3), Y10, "contract_end", {"legal_obligation"}, set()),
    ("client_file", "identity_proof"): ({"professional", "prospect"}, "fixed", Duration(years=1), None, None, None, {"evidence", "legal_obligation"}),
    ("client_file", "contract"): ({"professional", "prospect"}, "contract", None, Y10, "contract_end", {"evidence", "legal_obligation"}, set()),
    ("client_file", "professional_life"): ({"professional", "prospect"}, "contract_plus", Duration(years=3), Y10, "contract_end", {"legal_obligation"}, set()),
    ("client_file", "banking"): ({"professional"}, "contract", None, Y10, "invoice", {"legal_obligation"}, set()),
    ("application", "identification"): ({"professional", "patient"}, "contract", None, Y10, "contract_end", {"evidence"}, set()),
    ("application", "registration_proof"): ({"professional"}, "until_validation", None, None, None, None, set()),
    ("application", "contract"): ({"professional", "patient"}, "contract", None, Y10, "contract_end", {"evidence"}, set()),
    ("application", "professional_life"): ({"professional"}, "contract", None, Y10, "contract_end", {"evidence"}, set()),
    ("application", "payment_status"): ({"professional"}, "contract", None, Y10, "contract_end", {"evidence"}, set()),
    ("application", "connection_logs"): ({"professional", "patient"}, "rolling", Duration(months=12), None, None, None, {"legal_obligation", "evidence"}),
    ("application", "device_data"): ({"professional", "patient"}, "while_used", None, None, None, None, set()),
    ("application", "usage_statistics"): ({"professional", "patient"}, "rolling", Duration(months=13), None, None, None, set()),
    ("application", "conversations"): ({"patient"}, "after_last_use", Duration(months=24), None, None, None, set()),
    ("application", "patient_record_never_logged_in"): ({"patient"}, "after_last_use", Duration(months=24), None, None, None, set()),
    ("application", "patient_record_logged_in"): ({"patient"}, "contract_or_after_last_use", Duration(months=24), None, None, None, set()),
}


def test_every_art_12_category_and_no_other(policy):
    assert {(c.activity, c.key) for c in policy.data_categories} == set(RETENTION_ART_12)


@pytest.mark.parametrize("activity, category", list(RETENTION_ART_12), ids=[f"{a}.{c}" for a, c in RETENTION_ART_12])
def test_retention_per_category_matches_art_12(policy, activity, category):
    kinds, kind, duration, archive, anchor, archive_grounds, grounds = RETENTION_ART_12[(activity, category)]
    (cat,) = [c for c in policy.categories_for(activity) if c.key == category]
    ret = cat.retention
    assert set(cat.subject_kinds) == kinds
    assert (ret.active.kind, ret.active.duration) == (kind, duration)
    if archive is None:
        assert ret.archive is None
    else:
        assert (ret.archive.duration, ret.archive.anchor, set(ret.archive.grounds)) == (archive, anchor, archive_grounds)
    assert set(ret.grounds) == grounds
    assert ret.label["fr"] and ret.label["en"]


def test_usage_statistics_reports_are_kept_25_months(policy):
    (cat,) = [c for c in policy.categories_for("application") if c.key == "usage_statistics"]
    assert cat.retention.derived.duration == Duration(months=25)


def test_sensitive_categories_are_the_patients(policy):
    sensitive = {c.key for c in policy.data_categories if c.sensitive}
    assert sensitive == {"conversations", "patient_record_never_logged_in", "patient_record_logged_in"}
    assert all(c.activity == "application" for c in policy.data_categories if c.sensitive)


def test_identity_document_copy_is_kept_one_year(policy):
    identity = policy.identity
    assert identity.copy_retention == Duration(years=1)  # art. 12
    assert identity.document_needed(authenticated=False) is True  # art. 8.1
    assert identity.document_needed(authenticated=True) is False
    assert identity.accepted_types == ("application/pdf", "image/jpeg", "image/png")
    assert identity.max_size_bytes == 10 * 1024 * 1024
    assert identity.delete_unconfirmed_after == Duration(days=7)


# --------------------------------------------------------------------------
# Art. 11: recipients and transfers
# --------------------------------------------------------------------------

RECIPIENTS_ART_11 = {
    "client_file": {
        "Service commercial": "internal",
        "Service support": "internal",
        "Service comptable et juridique": "internal",
        "Sendgrid (Twilio)": "processor",
        "Mailjet": "processor",
        "Zapier": "processor",
        "Stripe": "processor",
        "GoCardless": "processor",
        "Zoho": "processor",
        "Autorités publiques compétentes": "authority",
    },
    "application": {
        "Utilisateurs Patients": "internal",
        "Utilisateurs Professionnels": "joint_controller",
        "Administrateur (pour dépannage à chaud)": "internal",
        "Amazon Web Services EMEA": "processor",
        "Nexmo (Vonage)": "processor",
        "Tokbox (Vonage)": "processor",
        "Firebase (Google)": "processor",
        "Gsuite (Google)": "processor",
        "Autorités publiques compétentes": "authority",
    },
}

# Recipients the policy says transfer data outside the EU under the Privacy Shield.
PRIVACY_SHIELD = {"sendgrid", "zapier", "stripe", "nexmo", "tokbox", "firebase", "gsuite"}


@pytest.mark.parametrize("activity", ["client_file", "application"])
def test_recipients_per_activity_match_art_11(policy, activity):
    got = {r.name["fr"]: r.kind for r in policy.recipients_for(activity)}
    assert got == RECIPIENTS_ART_11[activity]


def test_every_recipient_has_a_notification_contact(policy):
    for r in policy.recipients:
        assert (r.contact_email is None) != (r.contact_rule is None), r.key
    professional = [r for r in policy.recipients_for("application") if r.kind == "joint_controller"]
    assert [(r.joint_controller, r.contact_rule) for r in professional] == [("professional", "professional_in_charge")]
    # Addresses the policy does not give are visible placeholders, never real-looking ones.
    placeholders = {r.key for r in policy.placeholder_contacts()}
    assert {"sendgrid", "mailjet", "zoho", "aws", "firebase"} <= placeholders
    assert all(r.contact_email.endswith(".invalid") for r in policy.placeholder_contacts())
    assert "recipients.client_file.sendgrid.contact_email" in policy.configuration_gaps()


def test_transfers_outside_the_eu_are_flagged_with_their_safeguard(policy):
    shielded = {r.key for r in policy.recipients for t in r.transfers if t.safeguard == "privacy_shield"}
    assert shielded == PRIVACY_SHIELD
    for r in policy.recipients:
        for t in r.transfers:
            if t.safeguard == "privacy_shield":
                assert t.invalidated and t.countries == ("US",)
    vonage = {r.key: [t.safeguard for t in r.transfers] for r in policy.recipients if r.key in ("nexmo", "tokbox")}
    assert vonage == {"nexmo": ["privacy_shield", "standard_contractual_clauses"], "tokbox": ["privacy_shield", "standard_contractual_clauses"]}
    no_transfer = {r.key for r in policy.recipients if r.kind == "processor" and not r.outside_eu}
    assert no_transfer == {"mailjet", "gocardless", "zoho", "aws"}
    assert policy.transfers.health_data_outside_eu is False
    assert "santé" in policy.transfers.statement["fr"]


# --------------------------------------------------------------------------
# Deadlines, routing, delivery, request types
# --------------------------------------------------------------------------


def test_deadline_rules(policy):
    d = policy.deadlines
    assert (d.months, d.extension_months) == (1, 2)
    assert (d.calendar.country, d.calendar.subdivision) == ("FR", None)
    mr = d.medical_record
    assert (mr.days, mr.old_information_months, mr.old_information_years, mr.minimum_wait_hours) == (8, 2, 5, 48)


def test_routing_sends_patients_application_requests_to_their_professional(policy):
    rule = policy.route_for("application", "patient")
    assert (rule.route_to, rule.fallback) == ("professional_in_charge", "staff")
    assert policy.route_for("application", "professional") is None
    assert policy.route_for("client_file", "prospect") is None
    r = policy.routing
    assert (r.reminder_every_days, r.escalate_without_ack_days, r.escalate_days_before_due, r.task_link_valid_days) == (5, 14, 7, 30)
    assert (policy.delivery.download_link_valid_days, policy.delivery.purge_grace_days) == (14, 7)


def test_every_request_type_has_steps(policy):
    assert tuple(policy.request_types) == REQUEST_TYPES
    for key, rt in policy.request_types.items():
        assert rt.steps and rt.right == REQUEST_TYPE_RIGHT[key]
    assert REQUEST_TYPE_RIGHT["post_mortem_directive"] is None


def test_access_answer_carries_every_art_15_item(policy):
    letter = [s for s in policy.request_types["access"].steps if s.letter_items]
    assert len(letter) == 1
    assert set(letter[0].letter_items) == {
        "purposes", "categories", "recipients", "retention", "rights", "complaint", "source", "automated_decisions", "transfers",
    }
    keys = [s.key for s in policy.request_types["access"].steps]
    assert keys.index("gather_data") < keys.index("check_third_party_data") < keys.index("produce_letter")


def test_erasure_and_rectification_notify_each_recipient(policy):
    for rt in ("erasure", "rectification", "restriction"):
        notify = [s for s in policy.request_types[rt].steps if s.per == "recipient"]
        assert [(s.key, s.gdpr, s.required_before) for s in notify] == [("notify_recipients", "art. 19", "closed")]
    assert policy.request_types["erasure"].steps[0].key == "plan_erasure"


def test_portability_exports_json_and_csv(policy):
    formats = {f for s in policy.request_types["portability"].steps for f in s.formats}
    assert formats == {"json", "csv"}


def test_consent_withdrawal_deactivates_the_patient_account_only(policy):
    patient = [s.key for s in policy.steps_for("consent_withdrawal", ["application"], "patient")]
    professional = [s.key for s in policy.steps_for("consent_withdrawal", ["client_file", "application"], "professional")]
    assert "deactivate_patient_account" in patient
    assert "deactivate_patient_account" not in professional


def test_objection_to_prospection_adds_to_the_suppression_list(policy):
    assert "add_to_suppression_list" in [s.key for s in policy.steps_for("objection", ["client_file"], "prospect")]
    assert "add_to_suppression_list" not in [s.key for s in policy.steps_for("objection", ["application"], "patient")]


def test_post_mortem_directive_registers_an_executor(policy):
    keys = [s.key for s in policy.request_types["post_mortem_directive"].steps]
    assert "register_directive" in keys and "register_executor" in keys
    assert "art. 85" in policy.request_types["post_mortem_directive"].legal_reference["fr"]


def test_readme_documents_every_top_level_key():
    from dsar.policy import PolicySchema

    text = README.read_text(encoding="utf-8")
    for key in PolicySchema().load_fields:
        assert f"`{key}`" in text, key


# --------------------------------------------------------------------------
# Loader errors: each names the file and the dotted key
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(IDOMED.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _rename_right(d):
    rights = d["activities"]["client_file"]["sub_purposes"][2]["rights"]
    rights["acces"] = rights.pop("access")


def _bad_sub_purpose_ref(d):
    d["request_types"]["objection"]["steps"][1]["when"]["sub_purposes"] = ["client_file.prospektion"]


def _bad_request_type(d):
    d["request_types"]["acess"] = d["request_types"].pop("access")


def _negative_duration(d):
    d["data_categories"]["client_file"][0]["retention"]["archive"]["duration"]["years"] = -10


def _missing_key(d):
    del d["deadlines"]["months"]


def _unknown_top_level(d):
    d["controler"] = {"name": "IDOMED"}


def _wrong_type(d):
    d["identity"]["max_size_bytes"] = "10 MiB"


def _unknown_state(d):
    d["request_types"]["erasure"]["steps"][3]["required_before"] = "answerd"


def _unknown_subject_kind(d):
    d["data_categories"]["client_file"][1]["subject_kinds"] = ["professional", "patient"]


def _privacy_shield_as_valid(d):
    d["recipients"]["client_file"][3]["transfers"][0]["safeguard_status"] = "as_stated"


def _missing_request_type(d):
    del d["request_types"]["portability"]


def _missing_default_language(d):
    del d["activities"]["application"]["sub_purposes"][0]["name"]["fr"]


def _bad_activity_reference(d):
    d["routing"]["rules"][0]["activities"] = ["app"]


def _unknown_right_status(d):
    d["activities"]["application"]["sub_purposes"][4]["rights"]["objection"] = "yes"


def _unknown_retention_rule(d):
    d["data_categories"]["application"][5]["retention"]["active"] = {"sliding": {"months": 12}}


def _pdf_only_portability(d):
    d["request_types"]["portability"]["steps"][0]["formats"] = ["pdf"]


LOADER_ERRORS = [
    (_rename_right, "activities.client_file.sub_purposes[2].rights.acces", "unknown right 'acces'"),
    (_bad_sub_purpose_ref, "request_types.objection.steps[1].when.sub_purposes[0]", "unknown sub-purpose 'client_file.prospektion'"),
    (_bad_request_type, "request_types.acess", "unknown request type 'acess'"),
    (_negative_duration, "data_categories.client_file[0].retention.archive.duration.years", "negative duration (-10)"),
    (_missing_key, "deadlines.months", "missing required key"),
    (_unknown_top_level, "controler", "unknown key 'controler'"),
    (_wrong_type, "identity.max_size_bytes", "wrong type: expected an integer"),
    (_unknown_state, "request_types.erasure.steps[3].required_before", "unknown state 'answerd'"),
    (_unknown_subject_kind, "data_categories.client_file[1].subject_kinds[1]", "unknown subject kind 'patient'"),
    (_privacy_shield_as_valid, "recipients.client_file[3].transfers[0].safeguard_status", "privacy_shield was invalidated on 2020-07-16"),
    (_missing_request_type, "request_types.portability", "missing request type 'portability'"),
    (_missing_default_language, "activities.application.sub_purposes[0].name", "missing text in the default language 'fr'"),
    (_bad_activity_reference, "routing.rules[0].activities[0]", "unknown activity 'app'"),
    (_unknown_right_status, "activities.application.sub_purposes[4].rights.objection", "unknown right status 'yes'"),
    (_unknown_retention_rule, "data_categories.application[5].retention.active.sliding", "unknown retention rule 'sliding'"),
    (_pdf_only_portability, "request_types.portability.steps[0].formats", "machine-readable"),
]


@pytest.mark.parametrize("mutate, key, problem", LOADER_ERRORS, ids=[m.__name__.strip("_") for m, _, _ in LOADER_ERRORS])
def test_loader_error_names_the_file_and_the_key(raw, tmp_path, mutate, key, problem):
    data = copy.deepcopy(raw)
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    err = info.value
    lines = str(err).splitlines()
    matching = [line for line in lines if line.startswith(f"{path}: {key}: ") and problem in line]
    assert matching, f"no line '{path}: {key}: …{problem}…' in:\n{err}"
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert any(p == key for p, _ in err.problems)


def test_the_unmodified_dump_loads(raw, tmp_path):
    """The mutations above start from a valid file: their errors come from the mutation."""
    assert load_policy(_write(tmp_path, copy.deepcopy(raw))).key == "idomed"


def test_duplicate_yaml_key_is_an_error(tmp_path):
    text = IDOMED.read_text(encoding="utf-8").replace("  months: 1\n", "  months: 1\n  months: 2\n", 1)
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"dup\.yaml: line \d+, column \d+: not valid YAML: found duplicate key 'months'"):
        load_policy(path)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(PolicyError, match="nope.yaml: cannot read"):
        load_policy(tmp_path / "nope.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"list\.yaml: \(top level\): wrong type"):
        load_policy(path)


def test_several_problems_are_reported_together(raw, tmp_path):
    data = copy.deepcopy(raw)
    _missing_key(data)
    _unknown_top_level(data)
    with pytest.raises(PolicyError) as info:
        load_policy(_write(tmp_path, data))
    assert {"deadlines.months", "controler"} <= {p for p, _ in info.value.problems}


def test_lookups_of_unknown_keys_raise_a_key_error(policy):
    with pytest.raises(PolicyLookupError, match="unknown activity 'crm'"):
        policy.activity("crm")
    with pytest.raises(KeyError):
        policy.recipients_for("crm")
    with pytest.raises(PolicyLookupError, match="unknown subject kind 'visitor'"):
        policy.activities_for_subject("visitor")
    with pytest.raises(PolicyLookupError, match="unknown sub-purpose 'nope'"):
        policy.sub_purpose("client_file.nope")


def test_get_policy_loads_once():
    assert get_policy(IDOMED) is get_policy(str(IDOMED))


# --------------------------------------------------------------------------
# The small policy: nothing is wired to IDOMED
# --------------------------------------------------------------------------


def test_small_policy_loads_with_its_own_calendar_and_schedule(small):
    assert small.key == "kine_metz" and small.controller.name == "Cabinet Kiné Exemple"
    assert list(small.activities) == ["appointments"]
    assert (small.deadlines.calendar.country, small.deadlines.calendar.subdivision) == ("FR", "57")
    assert small.deadlines.medical_record is None
    assert (small.routing.reminder_every_days, small.routing.escalate_without_ack_days) == (3, 10)
    assert small.routing.rules == ()
    assert small.default_language == "en"
    assert small.identity.document_needed(authenticated=True) is True  # "always"
    assert small.identity.copy_retention == Duration(months=6)
    # "always" demands a document copy from everyone: a warning to the DPO (GDPR art. 12(6), reasonable doubt only).
    assert small.configuration_gaps() == ["identity.document_required"]


def test_small_policy_evaluates_differently(policy, small):
    # Consent is a legal basis there: withdrawal simply applies, without condition.
    rows = {r.sub_purpose: r.applies for r in evaluate_rights(small, "consent_withdrawal", None, "client").rows}
    assert rows == {"booking": False, "sms_reminders": True, "no_show_scoring": False}
    idomed_rows = {r.applies for r in evaluate_rights(policy, "consent_withdrawal", None, "professional").rows}
    assert not any(v is True for v in idomed_rows) and "conditional" in idomed_rows
    # Its own article numbering is cited.
    (row,) = [r for r in evaluate_rights(small, "objection", None, "client").rows if r.applies is True]
    assert row.sub_purpose == "no_show_scoring" and "section 3" in row.reason["en"]
    with pytest.raises(PolicyLookupError):
        evaluate_rights(small, "access", ["client_file"], "client")
    with pytest.raises(PolicyLookupError):
        evaluate_rights(small, "access", None, "patient")


def test_small_policy_erasure_plan(small):
    plan = {i.category: (i.action, i.until) for i in erasure_plan(small, None, "client", contract_ended_on=D("2025-01-31"), today=D("2025-03-01"))}
    assert plan == {"contact": ("archive_until", D("2030-01-31")), "sms_log": ("erase_now", None)}


# --------------------------------------------------------------------------
# evaluate_rights
# --------------------------------------------------------------------------


@pytest.mark.parametrize("subject_kind", ["professional", "prospect"])
def test_objection_to_prospection_applies(policy, subject_kind):
    ev = evaluate_rights(policy, "objection", ["client_file"], subject_kind)
    rows = {r.sub_purpose: r for r in ev.rows}
    assert rows["prospection"].applies is True
    assert rows["commercial_statistics"].applies is True  # the merged column of READING.md
    assert "21(2)" in rows["prospection"].reason["en"] and "21(2)" in rows["prospection"].reason["fr"]
    assert rows["user_management"].applies is False
    assert "performance of a contract" in rows["user_management"].reason["en"]


def test_objection_on_the_legal_obligation_column_follows_the_policy_and_says_so(policy):
    rows = {r.sub_purpose: r for r in evaluate_rights(policy, "objection", ["application"], "patient").rows}
    for key in ("security", "request_management"):
        row = rows[key]
        assert row.applies is True and row.legal_basis == "legal_obligation" and row.differs_from_gdpr
        assert "legal obligation" in row.reason["en"] and "does not grant" in row.reason["en"]
        assert "obligation légale" in row.reason["fr"]
    assert rows["service_improvement"].differs_from_gdpr is False
    # In the client file the same column has no tick: objection does not apply there.
    cf = {r.sub_purpose: r for r in evaluate_rights(policy, "objection", ["client_file"], "professional").rows}
    assert cf["request_management"].applies is False
    assert "legal obligation" in cf["request_management"].reason["en"]


@pytest.mark.parametrize("subject_kind", ["professional", "patient", "prospect"])
def test_portability_applies_only_to_contract_sub_purposes(policy, subject_kind):
    ev = evaluate_rights(policy, "portability", None, subject_kind)
    assert ev.rows
    for row in ev.rows:
        assert (row.applies is True) == (row.legal_basis == "contract"), (row.activity, row.sub_purpose)
    assert all(r.legal_basis != "contract" for r in ev.not_applicable_rows)


def test_consent_withdrawal_is_conditional(policy):
    cf = {r.sub_purpose: r for r in evaluate_rights(policy, "consent_withdrawal", ["client_file"], "professional").rows}
    assert cf["user_management"].applies == "conditional"
    assert cf["user_management"].condition["fr"].startswith("Données sensibles")
    assert "8.2" in cf["user_management"].reason["fr"]
    patient = evaluate_rights(policy, "consent_withdrawal", ["application"], "patient")
    assert {r.sub_purpose for r in patient.conditional_rows} == {"telemedicine_tools", "account_personalisation", "user_support"}
    assert patient.applicable_rows == patient.conditional_rows
    # Offered to patients only: a professional user gets "does not apply", with the reason.
    professional = evaluate_rights(policy, "consent_withdrawal", ["application"], "professional")
    assert professional.applicable_rows == []
    assert "Patients, for the sharing of health data" in professional.rows[0].reason["en"]


@pytest.mark.parametrize("subject_kind", ["professional", "patient", "prospect"])
def test_post_mortem_directive_applies_everywhere(policy, subject_kind):
    ev = evaluate_rights(policy, "post_mortem_directive", None, subject_kind)
    expected = sum(len(a.sub_purposes) for a in policy.activities_for_subject(subject_kind))
    assert len(ev.rows) == expected and all(r.applies is True for r in ev.rows)
    assert all("art. 85" in r.reason["fr"] and "8.1" in r.reason["en"] for r in ev.rows)


def test_unknown_request_type_raises(policy):
    with pytest.raises(PolicyLookupError, match="unknown request type 'automated_decision'"):
        evaluate_rights(policy, "automated_decision", None, "patient")
    with pytest.raises(KeyError):
        evaluate_rights(policy, "acces", None, "patient")


def test_activity_that_does_not_concern_the_subject(policy):
    ev = evaluate_rights(policy, "access", ["application"], "prospect")
    assert ev.applicable_rows == [] and len(ev.rows) == 6
    assert "prospect" in ev.rows[0].reason["en"].lower()


def test_every_row_explains_itself_in_both_languages(policy):
    for request_type in REQUEST_TYPES:
        for kind in ("patient", "professional", "prospect"):
            for row in evaluate_rights(policy, request_type, None, kind).rows:
                assert row.reason["fr"] and row.reason["en"] and row.reason["fr"] != row.reason["en"]


def test_summary_lists_what_applies(policy):
    ev = evaluate_rights(policy, "objection", ["client_file"], "prospect")
    en, fr = ev.summary("en"), ev.summary("fr")
    assert en.startswith("The right to object") and fr.startswith("Le droit d'opposition")
    applies, _, not_applies = en.partition("Does not apply to")
    assert "Prospecting" in applies and "Managing users" in not_applies


def test_localized_falls_back_to_french_then_any():
    assert localized({"fr": "bonjour", "en": "hello"}, "en") == "hello"
    assert localized({"fr": "bonjour", "en": "hello"}, "de") == "bonjour"
    assert localized({"de": "hallo"}, "en") == "hallo"
    assert localized(None, "fr") == ""


# --------------------------------------------------------------------------
# erasure_plan
# --------------------------------------------------------------------------

PROFESSIONAL_ENDED = {
    ("client_file", "identification"): ("archive_until", D("2034-06-30"), ("legal_obligation",)),
    ("client_file", "identity_proof"): ("archive_until", D("2026-01-15"), ("evidence", "legal_obligation")),
    ("client_file", "contract"): ("archive_until", D("2034-06-30"), ("evidence", "legal_obligation")),
    ("client_file", "professional_life"): ("archive_until", D("2034-06-30"), ("legal_obligation",)),
    ("client_file", "banking"): ("archive_until", D("2034-06-30"), ("legal_obligation",)),
    ("application", "identification"): ("archive_until", D("2034-06-30"), ("evidence",)),
    ("application", "registration_proof"): ("erase_now", None, ()),
    ("application", "contract"): ("archive_until", D("2034-06-30"), ("evidence",)),
    ("application", "professional_life"): ("archive_until", D("2034-06-30"), ("evidence",)),
    ("application", "payment_status"): ("archive_until", D("2034-06-30"), ("evidence",)),
    ("application", "connection_logs"): ("keep_rolling", D("2026-01-15"), ("legal_obligation", "evidence")),
    ("application", "device_data"): ("erase_now", None, ()),
    ("application", "usage_statistics"): ("erase_now", None, ()),
}


def test_erasure_plan_for_a_professional_whose_contract_ended(policy):
    plan = erasure_plan(policy, ["client_file", "application"], "professional", contract_ended_on=D("2024-06-30"), today=D("2025-01-15"))
    got = {(i.activity, i.category): (i.action, i.until, i.grounds) for i in plan}
    assert got == PROFESSIONAL_ENDED
    by_key = {(i.activity, i.category): i for i in plan}
    ident = by_key[("client_file", "identification")]
    assert ident.gdpr_articles == ("art. 17(3)(b)",)
    assert "2034-06-30" in ident.reason["en"] and "17(3)(b)" in ident.reason["fr"]
    assert by_key[("application", "identification")].gdpr_articles == ("art. 17(3)(e)",)
    assert all(i.responsible == ("idomed",) for i in plan)


def test_erasure_plan_while_the_contract_runs(policy):
    plan = erasure_plan(policy, None, "professional", contract_ended_on=None, today=D("2025-01-15"))
    got = {(i.activity, i.category): i.action for i in plan}
    assert got[("client_file", "identification")] == "keep_while_contract"
    assert got[("application", "payment_status")] == "keep_while_contract"
    assert got[("application", "device_data")] == "keep_while_contract"
    assert got[("application", "connection_logs")] == "keep_rolling"
    assert got[("client_file", "identity_proof")] == "archive_until"
    # A contract ending in the future is still running.
    later = erasure_plan(policy, ["client_file"], "professional", contract_ended_on=D("2025-12-31"), today=D("2025-01-15"))
    assert later[0].action == "keep_while_contract"


def test_erasure_plan_dates_follow_the_invoice_and_month_ends(policy):
    plan = erasure_plan(
        policy, ["client_file"], "professional",
        contract_ended_on=D("2024-02-29"), today=D("2025-01-15"),
        last_invoice_on=D("2024-01-31"), identity_proof_received_on=D("2024-12-01"),
    )
    got = {i.category: i.until for i in plan}
    assert got["identification"] == D("2034-02-28")  # 29 February 2034 does not exist
    assert got["banking"] == D("2034-01-31")  # 10 years from the invoice
    assert got["identity_proof"] == D("2025-12-01")  # 1 year from receipt


def test_erasure_plan_after_the_archive_period(policy):
    plan = erasure_plan(policy, ["client_file"], "professional", contract_ended_on=D("2010-01-01"), today=D("2025-01-15"), identity_proof_received_on=D("2023-01-01"))
    assert {i.action for i in plan} == {"erase_now"}


def test_erasure_plan_for_a_prospect_archives_nothing_but_the_identity_proof(policy):
    plan = {i.category: i.action for i in erasure_plan(policy, None, "prospect", contract_ended_on=None, today=D("2025-01-15"))}
    assert plan == {
        "identification": "erase_now",
        "identity_proof": "archive_until",
        "contract": "erase_now",
        "professional_life": "erase_now",
    }


def test_erasure_plan_for_a_patient_names_the_professional(policy):
    plan = erasure_plan(policy, None, "patient", contract_ended_on=D("2025-01-15"), today=D("2025-01-15"))
    got = {i.category: i for i in plan}
    assert set(got) == {c.key for c in policy.categories_for("application", "patient")}
    # Policy art. 12: conversations are destroyed only after being handed to the professional (see below).
    assert got["conversations"].sensitive and got["conversations"].action == "hand_over_to_professional"
    assert got["identification"].action == "archive_until"
    assert all(i.responsible == ("professional", "idomed") for i in plan if i.action != "hand_over_to_professional")
    assert "Utilisateur professionnel" in got["conversations"].reason["fr"]


def test_health_data_of_the_joint_processing_are_handed_to_the_professional_not_erased_now(policy):
    """Policy art. 12: "Destruction après remise à l'Utilisateur Professionnel au terme de son contrat".

    The patient's conversations and the record of a patient who never logged in are part of the professional's
    record (CSP L.1111-7, R.4127-45; GDPR art. 17(3)(b)-(c)): never planned "erase now", whatever the dates.
    """
    for today in (D("2026-03-02"), D("2031-01-01")):
        plan = {i.category: i for i in erasure_plan(policy, ["application"], "patient", contract_ended_on=today,
                                                     today=today, professional_contract_ends_on=D("2027-06-30"))}
        for key in ("conversations", "patient_record_never_logged_in"):
            item = plan[key]
            assert item.action == "hand_over_to_professional" and item.action in ERASURE_ACTIONS
            assert item.responsible == ("professional",)          # the professional decides for their record
            assert item.until == D("2027-06-30")
            assert {"art. 17(3)(b)", "art. 17(3)(c)"} == set(item.gdpr_articles)
            assert "remises au terme de son contrat" in item.reason["fr"] and "art. 12" in item.reason["fr"]
    unknown_end = {i.category: i for i in erasure_plan(policy, ["application"], "patient", contract_ended_on=None,
                                                        today=D("2026-03-02"))}
    assert unknown_end["conversations"].until is None
    # The rule is the policy's, not a label: a category without the disposal is planned as before.
    assert all(i.action != "hand_over_to_professional" for i in erasure_plan(
        policy, ["client_file"], "professional", contract_ended_on=D("2026-03-02"), today=D("2026-03-02")))


def test_a_disposal_the_policy_does_not_know_stops_the_load(tmp_path):
    text = IDOMED.read_text().replace("disposal: handover_to_professional", "disposal: give_away", 1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(PolicyError) as err:
        load_policy(bad)
    assert "disposal" in str(err.value)


@settings(max_examples=200, deadline=None)
@given(
    ended=st.one_of(st.none(), st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))),
    today=st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31)),
    kind=st.sampled_from(["patient", "professional", "prospect"]),
)
def test_erasure_plan_never_keeps_data_into_the_past(ended, today, kind):
    policy = get_policy(IDOMED)
    for item in erasure_plan(policy, None, kind, contract_ended_on=ended, today=today):
        assert item.action in ERASURE_ACTIONS
        if item.action in ("archive_until", "keep_rolling"):
            assert item.until is not None and item.until > today and item.grounds
        else:
            assert item.until is None
        if item.action == "keep_while_contract":
            assert ended is None or ended > today


def test_duration_arithmetic():
    assert Duration(months=1).after(D("2025-01-31")) == D("2025-02-28")
    assert Duration(years=1).after(D("2024-02-29")) == D("2025-02-28")
    assert Duration(years=10, days=1).after(D("2024-06-30")) == D("2034-07-01")
    assert Duration(days=7).as_timedelta().days == 7
    with pytest.raises(ValueError):
        Duration(months=1).as_timedelta()
    assert Duration(years=1).describe("fr") == "1 an" and Duration(months=12).describe("en") == "12 months"


def test_no_flask_in_the_policy_module():
    modules = sorted((ROOT / "dsar" / "policy").glob("*.py"))
    assert len(modules) > 1
    for module in modules:
        source = module.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) flask", source, re.MULTILINE), module.name
