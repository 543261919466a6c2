"""The floor of bench/intake_throughput.py (``--kinds unmatched,floor``): dsar's own app and its API's stack
around the baseline's bare INSERT, to say how much of a submission's cost is the stack any API call pays.

The endpoint ``POST /bench/submit`` goes through everything ``POST /api/v1/requests`` goes through before and
after its view — gunicorn, Flask and dsar's before/after-request hooks, the per-key and failed-authentication
rate limits (Redis counters), the API key and its scope, the hostile-JSON guard, flask-smorest parsing the body
with the same ``RequestCreateSchema`` and serialising the answer — and in its view only what
``baseline_app.py`` does: one INSERT of the JSON body, through dsar's SQLAlchemy session, and a commit. No
deadline, routing, audit event, email or job. Served by

    DATABASE_URL=postgresql://… (production settings) gunicorn -w 4 --chdir bench floor_app:app

Bench code only: it imports one private helper of ``dsar.api`` (``_prepare``, what every API blueprint gets).
"""
from __future__ import annotations

import json

import marshmallow as ma
import sqlalchemy as sa
from flask import request
from flask_smorest import Blueprint

from dsar import create_app
from dsar.api import _prepare, auth
from dsar.api.schemas import RequestCreateSchema
from dsar.extensions import csrf, db

bp = Blueprint("bench_floor", __name__, url_prefix="/bench", description="The intake bench's floor.")
# The table is created by bench/intake_throughput.py (BASELINE_TABLE there), as for the baseline.
INSERT = sa.text("INSERT INTO baseline_submissions (body) VALUES (CAST(:body AS jsonb)) RETURNING id")


class FloorSchema(ma.Schema):
    id = ma.fields.Integer(required=True)


@bp.route("/submit", methods=["POST"])
@auth.secured(bp, "submit", "staff", body=True)
@bp.arguments(RequestCreateSchema())
@bp.response(201, FloorSchema)
def floor_POST(data: dict):
    auth.authenticate()
    new_id = db.session.execute(INSERT, {"body": json.dumps(request.get_json(silent=True))}).scalar_one()
    db.session.commit()
    return {"id": new_id}


_prepare(bp)
app = create_app()
app.extensions["dsar_api"].register_blueprint(bp)
csrf.exempt(bp)
