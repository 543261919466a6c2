"""Public pages."""
from __future__ import annotations

from flask import render_template

from . import bp


@bp.get("/")
def index_GET():
    return render_template("public/index.html")
