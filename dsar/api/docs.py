"""GET /api/v1/docs: the API's documentation, rendered on the server from the OpenAPI document (no script, no CDN)."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

from ..services.webhooks import (
    DELIVERY_HEADER, EVENT_HEADER, KNOWN_EVENTS, SIGNATURE_HEADER, TIMESTAMP_HEADER, DEFAULT_TOLERANCE,
)

bp = Blueprint("api_docs", __name__)
METHODS = ("get", "post", "put", "patch", "delete")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type_of(prop: dict) -> dict:
    """A property's type as {label, ref}: ref names a schema documented further down the page."""
    if "$ref" in prop:
        return {"label": _ref_name(prop["$ref"]), "ref": _ref_name(prop["$ref"])}
    if prop.get("allOf"):
        return _type_of(prop["allOf"][0])
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = " | ".join(k for k in kind if k != "null")
    if kind == "array":
        inner = _type_of(prop.get("items", {}))
        return {"label": f"array of {inner['label']}", "ref": inner["ref"]}
    label = kind or "any"
    if prop.get("format"):
        label += f" ({prop['format']})"
    return {"label": label, "ref": None}


def _properties(schema: dict) -> list[dict]:
    required = set(schema.get("required", ()))
    rows = []
    for name, prop in (schema.get("properties") or {}).items():
        t = _type_of(prop)
        limits = []
        if "minLength" in prop or "maxLength" in prop:
            limits.append(f"{prop.get('minLength', 0)}–{prop.get('maxLength', '…')} chars")
        if "minimum" in prop or "maximum" in prop:
            limits.append(f"{prop.get('minimum', '…')}–{prop.get('maximum', '…')}")
        if "minItems" in prop or "maxItems" in prop:
            limits.append(f"{prop.get('minItems', 0)}–{prop.get('maxItems', '…')} items")
        rows.append({
            "name": name, "type": t["label"], "ref": t["ref"], "required": name in required,
            "nullable": bool(prop.get("nullable")), "enum": prop.get("enum") or (prop.get("items") or {}).get("enum"),
            "description": prop.get("description", ""), "limits": ", ".join(limits), "read_only": prop.get("readOnly"),
        })
    return rows


def _schema_ref(content: dict | None) -> str | None:
    schema = ((content or {}).get("application/json") or {}).get("schema") or {}
    return _ref_name(schema["$ref"]) if "$ref" in schema else None


def _operations(spec: dict) -> list[dict]:
    tags = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    grouped: dict[str, list] = {name: [] for name in tags}
    for path, item in spec.get("paths", {}).items():
        shared_params = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            params = []
            for p in shared_params + op.get("parameters", []):
                t = _type_of(p.get("schema", {}))
                params.append({"name": p["name"], "in": p["in"], "required": p.get("required", False),
                               "type": t["label"], "description": p.get("description", ""),
                               "enum": (p.get("schema") or {}).get("enum") or ((p.get("schema") or {}).get("items") or {}).get("enum")})
            responses = []
            for status, res in sorted(op.get("responses", {}).items()):
                if "$ref" in res:
                    res = spec["components"]["responses"][_ref_name(res["$ref"])]
                responses.append({"status": status, "description": res.get("description", ""),
                                  "schema": _schema_ref(res.get("content"))})
            body = op.get("requestBody")
            grouped.setdefault((op.get("tags") or ["other"])[0], []).append({
                "id": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "scopes": op.get("x-scopes") or [],
                "secured": bool(op.get("security")), "parameters": params,
                "body": _schema_ref(body.get("content")) if body else None, "responses": responses,
            })
    return [{"name": name, "description": tags.get(name, ""), "operations": ops} for name, ops in grouped.items() if ops]


def describe(spec: dict) -> dict:
    schemas = spec.get("components", {}).get("schemas", {})
    return {
        "title": spec["info"]["title"],
        "version": spec["info"]["version"],
        "description": spec["info"].get("description", ""),
        "groups": _operations(spec),
        "schemas": [{"name": name, "description": s.get("description", ""), "properties": _properties(s),
                     "closed": s.get("additionalProperties") is False}
                    for name, s in sorted(schemas.items())],
    }


@bp.get("/api/v1/docs")
def docs_GET():
    api = current_app.extensions["dsar_api"]
    return render_template("api/docs.html", doc=describe(api.spec.to_dict()), webhook={
        "signature": SIGNATURE_HEADER, "timestamp": TIMESTAMP_HEADER, "delivery": DELIVERY_HEADER,
        "event": EVENT_HEADER, "tolerance": DEFAULT_TOLERANCE, "events": KNOWN_EVENTS,
    })
