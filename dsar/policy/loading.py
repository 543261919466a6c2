"""Loading a policy file: read the YAML (duplicate keys refused), check it (``schema``, then ``validation``)
and build the frozen ``Policy`` (``model``). Any problem raises one ``PolicyError`` naming the file and every
bad key, e.g. ``workflows/x.yaml: activities.client_file.sub_purposes[2].rights.acces: unknown right 'acces'``.

``get_policy`` loads a file once per process and file version.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml
from marshmallow import ValidationError

from .errors import PolicyError
from .law import REQUEST_TYPE_RIGHT, REQUEST_TYPES
from .model import (
    ActivePhase,
    Activity,
    ArchivePhase,
    Calendar,
    ClarificationRule,
    ComplaintAuthority,
    Controller,
    DataCategory,
    Deadlines,
    Delivery,
    DerivedRetention,
    Document,
    Dpo,
    Duration,
    Identity,
    JointController,
    MedicalRecordRule,
    Policy,
    Reading,
    Recipient,
    RequestType,
    Responsibilities,
    Retention,
    RightRule,
    Routing,
    RoutingRule,
    SensitiveData,
    Step,
    StepCondition,
    SubjectKind,
    SubPurpose,
    Transfer,
    TransferStatement,
)
from .schema import _UNKNOWN_MARK, PolicySchema
from .validation import check


class _StrictYamlLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)


_MESSAGES = {
    "Missing data for required field.": "missing required key",
    "Field may not be null.": "must not be empty (null)",
    "Invalid input type.": "wrong type: expected a mapping",
    "Invalid type.": "wrong type: expected a list",
    "Not a valid list.": "wrong type: expected a list",
    "Not a valid mapping type.": "wrong type: expected a mapping",
    "Not a valid integer.": "wrong type: expected an integer",
    "Not a valid string.": "wrong type: expected a text",
    "Not a valid boolean.": "wrong type: expected true or false",
    "Not a valid email address.": "not a valid email address",
    "Not a valid URL.": "not a valid URL",
}


def _flatten(messages: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flatten(value, path if key == "_schema" else path + (key,))
    elif isinstance(messages, (list, tuple)):
        for message in messages:
            if isinstance(message, (dict, list, tuple)):
                yield from _flatten(message, path)
            else:
                yield path, str(message)
    else:
        yield path, str(messages)


def _dotted(path: Iterable) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _translate(path: tuple, message: str) -> str:
    if message.startswith(_UNKNOWN_MARK):
        noun = message[len(_UNKNOWN_MARK):]
        return f"unknown {noun} {path[-1]!r}" if path else f"unknown {noun}"
    return _MESSAGES.get(message, message)


def read_yaml_mapping(source: str, noun: str, error: type[PolicyError] = PolicyError) -> dict:
    """The YAML mapping of a data file (policy, systems), duplicate keys refused; ``error`` names the file and
    the line of the problem."""
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{source}: cannot read the {noun}: {exc.strerror or exc}", source=source) from exc
    try:
        raw = yaml.load(text, Loader=_StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise error.from_problems(source, [(where, f"not valid YAML: {problem}")]) from exc
    if not isinstance(raw, dict):
        raise error.from_problems(source, [("(top level)", "wrong type: the file must hold a mapping")])
    return raw


def load_policy(path: str | os.PathLike) -> Policy:
    """Read and validate a policy file; raise ``PolicyError`` naming the file and every bad key."""
    source = os.fspath(path)
    raw = read_yaml_mapping(source, "policy file")
    try:
        doc = PolicySchema().load(raw)
    except ValidationError as err:
        problems = [(_dotted(p), _translate(p, m)) for p, m in _flatten(err.messages)]
        raise PolicyError.from_problems(source, problems) from None
    problems = list(check(doc))
    if problems:
        raise PolicyError.from_problems(source, [(_dotted(p), m) for p, m in problems])
    return _build(source, doc)


@functools.lru_cache(maxsize=8)
def _cached_policy(resolved: str, mtime_ns: int) -> Policy:
    return load_policy(resolved)


def get_policy(path: str | os.PathLike) -> Policy:
    """``load_policy`` once per process and file version (reloaded if the file changes)."""
    resolved = Path(path).resolve()
    try:
        mtime = resolved.stat().st_mtime_ns
    except OSError:
        mtime = 0
    return _cached_policy(str(resolved), mtime)


# --------------------------------------------------------------------------
# Building the frozen values
# --------------------------------------------------------------------------


def _loc(d: dict | None) -> dict | None:
    return dict(d) if d is not None else None


def _duration(d: dict | None) -> Duration | None:
    return Duration(**d) if d is not None else None


def _build(source: str, doc: dict) -> Policy:
    c = doc["controller"]
    controller = Controller(
        key=c["key"],
        name=c["name"],
        postal_address=c["postal_address"],
        contact_email=c["contact_email"],
        dpo=Dpo(**c["dpo"]),
        complaint_authority=ComplaintAuthority(**c["complaint_authority"]),
    )
    joint_controllers = {
        k: JointController(key=k, name=_loc(v["name"]), contact_rule=v.get("contact_rule"), contact_email=v.get("contact_email"))
        for k, v in doc["joint_controllers"].items()
    }
    subject_kinds = {k: SubjectKind(key=k, name=_loc(v["name"]), has_contract=v["has_contract"]) for k, v in doc["subject_kinds"].items()}

    activities = {}
    for akey, a in doc["activities"].items():
        sub_purposes = tuple(
            SubPurpose(
                key=sp["key"],
                activity=akey,
                name=_loc(sp["name"]),
                legal_basis=sp["legal_basis"],
                direct_marketing=sp["direct_marketing"],
                rights={
                    right: RightRule(
                        status=rule["status"],
                        condition=_loc(rule.get("condition")),
                        subject_kinds=tuple(rule["subject_kinds"]) if rule.get("subject_kinds") else None,
                        note=_loc(rule.get("note")),
                    )
                    for right, rule in sp["rights"].items()
                },
            )
            for sp in a["sub_purposes"]
        )
        resp = a.get("responsibilities")
        activities[akey] = Activity(
            key=akey,
            name=_loc(a["name"]),
            purpose=_loc(a.get("purpose")),
            joint=a["joint"],
            controllers=tuple(a["controllers"]),
            data_subjects=tuple(a["data_subjects"]),
            sub_purposes=sub_purposes,
            collection=_loc(a.get("collection")),
            sensitive_data=SensitiveData(a["sensitive_data"]["basis"], _loc(a["sensitive_data"]["label"])) if a.get("sensitive_data") else None,
            responsibilities=Responsibilities(
                requests={k: {t: dict(r) for t, r in tasks.items()} for k, tasks in resp["requests"].items()},
                erasure={k: dict(r) for k, r in resp["erasure"].items()},
                notify_recipients=dict(resp["notify_recipients"]),
                minors=dict(resp["minors"]),
            )
            if resp
            else None,
        )

    categories = []
    for akey, cats in doc["data_categories"].items():
        for cat in cats:
            ret = cat["retention"]
            archive = ret.get("archive")
            derived = ret.get("derived")
            categories.append(
                DataCategory(
                    key=cat["key"],
                    activity=akey,
                    name=_loc(cat["name"]),
                    subject_kinds=tuple(cat["subject_kinds"]),
                    items=dict(cat["items"]),
                    sensitive=cat["sensitive"],
                    portable=cat["portable"],
                    retention=Retention(
                        label=_loc(ret["label"]),
                        active=ActivePhase(ret["active"]["kind"], _duration(ret["active"]["duration"])),
                        archive=ArchivePhase(Duration(**archive["duration"]), archive["from_"], tuple(archive["grounds"])) if archive else None,
                        grounds=tuple(ret.get("grounds") or ()),
                        derived=DerivedRetention(_loc(derived["name"]), Duration(**derived["duration"])) if derived else None,
                        disposal=ret["disposal"],
                    ),
                )
            )

    recipients = []
    for akey, recs in doc["recipients"].items():
        for r in recs:
            recipients.append(
                Recipient(
                    key=r["key"],
                    activity=akey,
                    name=_loc(r["name"]),
                    kind=r["kind"],
                    service=_loc(r.get("service")),
                    contact_email=r.get("contact_email"),
                    contact_rule=r.get("contact_rule"),
                    joint_controller=r.get("joint_controller"),
                    country=r.get("country"),
                    receives_health_data=r["receives_health_data"],
                    transfers=tuple(
                        Transfer(
                            destination=_loc(t["destination"]),
                            countries=tuple(t["countries"]),
                            safeguard=t["safeguard"],
                            safeguard_status=t["safeguard_status"],
                            reference_url=t.get("reference_url"),
                        )
                        for t in r["transfers"]
                    ),
                )
            )

    i = doc["identity"]
    d = doc["deadlines"]
    mr = d.get("medical_record")
    r = doc["routing"]
    request_types = {}
    for rkey in REQUEST_TYPES:
        rt = doc["request_types"][rkey]
        request_types[rkey] = RequestType(
            key=rkey,
            name=_loc(rt["name"]),
            right=REQUEST_TYPE_RIGHT[rkey],
            gdpr=rt.get("gdpr"),
            legal_reference=_loc(rt.get("legal_reference")),
            steps=tuple(
                Step(
                    key=s["key"],
                    name=_loc(s["name"]),
                    per=s["per"],
                    when=StepCondition(
                        activities=tuple(s["when"]["activities"]),
                        subject_kinds=tuple(s["when"]["subject_kinds"]),
                        sub_purposes=tuple(s["when"]["sub_purposes"]),
                        relationships=tuple(s["when"]["relationships"]),
                        subject_states=tuple(s["when"]["subject_states"]),
                    )
                    if s.get("when")
                    else None,
                    required=s["required"],
                    required_before=s["required_before"],
                    gdpr=s.get("gdpr"),
                    legal_reference=_loc(s.get("legal_reference")),
                    letter=s.get("letter"),
                    letter_items=tuple(s["letter_items"]),
                    formats=tuple(s["formats"]),
                )
                for s in rt["steps"]
            ),
        )

    return Policy(
        source=source,
        key=doc["key"],
        version=doc["version"],
        document=Document(title=_loc(doc["document"]["title"]), articles=dict(doc["document"]["articles"])),
        languages=tuple(doc["languages"]),
        default_language=doc["default_language"],
        controller=controller,
        joint_controllers=joint_controllers,
        subject_kinds=subject_kinds,
        activities=activities,
        data_categories=tuple(categories),
        recipients=tuple(recipients),
        transfers=TransferStatement(doc["transfers"]["health_data_outside_eu"], _loc(doc["transfers"].get("statement"))),
        identity=Identity(
            document_required=i["document_required"],
            accepted_types=tuple(i["accepted_types"]),
            max_size_bytes=i["max_size_bytes"],
            copy_retention=Duration(**i["copy_retention"]),
            delete_unconfirmed_after=Duration(**i["delete_unconfirmed_after"]),
            representative_proofs={k: _loc(v) for k, v in i["representative_proofs"].items()},
        ),
        deadlines=Deadlines(
            months=d["months"],
            extension_months=d["extension_months"],
            calendar=Calendar(d["calendar"]["country"], d["calendar"]["subdivision"]),
            timezone=d["timezone"],
            medical_record=MedicalRecordRule(**mr) if mr else None,
            clarifications={
                k: ClarificationRule(c["suspends"], _loc(c.get("legal_reference"))) for k, c in d["clarifications"].items()
            },
        ),
        routing=Routing(
            rules=tuple(
                RoutingRule(tuple(x["subject_kinds"]), tuple(x["activities"]), x["route_to"], x["fallback"]) for x in r["rules"]
            ),
            default_route=r["default_route"],
            reminder_every_days=r["reminder_every_days"],
            escalate_without_ack_days=r["escalate_without_ack_days"],
            escalate_days_before_due=r["escalate_days_before_due"],
            task_link_valid_days=r["task_link_valid_days"],
        ),
        delivery=Delivery(**doc["delivery"]),
        request_types=request_types,
        readings={
            k: Reading(k, _loc(r["question"]), _loc(r["choice"]), tuple(r["applies_to"]))
            for k, r in doc["readings"].items()
        },
    )
