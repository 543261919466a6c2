"""The systems file's schema: strict like the policy's (an unknown key is an error naming file and dotted key).

The per-kind and cross-reference rules (categories from the policy, references
to declared tables, acyclic graph, sealing) are in ``loading``.
"""
from __future__ import annotations

import re

from marshmallow import ValidationError, fields, validate, validates_schema

from ..policy.schema import _Keyed, _Localized, _one_of, _Strict
from .model import IDENTITY_KINDS, SYSTEM_KINDS

IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
DOTTED_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
ACTION_VERBS = ("erasure", "restriction", "lift_restriction", "rectification", "deactivate", "archive")


def _env(**kw):
    """The name of an environment variable; a literal URL or secret is refused (it would sit in a file)."""
    return fields.String(validate=validate.Regexp(
        ENV_RE, error="{input!r} is not the name of an environment variable: put URLs and secrets in the "
                      "environment and name the variable here (for example DSAR_APP_DB_READ_URL)"), **kw)


def _ident(**kw):
    return fields.String(validate=validate.Regexp(IDENT_RE, error="invalid name {input!r}"), **kw)


def _dotted(**kw):
    return fields.String(validate=validate.Regexp(DOTTED_RE, error="{input!r} is not table.column"), **kw)


class _IdentField(fields.Field):
    """Keyed by a database identifier (table or column name, case kept)."""

    def __init__(self, nested, noun: str, **kwargs):
        super().__init__(**kwargs)
        self.nested, self.noun = nested, noun

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("wrong type: expected a mapping")
        out, errors = {}, {}
        for key, item in value.items():
            if not isinstance(key, str) or not IDENT_RE.match(key):
                errors[str(key)] = [f"invalid {self.noun} name {key!r}"]
                continue
            try:
                out[key] = self.nested().load(item if item is not None else {})
            except ValidationError as err:
                errors[key] = err.messages
        if errors:
            raise ValidationError(errors)
        return out


class _OneOrMany(fields.Field):
    """``table.column`` or a list of them."""

    def _deserialize(self, value, attr, data, **kwargs):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise ValidationError("wrong type: expected table.column or a list of them")
        bad = [i for i in items if not isinstance(i, str) or not DOTTED_RE.match(i)]
        if bad:
            raise ValidationError(f"{bad[0]!r} is not table.column")
        return items


class _Mask(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("null", "hash"):
            return value
        if isinstance(value, dict) and set(value) == {"fixed"} and isinstance(value["fixed"], (str, int)):
            return value
        raise ValidationError('unknown mask (known: "null", hash, {fixed: "…"})')


class ColumnSchema(_Strict):
    noun = "column key"
    category = fields.String()
    personal = fields.Boolean(load_default=True)
    why = fields.String()
    mask = _Mask()
    file = fields.Boolean(load_default=False)
    filename_column = _ident()


class ReferenceSchema(_Strict):
    noun = "reference key"
    column = _ident(required=True)
    to = _dotted(required=True)


class ActionsSchema(_Strict):
    """Read by execution (issue 17), which validates the values; collection only checks the verbs."""

    noun = "action"
    erasure = fields.String(validate=_one_of(("delete", "mask"), "erasure action"))
    restriction = fields.Raw()
    lift_restriction = fields.Raw()
    rectification = fields.List(_ident())
    deactivate = fields.Raw()
    archive = fields.Raw()


class TableSchema(_Strict):
    noun = "table key"
    primary_key = fields.List(_ident(), load_default=lambda: ["id"])
    sealed = fields.Boolean(load_default=False)
    references = fields.List(fields.Nested(ReferenceSchema), load_default=list)
    columns = _IdentField(ColumnSchema, "column", required=True)
    actions = fields.Nested(ActionsSchema, load_default=dict)


class ConnectionSchema(_Strict):
    noun = "connection key"
    read_url_env = _env(required=True)
    write_url_env = _env()


class OwnerSchema(_Strict):
    noun = "owner key"
    name = fields.String(required=True)
    email = fields.Email(required=True)


class SystemSchema(_Strict):
    noun = "system key"
    name = _Localized(required=True)
    kind = fields.String(required=True, validate=_one_of(SYSTEM_KINDS, "system kind"))
    activity = fields.String(required=True)
    sealed = fields.Boolean(load_default=False)
    # sql
    connection = fields.Nested(ConnectionSchema)
    identities = _Keyed(_OneOrMany(), noun="identity kind", allowed=IDENTITY_KINDS)
    tables = _IdentField(TableSchema, "table")
    # http
    endpoint_env = _env()
    secret_env = _env()
    timeout_seconds = fields.Integer(strict=True, load_default=10, validate=validate.Range(min=1, max=300))
    # http, manual
    categories = fields.List(fields.String())
    owner = fields.Nested(OwnerSchema)

    @validates_schema
    def _per_kind(self, data, **kwargs):
        kind = data.get("kind")
        need = {"sql": ("connection", "identities", "tables"), "http": ("endpoint_env", "secret_env", "categories"),
                "manual": ("owner", "categories")}.get(kind, ())
        errors = {k: [f"missing required key for a {kind} system"] for k in need if k not in data}
        allowed = set(need) | {"name", "kind", "activity", "sealed", "timeout_seconds"}
        for k in data:
            if k not in allowed and k != "timeout_seconds":
                errors[k] = [f"not used by a {kind} system"]
        if errors:
            raise ValidationError(errors)


class SystemsFileSchema(_Strict):
    noun = "key"
    version = fields.Integer(strict=True, required=True, validate=validate.Equal(1, error="only version 1 exists"))
    systems = _Keyed(fields.Nested(SystemSchema), noun="system", required=True)
