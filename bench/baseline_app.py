"""The baseline of bench/intake_throughput.py: a bare Flask endpoint that stores the body with one INSERT.

Same stack as dsar (Flask, SQLAlchemy, psycopg, gunicorn sync workers, the same PostgreSQL), none of its
work: no validation, no deadline, no audit event, no email, no job, no rate limit. Served by

    BASELINE_DATABASE_URL=postgresql://… gunicorn -w 4 --chdir bench baseline_app:app
"""
from __future__ import annotations

import json
import os

import sqlalchemy as sa
from flask import Flask, jsonify, request

app = Flask(__name__)
engine = sa.create_engine(os.environ["BASELINE_DATABASE_URL"], pool_pre_ping=True)
# The table is created by bench/intake_throughput.py (TABLE there).
INSERT = sa.text("INSERT INTO baseline_submissions (body) VALUES (CAST(:body AS jsonb)) RETURNING id")


@app.post("/submit")
def submit_POST():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="invalid_json"), 400
    with engine.begin() as conn:
        new_id = conn.execute(INSERT, {"body": json.dumps(body)}).scalar_one()
    return jsonify(id=new_id), 201


@app.get("/health")
def health_GET():
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    return jsonify(status="ok")
