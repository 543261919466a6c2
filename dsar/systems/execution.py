"""Executing a right on the declared systems (issue 17): dry run → approval → capture → runs → resume → purge.

- ``compute_dry_run``: the subject's rows are found by the traversal (read role) and the plan per table is
  computed (``dryrun.plan_system``); nothing is written. A newer dry run supersedes the older ones.
- ``approve`` (staff) and ``approve_sealed`` (the professional in charge, for shared health content — policy
  art. 8.2: IDOMED staff never see it, so they cannot be the ones who release its erasure).
- ``execute``: refused unless approved; the rows are looked up again and, if they changed since the dry run
  (fingerprint of the keys and of the values of the columns the dry run acts on), the dry run is recomputed and must be approved again — nothing runs. Otherwise
  the keys, the hash-mask inputs and the instant are captured, encrypted (file store), one ``SystemRun``
  per system, **before** any change; then one job per system (``execute-<run id>``).
- ``execute_run`` (the job): tables children first, one transaction per table on the system's database,
  the table recorded done in dsar's database right after; a resumed run skips the tables already done and
  redoes the others from the capture, so a retry never depends on rows already deleted, and writing a table
  again writes the same values (nothing is done twice). Every attempt, table and failure is audited.
- Once every system is done: the dry run is ``executed``, each line gets the rows actually handled, and the
  captured identifiers are deleted (``captured_keys_purged``).
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import timezone

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.attributes import flag_modified

from .. import audit
from ..actors import Actor
from ..errors import IllegalTransition, N_, NotFound
from ..extensions import db
from ..jobs import enqueue_after_commit, job
from ..models import DataRequest
from ..models.base import utcnow
from ..models.execution import DryRun, DryRunLine, DryRunStatus, LineAction
from ..models.systems import CapturedKeys, RunPurpose, RunStatus, SystemRun
from ..protected import keyed_hash
from ..services.documents import file_store
from ..services.fulfilment.erasure import erasure_plan_for
from .connectors import connector_for, sql_write
from .connectors.base import ConnectorError
from .connectors.manual import open_execution_task
from .dryrun import PlannedLine, fingerprint, plan_system
from .execution_effects import lift_announced, on_executed
from .model import System, SystemsMap
from .runs import identities_of, safe_error
from .traversal import SubjectKeys, topological

log = logging.getLogger(__name__)

VERBS = ("erasure", "restriction", "lift_restriction", "deactivate", "rectification")
#: Line actions that change rows (what the letter and the art. 19 notifications speak of).
CHANGING = (LineAction.DELETE, LineAction.MASK, LineAction.ARCHIVE, LineAction.SET, LineAction.UPDATE,
            LineAction.CALL, LineAction.OWNER_TASK)


class NotApproved(IllegalTransition):
    pass


def systems_map() -> SystemsMap:
    systems = current_app.extensions.get("dsar_systems")
    if systems is None:
        raise IllegalTransition(N_("No systems file is configured: this request is fulfilled by hand."),
                                code="no_systems")
    return systems


# --- the dry run --------------------------------------------------------------------------------------------


def _plan_items(req: DataRequest, verb: str):
    if verb != "erasure":
        return []
    return erasure_plan_for(req)


def _lookup(systems: SystemsMap, req: DataRequest) -> dict[str, SubjectKeys]:
    """The subject's keys in every SQL system, through the read role."""
    identities = identities_of(req)
    found = {}
    for system in systems:
        if system.kind != "sql":
            continue
        connector = connector_for(system)
        engine = connector.engine()
        try:
            with engine.connect() as conn:
                found[system.key] = connector.traverse(conn, identities)
        finally:
            engine.dispose()
    return found


def _verb_lines(system: System, keys: SubjectKeys | None, verb: str, columns: dict | None = None) -> list[PlannedLine]:
    """Lines for restriction, lifting it, deactivation, rectification: the tables that declare the verb."""
    if system.kind != "sql":
        action = LineAction.CALL if system.kind == "http" else LineAction.OWNER_TASK
        return [PlannedLine(system=system.key, table=None, action=action, rows=None, sealed=system.sealed)]
    lines = []
    for table in system.tables:
        rows = keys.count(table.name) if keys else 0
        spec = table.actions.get(verb)
        if not rows or not spec:
            continue
        if verb == "rectification":
            wanted = [c for c in (columns or {}).get((system.key, table.name), []) if c in spec]
            if wanted:
                lines.append(PlannedLine(system=system.key, table=table.name, action=LineAction.UPDATE, rows=rows,
                                         columns=wanted, categories=sorted({table.column(c).category for c in wanted}),
                                         sealed=table.sealed))
            continue
        values = spec.get("set", {}) if isinstance(spec, dict) else {}
        lines.append(PlannedLine(system=system.key, table=table.name, action=LineAction.SET, rows=rows,
                                 columns=sorted(values), sealed=table.sealed,
                                 categories=sorted({table.column(c).category for c in values if table.column(c).category})))
    return lines


def _plan(systems: SystemsMap, req: DataRequest, verb: str, found: dict[str, SubjectKeys],
          columns: dict | None = None) -> list[PlannedLine]:
    items = _plan_items(req, verb)
    activities = set(req.activities or []) or None
    lines: list[PlannedLine] = []
    for system in systems:
        if activities is not None and system.activity not in activities:
            continue
        keys = found.get(system.key)
        if verb == "erasure":
            counts = {t: len(k) for t, k in keys.keys.items()} if keys else {}
            lines.extend(plan_system(system, counts, items))
        else:
            lines.extend(_verb_lines(system, keys, verb, columns))
    return lines


def _acted_columns(table, line) -> list[str]:
    """The columns a line acts on: those it masks, sets or updates; the whole personal row for delete/archive."""
    if line.action in (LineAction.MASK, LineAction.SET, LineAction.UPDATE) and line.columns:
        return [c for c in line.columns if c in table.column_names]
    return [c.name for c in table.columns if c.personal] or list(table.column_names)


def _fingerprint(systems: SystemsMap, found: dict[str, SubjectKeys], lines) -> str:
    """The subject's keys (rows added or removed) and the contents of the columns the lines act on (values
    changed in existing rows): what was approved is what runs, or the dry run is stale."""
    digest = hashlib.sha256(fingerprint({s: k.keys for s, k in found.items()}).encode())
    acting: dict[str, list] = {}
    for line in lines:
        if line.table and line.action != LineAction.KEEP and line.system in found:
            acting.setdefault(line.system, []).append(line)
    for key in sorted(acting):
        system, keys = systems.system(key), found[key]
        engine = connector_for(system).engine()
        try:
            with engine.connect() as conn:
                for line in sorted(acting[key], key=lambda l: (l.table, str(l.action))):
                    table = system.table(line.table)
                    columns = _acted_columns(table, line)
                    rows = sql_write.read_columns(conn, table, keys.keys.get(table.name, []), columns)
                    for pk, values in sorted(rows, key=lambda r: repr(r[0])):
                        digest.update(json.dumps([key, table.name, list(pk), [values[c] for c in columns]],
                                                 default=str).encode())
        finally:
            engine.dispose()
    return digest.hexdigest()


def compute_dry_run(req: DataRequest, actor: Actor, *, verb: str = "erasure", columns: dict | None = None) -> DryRun:
    """What executing ``verb`` would do, per system and table; supersedes the request's earlier dry runs."""
    if verb not in VERBS:
        raise IllegalTransition(N_("Unknown action on the systems."), code="bad_verb")
    if verb == "lift_restriction":
        if not lift_announced(req):
            raise IllegalTransition(N_("Tell the requester before the restriction is lifted (GDPR art. 18(3))."),
                                    code="lift_not_announced")
    systems = systems_map()
    found = _lookup(systems, req)
    lines = _plan(systems, req, verb, found, columns)
    return _store_dry_run(req, actor, verb, lines, _fingerprint(systems, found, lines))


def _store_dry_run(req, actor, verb, lines: list[PlannedLine], fp: str) -> DryRun:
    dr = DryRun(request=req, verb=verb, status=DryRunStatus.AWAITING_APPROVAL, fingerprint=fp,
                computed_by=actor.label, needs_professional=any(l.sealed and l.action in CHANGING for l in lines))
    for l in lines:
        dr.lines.append(DryRunLine(system=l.system, table=l.table, action=l.action, rows=l.rows,
                                   categories=l.categories, columns=l.columns, grounds=l.grounds, until=l.until,
                                   sealed=l.sealed))
    db.session.add(dr)
    db.session.flush()
    for old in req.dry_runs:
        if old.id != dr.id and old.verb == verb and old.status in (DryRunStatus.AWAITING_APPROVAL, DryRunStatus.APPROVED):
            old.status, old.superseded_by_id = DryRunStatus.SUPERSEDED, dr.id
    audit.record(actor, "dry_run_computed", request=req, details={
        "dry_run": dr.id, "verb": verb, "needs_professional": dr.needs_professional,
        "lines": [{"system": l.system, "table": l.table, "action": str(l.action), "rows": l.rows} for l in lines],
    })
    return dr


def current_dry_run(req: DataRequest, verb: str = "erasure") -> DryRun | None:
    runs = [d for d in req.dry_runs if d.verb == verb and d.status != DryRunStatus.SUPERSEDED]
    return runs[-1] if runs else None


def _require(dr: DryRun, *statuses) -> None:
    if dr.status not in statuses:
        raise IllegalTransition(N_("This dry run can no longer be approved or changed."), code="dry_run_state")


def approve(dr: DryRun, actor: Actor) -> DryRun:
    """Staff approve the dry run as shown (GDPR art. 17(3): what is kept, on which ground)."""
    _require(dr, DryRunStatus.AWAITING_APPROVAL)
    dr.approved_at, dr.approved_by = utcnow(), actor.label
    if dr.approved:
        dr.status = DryRunStatus.APPROVED
    audit.record(actor, "dry_run_approved", request=dr.request, details={"dry_run": dr.id, "verb": dr.verb})
    return dr


def approve_sealed(dr: DryRun, actor: Actor) -> DryRun:
    """The professional in charge approves the part that touches shared health content (policy art. 8.2)."""
    _require(dr, DryRunStatus.AWAITING_APPROVAL)
    if not dr.needs_professional:
        raise IllegalTransition(N_("This dry run touches no shared health content."), code="not_sealed")
    dr.professional_approved_at, dr.professional_approved_by = utcnow(), actor.label
    if dr.approved:
        dr.status = DryRunStatus.APPROVED
    audit.record(actor, "dry_run_approved_sealed", request=dr.request, details={"dry_run": dr.id, "policy": "art. 8.2"})
    return dr


def reject(dr: DryRun, actor: Actor, *, reason: str) -> DryRun:
    _require(dr, DryRunStatus.AWAITING_APPROVAL, DryRunStatus.APPROVED)
    dr.status, dr.rejected_reason = DryRunStatus.REJECTED, (reason or "").strip() or None
    audit.record(actor, "dry_run_rejected", request=dr.request, details={"dry_run": dr.id})
    return dr


# --- capture and start --------------------------------------------------------------------------------------


def _app_now():
    """``$now`` in the application's databases: naive UTC, the instant the execution was started."""
    return utcnow().astimezone(timezone.utc).replace(tzinfo=None)


def _resolve(values: dict, now) -> dict:
    return {k: (now if v == "$now" else v) for k, v in (values or {}).items()}


def _mask_value(spec, original):
    if spec == "null":
        return None
    if spec == "hash":
        return None if original is None else keyed_hash(str(original))
    if isinstance(spec, dict) and "fixed" in spec:
        return spec["fixed"]
    raise ConnectorError(f"unknown mask {spec!r}")


def _capture_sql(system: System, conn, keys: SubjectKeys, lines: list[DryRunLine], now, extra: dict) -> dict:
    """The operations per table, with every value they write computed now (hash masks from the originals)."""
    ops: dict[str, list[dict]] = {}
    for line in lines:
        table = system.table(line.table)
        tkeys = keys.keys.get(table.name, [])
        if line.action == LineAction.DELETE:
            ops.setdefault(table.name, []).append({"op": "delete"})
        elif line.action == LineAction.MASK:
            specs = {c: table.column(c).mask for c in line.columns}
            fixed = {c: _mask_value(s, None) for c, s in specs.items() if s != "hash"}
            if fixed:
                ops.setdefault(table.name, []).append({"op": "set", "values": fixed})
            hashed = [c for c, s in specs.items() if s == "hash"]
            if hashed:
                originals = sql_write.read_columns(conn, table, tkeys, hashed)
                for c in hashed:
                    ops.setdefault(table.name, []).append({"op": "per_row", "column": c, "rows": [
                        [list(pk), _mask_value("hash", vals[c])] for pk, vals in originals]})
        elif line.action == LineAction.ARCHIVE:
            spec = table.actions.get("archive") or {}
            if "table" in spec:     # moved to the archive table (insert, then delete, one transaction)
                ops.setdefault(table.name, []).append({"op": "archive", "table": spec["table"]})
            else:                   # flagged in place
                ops.setdefault(table.name, []).append({"op": "set", "values": _resolve(spec["set"], now)})
        elif line.action == LineAction.SET:
            spec = table.actions.get(line.dry_run.verb) or {}
            ops.setdefault(table.name, []).append({"op": "set", "values": _resolve(spec.get("set", {}), now)})
        elif line.action == LineAction.UPDATE:
            changes = extra.get("rectification", {}).get(f"{system.key}.{table.name}", {})
            if changes:
                before = sql_write.read_columns(conn, table, tkeys, sorted(changes))
                extra.setdefault("before", {})[f"{system.key}.{table.name}"] = [[list(pk), v] for pk, v in before]
                ops.setdefault(table.name, []).append({"op": "set", "values": changes})
    return ops


def execute(dr: DryRun, actor: Actor, *, extra: dict | None = None) -> DryRun:
    """Start executing an approved dry run; returns it, or the recomputed one when the data changed since.

    ``extra``: values the capture needs beyond the map (rectification: {"system.table": {column: value}}).
    """
    req = dr.request
    if dr.status != DryRunStatus.APPROVED or not dr.approved:
        raise NotApproved(N_("The dry run has not been approved: nothing was executed."), code="not_approved")
    systems = systems_map()
    found = _lookup(systems, req)
    if _fingerprint(systems, found, dr.lines) != dr.fingerprint:
        # The rows or their values changed since the dry run was approved: it is no longer what was approved.
        columns = {tuple(k.split(".")): list(v) for k, v in (extra or {}).get("rectification", {}).items()}
        lines = _plan(systems, req, dr.verb, found, columns)
        fresh = _store_dry_run(req, actor, dr.verb, lines, _fingerprint(systems, found, lines))
        audit.record(actor, "dry_run_stale", request=req, details={"dry_run": dr.id, "recomputed": fresh.id})
        return fresh
    now = _app_now()
    extra = extra if extra is not None else {}     # the capture adds the values before (rectification)
    store = file_store()
    runs = []
    for system in systems:
        lines = [l for l in dr.lines if l.system == system.key]
        if not lines or all(l.action == LineAction.KEEP for l in lines):
            continue
        run = SystemRun(request=req, system_key=system.key, purpose=RunPurpose.EXECUTE, status=RunStatus.PENDING,
                        rows={}, progress={})
        db.session.add(run)
        db.session.flush()
        payload = {"dry_run": dr.id, "verb": dr.verb, "now": now.isoformat()}
        if system.kind == "sql":
            keys = found[system.key]
            connector = connector_for(system)
            engine = connector.engine()
            try:
                with engine.connect() as conn:
                    payload["ops"] = _capture_sql(system, conn, keys, [l for l in lines if l.action != LineAction.KEEP],
                                                  now, extra)
            finally:
                engine.dispose()
            payload["keys"] = keys.to_json()["keys"]
        else:
            # The identifiers go with the call or the owner's task: captured now, purged at the end like keys.
            payload["identities"] = identities_of(req)
            payload["categories"] = sorted({c for l in lines if l.action != LineAction.KEEP for c in (l.categories or [])})
        if "before" in extra:
            payload["before"] = extra["before"]
        data = json.dumps(payload, default=str, sort_keys=True).encode()
        db.session.add(CapturedKeys(run_id=run.id, stored_name=store.put(data), sha256=hashlib.sha256(data).hexdigest()))
        runs.append(run)
    dr.run_ids = [r.id for r in runs]
    dr.status = DryRunStatus.EXECUTING
    audit.record(actor, "execution_started", request=req, details={
        "dry_run": dr.id, "verb": dr.verb, "runs": [{"run": r.id, "system": r.system_key} for r in runs]})
    db.session.flush()
    for r in runs:
        enqueue_after_commit(execute_run, r.id, job_id=r.job_id)
    if not runs:
        _finish(dr, actor)
    return dr


def resume(req: DataRequest, actor: Actor) -> list[SystemRun]:
    """Queue again every execution run of the request that is not done (a failed or abandoned attempt)."""
    runs = [r for r in _execution_runs(req) if r.status != RunStatus.DONE]
    for r in runs:
        # A run still "running" was left by a dead worker (RQ keeps its job "started"): an attempt of its own.
        enqueue_after_commit(execute_run, r.id, job_id=resume_job_id(r) if r.status == RunStatus.RUNNING else r.job_id)
    if runs:
        audit.record(actor, "execution_resumed", request=req, details={"runs": [r.id for r in runs]})
    return runs


def resume_job_id(run: SystemRun) -> str:
    """The job id of an attempt that replaces one a dead worker still holds (RQ shows it as started)."""
    return f"{run.job_id}-resume-{run.attempts or 0}"


def _execution_runs(req: DataRequest) -> list[SystemRun]:
    ids = [i for d in req.dry_runs for i in (d.run_ids or [])]
    if not ids:
        return []
    return list(db.session.scalars(sa.select(SystemRun).where(SystemRun.id.in_(ids)).order_by(SystemRun.id)))


# --- the job ------------------------------------------------------------------------------------------------


def _load_capture(run: SystemRun) -> dict:
    cap = db.session.scalar(sa.select(CapturedKeys).filter_by(run_id=run.id))
    if cap is None:
        raise ConnectorError(f"run {run.id}: the captured keys are gone")
    data = file_store().get(cap.stored_name)
    if hashlib.sha256(data).hexdigest() != cap.sha256:
        raise ConnectorError(f"run {run.id}: the captured keys do not match their checksum")
    return json.loads(data)


def _apply(conn, table, keys: list[tuple], ops: list[dict]) -> int:
    rows = 0
    for op in ops:
        if op["op"] == "delete":
            rows = sql_write.delete_rows(conn, table, keys)
        elif op["op"] == "archive":
            rows = sql_write.archive_rows(conn, table, keys, op["table"])
        elif op["op"] == "set":
            rows = sql_write.set_values(conn, table, keys, op["values"])
        elif op["op"] == "per_row":
            sql_write.set_per_row(conn, table, op["column"], [(tuple(pk), v) for pk, v in op["rows"]])
            rows = max(rows, len(op["rows"]))
    return rows


def _done(run: SystemRun, table: str, entry: dict) -> None:
    progress = dict(run.progress or {})
    progress[table] = entry
    run.progress = progress
    rows = dict(run.rows or {})
    rows[table] = entry["rows"]
    run.rows = rows
    flag_modified(run, "progress")
    flag_modified(run, "rows")


@job
def execute_run(run_id: int) -> None:
    """Execute one system's part of an approved dry run; resumes what an earlier attempt did not finish."""
    actor = Actor.system()
    run = db.session.get(SystemRun, run_id)
    if run is None or run.status == RunStatus.DONE:
        return
    run.attempts = (run.attempts or 0) + 1
    run.status, run.started_at, run.error = RunStatus.RUNNING, utcnow(), None
    audit.record(actor, "execution_attempt", request=run.request, touch=False, details={
        "system": run.system_key, "run": run.id, "attempt": run.attempts, "tables_done": sorted(run.progress or {})})
    db.session.commit()
    try:
        system = systems_map().system(run.system_key)
        capture = _load_capture(run)
        if system.kind == "sql":
            _execute_sql(run, system, capture, actor)
        else:
            _execute_other(run, system, capture, actor)
    except Exception as exc:
        db.session.rollback()
        run = db.session.get(SystemRun, run_id)
        run.status, run.error = RunStatus.FAILED, safe_error(exc)
        audit.record(actor, "execution_failed", request=run.request, touch=False, details={
            "system": run.system_key, "run": run.id, "attempt": run.attempts, "error": run.error,
            "tables_done": sorted(run.progress or {})})
        db.session.commit()
        log.warning("execution run %s (system %s) failed: %s", run.id, run.system_key, run.error)
        raise
    if run.status == RunStatus.WAITING_OWNER:
        db.session.commit()
        return
    run.status, run.finished_at = RunStatus.DONE, utcnow()
    run.sha256 = hashlib.sha256(json.dumps(run.progress, sort_keys=True, default=str).encode()).hexdigest()
    audit.record(actor, "execution_run_done", request=run.request, touch=False, details={
        "system": run.system_key, "run": run.id, "rows": run.rows})
    dr = db.session.get(DryRun, capture["dry_run"])
    if all(r.status == RunStatus.DONE for r in _execution_runs(dr.request) if r.id in (dr.run_ids or [])):
        _finish(dr, actor)
    db.session.commit()


def _execute_sql(run: SystemRun, system: System, capture: dict, actor: Actor) -> None:
    keys = {t: [tuple(k) for k in ks] for t, ks in capture["keys"].items()}
    ops = capture.get("ops", {})
    engine = connector_for(system).engine(write=True)
    try:
        # Children before parents: a row is never deleted while a row that points to it still exists.
        for table in reversed(topological(system)):
            if table.name not in ops or table.name in (run.progress or {}):
                continue
            with engine.begin() as conn:   # one transaction per table on the system's database
                rows = _apply(conn, table, keys.get(table.name, []), ops[table.name])
            _done(run, table.name, {"rows": rows, "ops": [o["op"] for o in ops[table.name]], "at": utcnow().isoformat()})
            audit.record(actor, "execution_table_done", request=run.request, touch=False, details={
                "system": system.key, "table": table.name, "run": run.id, "attempt": run.attempts,
                "ops": [o["op"] for o in ops[table.name]], "rows": rows})
            db.session.commit()
    finally:
        engine.dispose()


def _execute_other(run: SystemRun, system: System, capture: dict, actor: Actor) -> None:
    """An http system gets the verb as a signed POST ``{base}/execute`` (the same signature as collection's
    ``/collect``, ``X-DSAR-Delivery: execute-<run id>`` on every retry, so the system can ignore a repeat);
    its signed answer says how many records it handled: ``{"records": 12}``."""
    if "_records" in (run.progress or {}):
        return
    if system.kind == "manual":
        if run.owner_token_hash is None:
            open_execution_task(run, system, capture, actor)
        run.status = RunStatus.WAITING_OWNER
        return
    req = run.request
    answer = connector_for(system).post("execute", {
        "version": 1, "delivery": run.job_id, "reference": req.reference, "verb": capture["verb"],
        "subject": {"kind": req.subject_kind, "identities": capture.get("identities", {})},
        "categories": capture.get("categories", [])}, run.job_id)
    records = answer.get("records") if isinstance(answer, dict) else None
    if not isinstance(records, int) or isinstance(records, bool) or records < 0:
        raise ConnectorError(f"system {system.key!r}: the answer has no 'records' count")
    _done(run, "_records", {"rows": records, "ops": [capture["verb"]], "at": utcnow().isoformat()})
    audit.record(actor, "execution_call_done", request=req, touch=False, details={
        "system": system.key, "run": run.id, "attempt": run.attempts, "verb": capture["verb"], "records": records})
    db.session.commit()


# --- the end ------------------------------------------------------------------------------------------------


def _finish(dr: DryRun, actor: Actor) -> None:
    """Every system is done: the lines get what was done, the captured identifiers are deleted."""
    runs = {r.system_key: r for r in _execution_runs(dr.request) if r.id in (dr.run_ids or [])}
    for line in dr.lines:
        run = runs.get(line.system)
        if line.action == LineAction.KEEP or run is None:
            continue
        if line.table is None:
            line.done_rows = (run.rows or {}).get("_records")
        else:
            line.done_rows = (run.rows or {}).get(line.table, 0)
    dr.status, dr.executed_at = DryRunStatus.EXECUTED, utcnow()
    on_executed(dr, actor)
    purged = purge_captured(runs.values())
    audit.record(actor, "execution_done", request=dr.request, details={
        "dry_run": dr.id, "verb": dr.verb, "captured_keys_purged": purged,
        "lines": [{"system": l.system, "table": l.table, "action": l.action, "done": l.done_rows} for l in dr.lines]})


def purge_captured(runs) -> int:
    store = file_store()
    n = 0
    for run in runs:
        cap = db.session.scalar(sa.select(CapturedKeys).filter_by(run_id=run.id))
        if cap is not None:
            store.delete(cap.stored_name)
            db.session.delete(cap)
            n += 1
    return n


def executed_dry_run(req: DataRequest, verb: str = "erasure") -> DryRun | None:
    done = [d for d in req.dry_runs if d.verb == verb and d.status == DryRunStatus.EXECUTED]
    return done[-1] if done else None


def get_dry_run(req: DataRequest, dry_run_id: int) -> DryRun:
    dr = next((d for d in req.dry_runs if d.id == dry_run_id), None)
    if dr is None:
        raise NotFound(N_("No such dry run on this request."))
    return dr
