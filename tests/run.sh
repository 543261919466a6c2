#!/usr/bin/env bash
# The test command of the README (`make test`): two passes, and a line saying which services were used.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
REQUIRE=${DSAR_REQUIRE_SERVICES:-0}
PG_URL=${DSAR_TEST_PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/test}
REDIS_URL_BASE=${DSAR_TEST_REDIS_URL:-redis://127.0.0.1:6379}
export DSAR_TEST_PG_ADMIN_URL=$PG_URL DSAR_TEST_REDIS_URL=$REDIS_URL_BASE
unset DATABASE_URL REDIS_URL SECRET_KEY DSAR_FILE_KEYS DSAR_ENV

pg_ok=0; redis_ok=0
$BIN/python - "$PG_URL" <<'PY' && pg_ok=1
import sys, sqlalchemy as sa
try:
    with sa.create_engine(sys.argv[1]).connect() as c: c.execute(sa.text("select 1"))
except Exception as e:
    print(f"PostgreSQL not reachable: {type(e).__name__}"); sys.exit(1)
PY
$BIN/python - "$REDIS_URL_BASE" <<'PY' && redis_ok=1
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()
except Exception as e:
    print(f"Redis not reachable: {type(e).__name__}"); sys.exit(1)
PY

status=0
# Two workers: the machine this was written for has two cores. DSAR_TEST_WORKERS=0 runs in one process.
WORKERS=${DSAR_TEST_WORKERS:-2}
PAR=(); [[ $WORKERS != 0 ]] && PAR=(-n "$WORKERS" --dist loadfile)
echo "== pass 1: SQLite, jobs in-process =="
DSAR_TEST_DB=sqlite $BIN/pytest -q -m "not browser and not slow" -p no:cacheprovider "${PAR[@]}" "$@" || status=1

if [[ $pg_ok == 1 && $redis_ok == 1 ]]; then
  echo "== pass 2: PostgreSQL, RQ on Redis, Chromium =="
  DSAR_TEST_DB=postgresql $BIN/pytest -q -p no:cacheprovider "${PAR[@]}" "$@" || status=1
  echo "services used: SQLite, PostgreSQL ($PG_URL), Redis ($REDIS_URL_BASE)"
elif [[ $REQUIRE == 1 ]]; then
  echo "FAILED: DSAR_REQUIRE_SERVICES=1 and PostgreSQL or Redis is not reachable (postgresql=$pg_ok redis=$redis_ok)"
  status=1
else
  echo "services used: SQLite only — PostgreSQL/Redis not reachable, their pass was not run (set DSAR_REQUIRE_SERVICES=1 to make this a failure)"
fi
exit $status
