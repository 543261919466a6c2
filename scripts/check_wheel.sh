#!/usr/bin/env bash
# CI: the wheel is the whole service. Build it, install it in a fresh virtual environment outside the checkout
# and, from another directory, run `dsar db upgrade` on a temporary SQLite database, serve a French page and an
# API submission through gunicorn (dsar.wsgi:app), and render a letter and an email. A file the wheel forgot
# (template, migration, policy, catalogue, static file) makes this fail. About a minute with a warm pip cache.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOUT=$PWD
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
BUILD_PIP=${BUILD_PIP:-$CHECKOUT/.venv/bin/pip}
work=$(mktemp -d /tmp/dsar-wheel.XXXXXX)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work" "$CHECKOUT/build"
}
trap cleanup EXIT
fail() { echo "check_wheel: FAILED: $*" >&2; [[ -f $work/gunicorn.log ]] && tail -20 "$work/gunicorn.log" >&2; exit 1; }
start=$SECONDS

# 1. Build the wheel (the checkout's build tools; no network needed for the build itself). A stale build/ could
#    carry a module deleted since: build from a clean one.
rm -rf build
if [[ -x $BUILD_PIP ]]; then
  "$BUILD_PIP" wheel -q --no-deps --no-build-isolation -w "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "wheel build"; }
else
  "$PYTHON" -m pip wheel -q --no-deps -w "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "wheel build"; }
fi
wheel=$(ls "$work"/dist/dsar-*.whl)
echo "check_wheel: built $(basename "$wheel") ($(unzip -l "$wheel" | tail -1 | awk '{print $2}') files)"

# 2. A fresh venv outside the checkout, with the versions CI tests (constraints.txt).
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check -c "$CHECKOUT/constraints.txt" "$wheel" \
  >"$work/install.log" 2>&1 || { tail -20 "$work/install.log"; fail "pip install of the wheel"; }
BIN=$work/venv/bin

# 3. Everything from another directory, as production: no checkout on sys.path.
mkdir -p "$work/run" && cd "$work/run"
unset PYTHONPATH REDIS_URL DATABASE_URL DSAR_POLICY DSAR_FILES_DIR DSAR_MAIL_DIR DSAR_INSTANCE_PATH
export DSAR_ENV=production DSAR_ALLOW_SQLITE=1 DATABASE_URL="sqlite:///$work/dsar.sqlite3"
export DSAR_INSTANCE_PATH=$work/instance DSAR_FILES_DIR=$work/files DSAR_MAIL_DIR=$work/mail MAIL_BACKEND=file
export PUBLIC_BASE_URL=http://127.0.0.1 MAIL_DEFAULT_SENDER=dsar@example.test DSAR_DPO_EMAIL=dpo@example.test
export SECRET_KEY=$("$BIN/python" -c 'import secrets; print(secrets.token_hex(32))')
export DSAR_FILE_KEYS=$("$BIN/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')

where=$("$BIN/python" -c 'import dsar, dsar.resources as r; print(dsar.__file__, r.is_checkout())')
[[ $where == "$work/venv/"*" False" ]] || fail "dsar is imported from '$where', not from the installed wheel"

"$BIN/dsar" db upgrade >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log"; fail "dsar db upgrade"; }
api_key=$("$BIN/dsar" create-api-key --name "wheel check" --scope submit | tail -1)

port=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN/gunicorn" -c python:dsar.gunicorn_conf --workers 1 --bind "127.0.0.1:$port" dsar.wsgi:app >"$work/gunicorn.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fs -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || fail "gunicorn exited"
  sleep 0.2
done

page=$(curl -fsS -H 'Accept-Language: fr-FR,fr;q=0.9' "http://127.0.0.1:$port/") || fail "GET / through gunicorn"
grep -q 'lang="fr"' <<<"$page" || fail "the home page is not served in French"
grep -qi 'demande' <<<"$page" || fail "the home page has no French text (catalogue missing?)"
css=$(curl -fsS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/static/style.css") || fail "static/style.css"
[[ $css == 200 ]] || fail "static/style.css answered $css"

body='{"type":"access","channel":"account","language":"fr","external_account_id":"wheel-1",
       "identity":{"method":"account","verified":true},
       "subject":{"kind":"patient","first_name":"Jeanne","last_name":"Dupont","email":"jeanne@example.test","birth_date":"1980-04-02"}}'
status=$(curl -sS -o "$work/api.json" -w '%{http_code}' -H "Authorization: Bearer $api_key" \
  -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/api/v1/requests")
[[ $status == 201 ]] || { cat "$work/api.json"; fail "API submission answered $status"; }
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
grep -q '"GET / HTTP/1.1" 200' "$work/gunicorn.log" || fail "the shipped gunicorn config wrote no access log line"

# 4. A letter (PDF read back) and an email, in French, from the installed templates and catalogues.
"$BIN/python" - <<'PY' || fail "rendering a letter and an email"
import io, sys
from pathlib import Path
import os
import sqlalchemy as sa
from pypdf import PdfReader
from dsar import create_app
from dsar.extensions import db
from dsar.models import DataRequest, OutboxMessage
from dsar.services.fulfilment.letters import render_letter
from dsar.services.notifications import render_email

app = create_app()
with app.app_context(), app.test_request_context():
    req = db.session.scalar(sa.select(DataRequest))
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(render_letter("acknowledgement", req, "fr"))).pages)
    assert req.reference in text and "demande" in text.lower(), text[:300]
    subject, plain, html = render_email("confirm_email", "fr", {"reference": req.reference, "hours": 48,
                                       "confirm_url": "http://127.0.0.1/x", "delete_after": "30 jours"})
    assert subject.startswith("Confirmez"), subject
    queued = db.session.scalars(sa.select(OutboxMessage)).all()
    assert queued and all(m.language == "fr" for m in queued), [(m.template, m.language) for m in queued]
    assert any("demande" in m.subject.lower() for m in queued), [m.subject for m in queued]
mail = list(Path(os.environ["DSAR_MAIL_DIR"]).rglob("*"))
assert any(p.is_file() for p in mail), "no email was written by the file backend"
print(f"check_wheel: letter of {req.reference} and emails rendered in French ({len(queued)} queued)")
PY
echo "check_wheel: ok in $((SECONDS - start)) s"
