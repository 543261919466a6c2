"""Development only: the emails the embedded mode wrote to instance/mail/, so links can be clicked."""
from __future__ import annotations

import email
from email import policy as email_policy
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template

bp = Blueprint("dev", __name__)


def _mail_dir() -> Path:
    return Path(current_app.config["DSAR_MAIL_DIR"])


def _load(path: Path):
    msg = email.message_from_bytes(path.read_bytes(), policy=email_policy.default)
    text = msg.get_body(preferencelist=("plain",))
    return {
        "name": path.stem,
        "to": msg["To"],
        "subject": msg["Subject"],
        "date": msg["Date"],
        "text": text.get_content() if text else "",
    }


@bp.get("/mail")
def mail_GET():
    folder = _mail_dir()
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.exists() else []
    return render_template("dev/mail.html", messages=[_load(p) for p in files[:200]])


@bp.get("/mail/<name>")
def mail_message_GET(name: str):
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        abort(404)
    path = _mail_dir() / f"{name}.eml"
    if not path.exists():
        abort(404)
    return render_template("dev/mail_message.html", message=_load(path))
