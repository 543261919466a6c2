"""The dry-run planner (issue 17): the policy's erasure plan joined with the systems map, per table.

GDPR art. 17(3) and policy art. 12: a row is deleted only if every personal column is erased now; a row kept
for a ground has its erase-now columns masked; archived where the table can be archived."""
from __future__ import annotations

from datetime import date

from dsar.systems.dryrun import fingerprint, plan_table
from dsar.systems.model import Column, System, Table, TableActions


def _table(erasure="delete", archive=False, **cols):
    raw = {"erasure": erasure, **({"archive": {"set": {"archived_at": "$now"}}} if archive else {})}
    columns = tuple(Column(name=n, category=c, mask=m) for n, (c, m) in cols.items()) + (
        Column(name="secret", category=None, personal=False, why="not personal"),)
    return Table(name="t", primary_key=("id",), columns=columns, actions=TableActions(erasure=erasure, raw=raw))


SYSTEM = System(key="app", name={"en": "App"}, kind="sql", activity="application")
PLAN = {
    "device_data": {"activity": "application", "category": "device_data", "action": "erase_now", "grounds": [], "until": None},
    "identification": {"activity": "application", "category": "identification", "action": "archive_until",
                       "grounds": ["evidence"], "until": "2036-11-30"},
    "health_handover": {"activity": "application", "category": "health_handover",
                        "action": "keep_until_handed_over", "grounds": ["vital_interest"], "until": None},
}


def test_a_row_whose_every_category_is_erased_now_is_deleted():
    [line] = plan_table(SYSTEM, _table(model=("device_data", None), token=("device_data", "null")), 3, PLAN)
    assert (line.action, line.rows, line.categories) == ("delete", 3, ["device_data"])


def test_a_row_kept_for_a_ground_has_its_erased_columns_masked_and_the_row_kept():
    lines = plan_table(SYSTEM, _table(email=("identification", "hash"), token=("device_data", "null"),
                                      model=("device_data", None)), 2, PLAN)
    assert [(l.action, l.columns, l.grounds) for l in lines] == [
        ("mask", ["token"], []), ("keep", [], ["evidence"])]
    assert lines[1].until == date(2036, 11, 30)


def test_archive_until_archives_where_the_table_can_be_archived():
    lines = plan_table(SYSTEM, _table(archive=True, email=("identification", None)), 1, PLAN)
    assert [(l.action, l.grounds) for l in lines] == [("archive", ["evidence"])]


def test_a_table_whose_rows_may_not_be_deleted_is_masked_even_when_all_is_erased_now():
    lines = plan_table(SYSTEM, _table(erasure="mask", token=("device_data", {"fixed": "-"})), 4, PLAN)
    assert [(l.action, l.columns) for l in lines] == [("mask", ["token"])]


def test_any_other_action_of_the_policy_keeps_the_row_on_its_ground():
    """Health data kept until handed to the professional (an action another branch adds): keep, not erase."""
    lines = plan_table(SYSTEM, _table(note=("health_handover", "null")), 1, PLAN)
    assert [(l.action, l.grounds) for l in lines] == [("keep", ["vital_interest"])]


def test_a_category_the_plan_does_not_cover_is_kept_and_says_so():
    lines = plan_table(SYSTEM, _table(x=("unknown_category", None)), 1, PLAN)
    assert [(l.action, l.grounds) for l in lines] == [("keep", ["not_in_plan"])]


def test_no_rows_no_line_and_the_fingerprint_changes_with_the_rows():
    assert plan_table(SYSTEM, _table(model=("device_data", None)), 0, PLAN) == []
    a = fingerprint({"app": {"t": [(1,), (2,)]}})
    assert a == fingerprint({"app": {"t": [(2,), (1,)]}}) and a != fingerprint({"app": {"t": [(1,), (2,), (3,)]}})
