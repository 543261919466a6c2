"""The policy the demo (``make run``) and the tests run on: ``workflows/idomed.yaml`` with its contradictions resolved.

``workflows/idomed.yaml`` encodes IDOMED's policy as written (seed art. 11): transfers resting on the Privacy
Shield, invalidated by the CJEU (C-311/18, 16 July 2020), and "health data never leave the EU" beside US
transfers of the Idomed application. Those contradictions block every letter until the DPO resolves them
(``dsar/policy_warnings.py``, issue 13 item 11). A demonstration has no DPO to decide, so it runs on a copy
where the choices are made the way a DPO most likely would, each marked as a demonstration choice:

- the safeguard of each such transfer is the EU-US Data Privacy Framework (Commission adequacy decision of
  10 July 2023), as the processor would state it;
- each recipient that transfers data outside the EU is declared as receiving no health data.

Production never uses this module: the DPO edits the policy file itself.

    python -m dsar.demo_policy workflows/idomed.yaml instance/demo-policy.yaml
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml


def resolve_contradictions(doc: dict) -> dict:
    """``doc`` (a parsed policy file) with the choices above made, in place; returned for convenience."""
    for recipients in doc["recipients"].values():
        for r in recipients:
            for t in r.get("transfers", []):
                if t.get("safeguard") == "privacy_shield":
                    t["safeguard"], t["safeguard_status"] = "data_privacy_framework", "as_stated"
            if r.get("transfers") and r.get("receives_health_data") is None:
                r["receives_health_data"] = False
    return doc


def write_resolved_policy(source: str | Path, target: str | Path) -> Path:
    """Write ``source`` with its contradictions resolved to ``target``; a ``systems:`` file it names is kept
    pointing at the same file (made absolute, since the copy lives elsewhere)."""
    source, target = Path(source).resolve(), Path(target)
    doc = resolve_contradictions(yaml.safe_load(source.read_text(encoding="utf-8")))
    if isinstance(doc.get("systems"), str):
        doc["systems"] = str((source.parent / doc["systems"]).resolve())
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Generated from {source.name} by dsar.demo_policy for the demonstration only: the DPO's choices\n"
              "# pending in the policy (transfer safeguards, recipients of health data) are made here. Do not edit.\n")
    target.write_text(header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m dsar.demo_policy SOURCE.yaml TARGET.yaml", file=sys.stderr)
        return 2
    write_resolved_policy(*args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
