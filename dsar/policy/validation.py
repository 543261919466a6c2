"""Cross-reference checks of a policy file, after the schema (``dsar.policy.schema``) accepted its structure.

One function per section; ``check`` runs them in the file's order and yields (key path, problem) pairs, which
``dsar.policy.loading`` turns into one ``PolicyError`` naming every bad key.
"""

from __future__ import annotations

from typing import Any, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .law import INVALIDATED_SAFEGUARDS, MACHINE_READABLE_FORMATS, REQUEST_TYPES
from .schema import LocalizedLists, LocalizedText

#: A problem: the key path in the file, and what is wrong there.
Problem = tuple[tuple, str]


def _walk_localized(node: Any, path: tuple) -> Iterator[tuple[tuple, dict]]:
    if isinstance(node, (LocalizedText, LocalizedLists)):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _walk_localized(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_localized(value, path + (i,))


def _unknown_refs(values, known, noun, path) -> Iterator[Problem]:
    for i, value in enumerate(values):
        if value not in known:
            yield path + (i,), f"unknown {noun} {value!r} (known: {', '.join(known)})"


def _check_languages(doc: dict) -> Iterator[Problem]:
    """Every text of the file is in the file's languages, and in its default language."""
    languages = doc["languages"]
    default = doc["default_language"]
    if default not in languages:
        yield ("default_language",), f"{default!r} is not one of languages ({', '.join(languages)})"
    for path, texts in _walk_localized(doc, ()):
        for lang in texts:
            if lang not in languages:
                yield path + (lang,), f"unknown language {lang!r} (languages: {', '.join(languages)})"
        if default not in texts:
            yield path, f"missing text in the default language {default!r}"


def _check_controllers(doc: dict) -> Iterator[Problem]:
    controller_key = doc["controller"]["key"]
    if controller_key in doc["joint_controllers"]:
        yield ("joint_controllers", controller_key), "a joint controller cannot have the controller's key"


def _check_activities(doc: dict) -> Iterator[Problem]:
    """Controllers, data subjects, sub-purposes and the GDPR art. 26 arrangement of each activity."""
    controller_key = doc["controller"]["key"]
    joint = doc["joint_controllers"]
    kinds = doc["subject_kinds"]
    activities = doc["activities"]
    for akey, act in activities.items():
        base = ("activities", akey)
        parties = {controller_key, *joint}
        yield from _unknown_refs(act["controllers"], parties, "controller", base + ("controllers",))
        if act["joint"] != (len(act["controllers"]) > 1):
            yield base + ("joint",), "joint must be true exactly when the activity has more than one controller"
        yield from _unknown_refs(act["data_subjects"], kinds, "subject kind", base + ("data_subjects",))
        seen: set[str] = set()
        for i, sp in enumerate(act["sub_purposes"]):
            if sp["key"] in seen:
                yield base + ("sub_purposes", i, "key"), f"duplicate sub-purpose {sp['key']!r}"
            seen.add(sp["key"])
            for right, rule in sp["rights"].items():
                for j, kind in enumerate(rule.get("subject_kinds") or ()):
                    if kind not in act["data_subjects"]:
                        yield base + ("sub_purposes", i, "rights", right, "subject_kinds", j), (
                            f"unknown subject kind {kind!r} for this activity (data_subjects: {', '.join(act['data_subjects'])})"
                        )
        resp = act.get("responsibilities")
        if act["joint"] and resp is None:
            yield base + ("responsibilities",), "missing required key: a joint processing states who does what (GDPR art. 26)"
        if resp is not None:
            rbase = base + ("responsibilities",)
            for kind, tasks in resp["requests"].items():
                if kind not in act["data_subjects"]:
                    yield rbase + ("requests", kind), f"unknown subject kind {kind!r} for this activity"
                for task, roles in tasks.items():
                    for party in roles:
                        if party not in act["controllers"]:
                            yield rbase + ("requests", kind, task, party), f"unknown party {party!r} (controllers: {', '.join(act['controllers'])})"
                    if "in_charge" not in roles.values():
                        yield rbase + ("requests", kind, task), "nobody is in charge"
            for kind, roles in resp["erasure"].items():
                if kind not in act["data_subjects"]:
                    yield rbase + ("erasure", kind), f"unknown subject kind {kind!r} for this activity"
                for party in roles:
                    if party not in act["controllers"]:
                        yield rbase + ("erasure", kind, party), f"unknown party {party!r}"
            for section in ("notify_recipients", "minors"):
                for party in resp[section]:
                    if party not in act["controllers"]:
                        yield rbase + (section, party), f"unknown party {party!r}"


def _check_every_activity_listed(doc: dict) -> Iterator[Problem]:
    """``data_categories`` and ``recipients`` name every activity, and only those."""
    activities = doc["activities"]
    for section in ("data_categories", "recipients"):
        for akey in doc[section]:
            if akey not in activities:
                yield (section, akey), f"unknown activity {akey!r} (known: {', '.join(activities)})"
        for akey in activities:
            if akey not in doc[section]:
                yield (section, akey), f"missing required key: every activity lists its {section.replace('_', ' ')}"


def _check_data_categories(doc: dict) -> Iterator[Problem]:
    activities = doc["activities"]
    for akey, cats in doc["data_categories"].items():
        if akey not in activities:
            continue
        seen = set()
        for i, cat in enumerate(cats):
            path = ("data_categories", akey, i)
            if cat["key"] in seen:
                yield path + ("key",), f"duplicate data category {cat['key']!r}"
            seen.add(cat["key"])
            for j, kind in enumerate(cat["subject_kinds"]):
                if kind not in activities[akey]["data_subjects"]:
                    yield path + ("subject_kinds", j), f"unknown subject kind {kind!r} for this activity"
            ret = cat["retention"]
            if ret["active"]["kind"] in ("rolling", "fixed") and ret.get("archive"):
                yield path + ("retention", "archive"), f"a {ret['active']['kind']} retention has no archive phase"


def _check_recipients(doc: dict) -> Iterator[Problem]:
    controller_key = doc["controller"]["key"]
    activities = doc["activities"]
    for akey, recipients in doc["recipients"].items():
        if akey not in activities:
            continue
        seen = set()
        for i, rec in enumerate(recipients):
            path = ("recipients", akey, i)
            if rec["key"] in seen:
                yield path + ("key",), f"duplicate recipient {rec['key']!r}"
            seen.add(rec["key"])
            if rec["kind"] == "joint_controller":
                jc = rec.get("joint_controller")
                if jc is None:
                    yield path + ("joint_controller",), "missing required key: which joint controller this recipient is"
                elif jc not in activities[akey]["controllers"] or jc == controller_key:
                    yield path + ("joint_controller",), f"unknown joint controller {jc!r} for this activity"
            elif "joint_controller" in rec:
                yield path + ("joint_controller",), "only a recipient of kind joint_controller names a joint controller"
            if rec.get("contact_rule") == "professional_in_charge" and rec["kind"] != "joint_controller":
                yield path + ("contact_rule",), "professional_in_charge is the contact of a joint controller only"
            for j, tr in enumerate(rec["transfers"]):
                if tr["safeguard"] in INVALIDATED_SAFEGUARDS and tr["safeguard_status"] != "invalidated":
                    when, case = INVALIDATED_SAFEGUARDS[tr["safeguard"]]
                    yield path + ("transfers", j, "safeguard_status"), (
                        f"{tr['safeguard']} was invalidated on {when.isoformat()} ({case}); write safeguard_status: invalidated"
                    )


def _check_routing(doc: dict) -> Iterator[Problem]:
    kinds = doc["subject_kinds"]
    activities = doc["activities"]
    for i, rule in enumerate(doc["routing"]["rules"]):
        path = ("routing", "rules", i)
        yield from _unknown_refs(rule["subject_kinds"], kinds, "subject kind", path + ("subject_kinds",))
        yield from _unknown_refs(rule["activities"], activities, "activity", path + ("activities",))
        if rule["route_to"] == "professional_in_charge":
            for j, akey in enumerate(rule["activities"]):
                if akey in activities and not activities[akey]["joint"]:
                    yield path + ("activities", j), f"{akey!r} has no joint controller to route to"


def _check_deadlines(doc: dict) -> Iterator[Problem]:
    """The holiday calendar and the time zone exist."""
    cal = doc["deadlines"]["calendar"]
    try:
        import holidays

        holidays.country_holidays(cal["country"], subdiv=cal["subdivision"])
    except ImportError:  # pragma: no cover - holidays is a dependency
        pass
    except (NotImplementedError, KeyError) as exc:
        yield ("deadlines", "calendar"), f"unknown holiday calendar: {exc}"
    try:
        ZoneInfo(doc["deadlines"]["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        yield ("deadlines", "timezone"), f"unknown time zone {doc['deadlines']['timezone']!r}"


def _check_request_types(doc: dict) -> Iterator[Problem]:
    """Every request type is listed; its steps name known activities, subject kinds and sub-purposes."""
    kinds = doc["subject_kinds"]
    activities = doc["activities"]
    sub_refs = {f"{a}.{sp['key']}" for a, act in activities.items() for sp in act["sub_purposes"]}
    for rt in REQUEST_TYPES:
        if rt not in doc["request_types"]:
            yield ("request_types", rt), f"missing request type {rt!r}: every request type lists its steps"
    for rkey, rt in doc["request_types"].items():
        seen = set()
        for i, step in enumerate(rt["steps"]):
            path = ("request_types", rkey, "steps", i)
            if step["key"] in seen:
                yield path + ("key",), f"duplicate step {step['key']!r}"
            seen.add(step["key"])
            when = step.get("when")
            if when:
                yield from _unknown_refs(when["activities"], activities, "activity", path + ("when", "activities"))
                yield from _unknown_refs(when["subject_kinds"], kinds, "subject kind", path + ("when", "subject_kinds"))
                for j, ref in enumerate(when["sub_purposes"]):
                    if ref not in sub_refs:
                        yield path + ("when", "sub_purposes", j), f"unknown sub-purpose {ref!r} (write activity.sub_purpose)"
            if step["formats"] and not MACHINE_READABLE_FORMATS & set(step["formats"]):
                yield path + ("formats",), "a portability export needs a machine-readable format (json, csv or xml)"
        if rkey == "portability" and not any(MACHINE_READABLE_FORMATS & set(s["formats"]) for s in rt["steps"]):
            yield ("request_types", rkey, "steps"), "portability needs a step with machine-readable formats (GDPR art. 20)"


#: The checks, in the order their problems are reported.
CHECKS = (_check_languages, _check_controllers, _check_activities, _check_every_activity_listed, _check_data_categories, _check_recipients, _check_routing, _check_deadlines, _check_request_types)


def check(doc: dict) -> Iterator[Problem]:
    """Every cross-reference problem of a loaded document, section by section."""
    for section in CHECKS:
        yield from section(doc)
