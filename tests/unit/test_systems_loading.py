"""The systems file is validated like the policy: every error names file, system, table and column (issue 16)."""
from __future__ import annotations

import copy

import pytest
import yaml

from dsar.policy import load_policy
from dsar.systems.loading import SystemsError, load_systems
from tests.appdb import ROOT, SYSTEMS_FILE

POLICY = load_policy(ROOT / "workflows" / "idomed.yaml")
RAW = yaml.safe_load(SYSTEMS_FILE.read_text())


def _load(tmp_path, mutate):
    doc = copy.deepcopy(RAW)
    mutate(doc)
    path = tmp_path / "bad.systems.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path, lambda: load_systems(path, POLICY)


def _app(doc):
    return doc["systems"]["application"]


def test_the_shipped_map_loads_and_categorises_every_column():
    systems = load_systems(SYSTEMS_FILE, POLICY)
    app = systems.system("application")
    assert app.kind == "sql" and app.activity == "application"
    assert {t.name for t in app.tables} >= {"accounts", "patients", "messages", "documents", "invoices"}
    for table in app.tables:
        for col in table.columns:
            assert col.category or (not col.personal and col.why), f"{table.name}.{col.name}"
    # Shared health content is sealed (policy art. 8.2), and only that.
    assert {t.name for t in app.tables if t.sealed} == {"conversations", "messages", "documents"}
    assert app.table("documents").column("content").file


def test_an_uncategorised_column_names_file_system_table_and_column(tmp_path):
    path, load = _load(tmp_path, lambda d: _app(d)["tables"]["messages"]["columns"].update(body={}))
    with pytest.raises(SystemsError) as exc:
        load()
    assert f"{path}: systems.application.tables.messages.columns.body: has no data category" in str(exc.value)


def test_an_unknown_category_is_refused_with_the_known_ones(tmp_path):
    path, load = _load(tmp_path, lambda d: _app(d)["tables"]["devices"]["columns"]["model"].update(category="phones"))
    with pytest.raises(SystemsError) as exc:
        load()
    msg = str(exc.value)
    assert "systems.application.tables.devices.columns.model.category: unknown data category 'phones'" in msg
    assert "device_data" in msg


def test_a_literal_url_is_refused(tmp_path):
    path, load = _load(tmp_path, lambda d: _app(d)["connection"].update(read_url_env="postgresql://u:pw@h/db"))
    with pytest.raises(SystemsError) as exc:
        load()
    assert "systems.application.connection.read_url_env" in str(exc.value)
    assert "environment" in str(exc.value)


def test_an_unknown_key_is_refused(tmp_path):
    path, load = _load(tmp_path, lambda d: _app(d)["tables"]["accounts"].update(colums={}))
    with pytest.raises(SystemsError) as exc:
        load()
    assert "systems.application.tables.accounts.colums: unknown table key 'colums'" in str(exc.value)


def test_a_reference_to_an_undeclared_column_is_refused(tmp_path):
    path, load = _load(tmp_path, lambda d: _app(d)["tables"]["messages"]["references"][0].update(to="conversations.uid"))
    with pytest.raises(SystemsError) as exc:
        load()
    assert "systems.application.tables.messages.references[0].to: 'conversations.uid' is not a declared" in str(exc.value)


def test_a_cycle_of_references_is_refused(tmp_path):
    def mutate(d):
        _app(d)["tables"]["accounts"]["references"] = [{"column": "id", "to": "patients.account_id"}]
    path, load = _load(tmp_path, mutate)
    with pytest.raises(SystemsError) as exc:
        load()
    assert "the references form a cycle" in str(exc.value)


def test_sensitive_content_must_be_sealed_and_only_it(tmp_path):
    path, load = _load(tmp_path, lambda d: _app(d)["tables"]["messages"].update(sealed=False))
    with pytest.raises(SystemsError) as exc:
        load()
    assert "systems.application.tables.messages: holds a sensitive category" in str(exc.value)
    path, load = _load(tmp_path, lambda d: _app(d)["tables"]["devices"].update(sealed=True))
    with pytest.raises(SystemsError) as exc:
        load()
    assert "systems.application.tables.devices.sealed: only shared health content" in str(exc.value)


def test_not_personal_needs_a_reason(tmp_path):
    path, load = _load(tmp_path, lambda d: _app(d)["tables"]["accounts"]["columns"].update(
        password_hash={"personal": False}))
    with pytest.raises(SystemsError) as exc:
        load()
    assert "tables.accounts.columns.password_hash: 'personal: false' needs 'why'" in str(exc.value)


def test_http_and_manual_systems_need_their_keys(tmp_path):
    def mutate(d):
        d["systems"]["billing"] = {"name": {"fr": "Facturation"}, "kind": "http", "activity": "client_file",
                                   "categories": ["contract", "nonsense"]}
        d["systems"]["archives"] = {"name": {"fr": "Archives"}, "kind": "manual", "activity": "client_file",
                                    "categories": ["contract"], "tables": {}}
    path, load = _load(tmp_path, mutate)
    with pytest.raises(SystemsError) as exc:
        load()
    msg = str(exc.value)
    assert "systems.billing.endpoint_env: missing required key for a http system" in msg
    assert "systems.archives.owner: missing required key for a manual system" in msg
    assert "systems.archives.tables: not used by a manual system" in msg


@pytest.mark.parametrize("spec, message", [
    ({"table": "patients"}, "systems.application.tables.care_links.actions.archive.table: 'patients' is a table of the map"),
    ({"table": "care-links archive"}, "actions.archive.table: invalid table name"),
    ({"set": {"archived_on": "$now"}}, "actions.archive.set.archived_on: 'archived_on' is not a column of 'care_links'"),
    ({"table": "x", "set": {"ended_at": "$now"}}, "actions.archive: give either 'set: {column: value}'"),
    ("move", "actions.archive: give either"),
])
def test_an_archive_action_is_a_flag_or_another_table(tmp_path, spec, message):
    """Issue 17 / policy art. 12: ``archive: {set: …}`` flags in place, ``archive: {table: …}`` moves the rows to
    a table outside the map; anything else is refused at load, naming the place."""
    path, load = _load(tmp_path, lambda d: _app(d)["tables"]["care_links"]["actions"].update(archive=spec))
    with pytest.raises(SystemsError) as exc:
        load()
    assert message in str(exc.value)


def test_an_archive_table_outside_the_map_loads(tmp_path):
    path, load = _load(tmp_path, lambda d: _app(d)["tables"]["care_links"]["actions"].update(
        archive={"table": "care_links_archive"}))
    assert load().system("application").table("care_links").actions.get("archive") == {"table": "care_links_archive"}
