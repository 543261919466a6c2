"""The directory of professionals and care links: CSV import, API upserts, the values they accept (policy art. 8.2)."""
from __future__ import annotations

import io
from datetime import date

import pytest
import sqlalchemy as sa

from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import CareLink, Professional
from dsar.models.enums import Status, TaskStatus
from dsar.services import directory, routing
from dsar.services.directory import BadValue
from routing_support import RPPS, outbox, patient_request, task_of


def pros() -> dict[str, Professional]:
    return {p.external_id: p for p in db.session.scalars(sa.select(Professional))}


def links() -> list[CareLink]:
    return list(db.session.scalars(sa.select(CareLink).order_by(CareLink.id)))


# --- values ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw,expected", [
    ("06 12 34 56 78", "+33612345678"),
    ("06.12.34.56.78", "+33612345678"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("+33 (0)6 12 34 56 78", "+33612345678"),
    ("0033612345678", "+33612345678"),
    ("+44 20 7946 0958", "+442079460958"),
    ("  ", None),
    (None, None),
])
def test_phone_numbers_are_normalised_to_international_form(raw, expected):
    assert directory.normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["612345678", "call me", "+33 6 12", "+1234567890123456", "06-12-34-56-7X"])
def test_what_is_not_a_phone_number_is_refused(raw):
    with pytest.raises(BadValue) as err:
        directory.normalise_phone(raw)
    assert err.value.code == "bad_phone"
    assert directory.phone_key(raw) is None


def test_rpps_numbers_carry_a_luhn_key():
    # Real numbers from the public Annuaire Santé extraction all pass; changing one digit breaks the key.
    for number in RPPS:
        assert directory.normalise_rpps(number) == number
        broken = number[:-1] + str((int(number[-1]) + 1) % 10)
        with pytest.raises(BadValue) as err:
            directory.normalise_rpps(broken)
        assert "Luhn" in err.value.message
    assert directory.normalise_rpps(" 100 010 453 67 ") == "10001045367"
    for bad in ("1000104536", "100010453670", "1000104536A"):
        with pytest.raises(BadValue) as err:
            directory.normalise_rpps(bad)
        assert err.value.code == "bad_rpps" and "11 digits" in err.value.message


@pytest.mark.parametrize("raw", ["not-an-email", "a@b", "two@@example.test", "dot.@example.test", "x@example.test\nBcc: y@z.test",
                                 "a" * 65 + "@example.test"])
def test_bad_emails_are_refused(raw):
    with pytest.raises(BadValue):
        directory.normalise_email(raw)


@pytest.mark.parametrize("address", ["André.Dupont@exemple.fr", "o'neil+dsar@exemple.fr", "jeanne@exemple.xn--p1ai"])
def test_an_address_intake_accepts_is_importable_and_matches_its_care_link(app, policy, address):
    """One email rule (dsar.contacts): an address accepted at intake and refused by the directory import would
    silently never match a care link. RFC 6531 lets the part before the @ be UTF-8; IDN top-level domains are
    written xn--… ."""
    from dsar.services import intake

    email = intake.normalise_email(address)
    assert email == address.lower()
    directory.upsert_professionals([{"external_id": "pro-utf8", "first_name": "Anne", "last_name": "Martin",
                                     "email": email}])
    report = directory.upsert_care_links([{"professional_external_id": "pro-utf8", "patient_ref": "pat-1",
                                           "patient_email": address}])
    assert report.ok and report.created == 1, [r.to_dict() for r in report.rejected]
    req = patient_request(policy, email=email)
    assert [link.patient_ref for link in routing.matching_links(req)] == ["pat-1"]
    assert [p.external_id for p in routing.find_professionals_for(req)] == ["pro-utf8"]


def test_emails_are_lower_cased_and_dates_read_in_both_forms():
    assert directory.normalise_email("  Dr.Martin@Cabinet.EXAMPLE.fr ") == "dr.martin@cabinet.example.fr"
    assert directory.parse_date("2026-03-05") == directory.parse_date("05/03/2026") == date(2026, 3, 5)
    assert directory.parse_bool("oui") is True and directory.parse_bool("false") is False
    assert directory.parse_bool("", default=True) is True
    with pytest.raises(BadValue):
        directory.parse_date("5 mars 2026")


# --- professionals from CSV -------------------------------------------------------------------------------------

PROFESSIONALS_CSV = (
    "\ufeffexternal_id;first_name;last_name;email;rpps;language;active;contract_ended_on\n"
    f"pro-1;Alice;Martin;Alice.Martin@example.test;{RPPS[0]};fr;oui;\n"
    f"pro-2;Bob;Durand;bob@example.test;{RPPS[1]};en;true;\n"
    "pro-3;Chloé;Petit;chloe@example.test;10001045368;fr;oui;\n"        # Luhn key wrong
    "pro-4;Denis;Roux;not-an-email;;fr;oui;\n"
    "pro-5;;Leroy;eve@example.test;;fr;oui;\n"                          # no first name
    f"pro-1;Alice;Again;alice2@example.test;;fr;oui;\n"                 # duplicate id
    f"pro-6;Fanny;Blanc;fanny@example.test;{RPPS[0]};fr;oui;\n"       # RPPS of pro-1
    "pro-7;Gaël;Noir;gael@example.test;;de;oui;\n"                      # language
    "pro-8;Hugo;Vert;hugo@example.test;;fr;non;31/01/2026\n"
    "\n"
)


def test_importing_professionals_reports_every_rejected_line(app):
    report = directory.import_professionals(io.BytesIO(PROFESSIONALS_CSV.encode("utf-8")))
    db.session.commit()

    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    rejected = {(r.line, r.field, r.code) for r in report.rejected}
    assert rejected == {
        (4, "rpps", "bad_rpps"), (5, "email", "bad_email"), (6, "first_name", "required"),
        (7, "external_id", "duplicate"), (8, "rpps", "rpps_taken"), (9, "language", "bad_language"),
    }
    found = pros()
    assert set(found) == {"pro-1", "pro-2", "pro-8"}
    assert found["pro-1"].email == "alice.martin@example.test" and found["pro-2"].language == "en"
    assert found["pro-8"].active is False and found["pro-8"].contract_ended_on == date(2026, 1, 31)
    text = "\n".join(report.lines())
    assert "3 created, 0 updated, 0 unchanged, 6 rejected" in text
    assert "line 4 [pro-3]: rpps: This RPPS number is not valid" in text


def test_importing_the_same_file_twice_changes_nothing(app):
    data = PROFESSIONALS_CSV.encode("utf-8")
    directory.import_professionals(io.BytesIO(data))
    db.session.commit()
    second = directory.import_professionals(io.BytesIO(data))
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    changed = data.replace(b"Bob;Durand", b"Bob;Durand-Leclerc")
    third = directory.import_professionals(io.BytesIO(changed))
    assert (third.created, third.updated, third.unchanged) == (0, 1, 2)
    assert pros()["pro-2"].last_name == "Durand-Leclerc"


def test_a_file_with_an_unknown_column_is_refused_whole(app):
    data = ("external_id,first_name,last_name,email,diagnosis\n"
            "pro-1,Alice,Martin,alice@example.test,asthma\n").encode()
    report = directory.import_professionals(io.BytesIO(data))
    assert report.file_error and "'diagnosis'" in report.file_error and "no health data" in report.file_error
    assert report.accepted == 0 and pros() == {}


def test_a_file_missing_a_required_column_is_refused(app):
    report = directory.import_professionals(io.BytesIO(b"external_id,first_name,email\npro-1,A,a@example.test\n"))
    assert report.file_error == "missing column(s): last_name" and pros() == {}


def test_windows_1252_files_from_excel_are_read(app):
    data = "external_id;first_name;last_name;email\npro-9;Françoise;Lefèvre;francoise@example.test\n".encode("cp1252")
    report = directory.import_professionals(io.BytesIO(data))
    assert report.encoding == "cp1252" and report.created == 1
    assert pros()["pro-9"].first_name == "Françoise"


def test_a_line_with_the_wrong_number_of_cells_is_rejected_alone(app):
    data = b"external_id,first_name,last_name,email\npro-1,A,B,a@example.test\npro-2,C,D\n"
    report = directory.import_professionals(io.BytesIO(data))
    assert report.created == 1 and [(r.line, r.code) for r in report.rejected] == [(3, "bad_columns")]


# --- API upserts ------------------------------------------------------------------------------------------------


def test_upserts_are_idempotent_and_partial(app):
    rows = [{"external_id": "api-1", "first_name": "Inès", "last_name": "Morel", "email": "ines@example.test",
             "rpps": RPPS[2], "active": True}]
    assert directory.upsert_professionals(rows).created == 1
    assert directory.upsert_professionals(rows).unchanged == 1
    report = directory.upsert_professionals([{"external_id": "api-1", "language": "en"}])
    assert report.updated == 1
    pro = pros()["api-1"]
    assert (pro.language, pro.email, pro.rpps) == ("en", "ines@example.test", RPPS[2])   # the rest kept


def test_upserts_reject_unknown_fields_and_bad_rows_with_reasons(app):
    report = directory.upsert_professionals([
        {"external_id": "api-2", "first_name": "J", "last_name": "K", "email": "jk@example.test", "speciality": "x"},
        "not an object",
        {"external_id": "api-3", "first_name": "L", "last_name": "M", "email": "lm@example.test", "active": "maybe"},
        {"external_id": "api-4", "last_name": "N", "email": "n@example.test"},
        {"external_id": "api-5", "first_name": "O", "last_name": "P", "email": "op@example.test"},
    ])
    assert report.created == 1
    assert [(r.index, r.field, r.code) for r in report.rejected] == [
        (0, "speciality", "unknown_field"), (1, None, "bad_row"), (2, "active", "bad_bool"), (3, "first_name", "required"),
    ]
    as_json = report.to_dict()
    assert as_json["accepted"] == 1 and as_json["rejected"][0]["message"] == "Unknown field: speciality."


def test_care_links_hold_contact_data_and_must_be_matchable(app):
    directory.upsert_professionals([{"external_id": "pro-1", "first_name": "A", "last_name": "B", "email": "ab@example.test"}])
    data = ("professional_external_id,patient_ref,patient_email,patient_phone,patient_birth_date,active,ended_on\n"
            "pro-1,pat-1,Jeanne@Example.test,,,,\n"
            "pro-1,pat-2,,06 12 34 56 78,15/06/1980,oui,\n"
            "pro-1,pat-3,,06 12 34 56 78,,oui,\n"            # phone without birth date: cannot be matched
            "pro-x,pat-4,someone@example.test,,,,\n"         # unknown professional
            "pro-1,pat-5,,not a phone,15/06/1980,,\n"
            "pro-1,pat-6,old@example.test,,2090-01-01,,\n"    # birth date in the future
            "pro-1,pat-1,jeanne@example.test,,,,\n").encode()  # the same link twice
    report = directory.import_care_links(io.BytesIO(data))
    assert report.created == 2
    assert [(r.line, r.code) for r in report.rejected] == [
        (4, "unmatchable"), (5, "unknown_professional"), (6, "bad_phone"), (7, "bad_birth_date"), (8, "duplicate")]
    stored = links()
    assert [(link.patient_ref, link.patient_email, link.patient_phone, link.patient_birth_date) for link in stored] == [
        ("pat-1", "jeanne@example.test", None, None), ("pat-2", None, "+33612345678", date(1980, 6, 15))]
    again = directory.import_care_links(io.BytesIO(data))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    ended = directory.upsert_care_links([{"professional_external_id": "pro-1", "patient_ref": "pat-1", "ended_on": "2026-02-01"}])
    assert ended.updated == 1 and links()[0].ended_on == date(2026, 2, 1) and links()[0].patient_email == "jeanne@example.test"


def test_a_professional_who_leaves_hands_their_tasks_back_to_staff(app, policy):
    directory.upsert_professionals([{"external_id": "leaving", "first_name": "Q", "last_name": "R",
                                     "email": "leaving@example.test"}])
    directory.upsert_care_links([{"professional_external_id": "leaving", "patient_ref": "p", "patient_email": "pat@example.test"}])
    req = patient_request(policy, email="pat@example.test")
    assert routing.auto_route(req, Actor.system()) == "routed_to_professional"
    task = task_of(req)

    report = directory.upsert_professionals([{"external_id": "leaving", "active": False}])

    assert report.updated == 1 and report.withdrawn_tasks == 1
    assert task.status == TaskStatus.CANCELLED and task.token_hash is None
    assert req.status == Status.OPEN and req.handler == "staff"
    assert [m.recipient for m in outbox("task_declined")] == ["dpo@example.test"]


# --- the commands -------------------------------------------------------------------------------------------------


def test_the_import_commands_print_the_report_and_fail_on_rejections(app, runner, tmp_path):
    good = tmp_path / "pros.csv"
    good.write_text("external_id,first_name,last_name,email\npro-1,Alice,Martin,alice@example.test\n", encoding="utf-8")
    dry = runner.invoke(args=["import-professionals", "--dry-run", str(good)])
    assert dry.exit_code == 0 and "1 created" in dry.output and "Dry run: nothing was saved." in dry.output
    db.session.expire_all()
    assert pros() == {}
    result = runner.invoke(args=["import-professionals", str(good)])
    assert result.exit_code == 0 and "1 created" in result.output
    db.session.expire_all()
    assert set(pros()) == {"pro-1"}

    bad = tmp_path / "links.csv"
    bad.write_text("professional_external_id,patient_ref,patient_email\npro-1,p1,p1@example.test\npro-1,p2,broken\n",
                   encoding="utf-8")
    result = runner.invoke(args=["import-care-links", str(bad)])
    assert result.exit_code == 1
    assert "1 created" in result.output and "rejected line 3 [pro-1/p2]: patient_email: This is not a valid email address." in result.output
    db.session.expire_all()
    assert [link.patient_ref for link in links()] == ["p1"]

    refused = tmp_path / "refused.csv"
    refused.write_text("external_id,first_name,last_name,email,notes\n", encoding="utf-8")
    result = runner.invoke(args=["import-professionals", str(refused)])
    assert result.exit_code == 1 and "File refused, nothing imported" in result.output


def test_a_csv_import_takes_the_title(app):
    """Issue 18: the directory's CSV may carry how a letter greets the professional."""
    import io

    from dsar.extensions import db
    from dsar.models import Professional
    from dsar.services.directory import import_professionals

    report = import_professionals(io.BytesIO(
        "external_id;first_name;last_name;title;email\npro-t1;Hélène;Garnier;Docteur;h.garnier@example.test\n"
        "pro-t2;Paul;Durand;;p.durand@example.test\n".encode()))
    assert report.created == 2, report.to_dict()
    pros = {p.external_id: p for p in db.session.query(Professional).all()}
    assert pros["pro-t1"].greeting_name == "Docteur Garnier" and pros["pro-t2"].greeting_name == "Paul Durand"
