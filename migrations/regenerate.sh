#!/usr/bin/env bash
# Until the first release, the schema is one initial migration rebuilt from the models.
# After a release, create incremental revisions instead: `dsar db migrate -m "what changed"`.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -f migrations/versions/0001_initial_schema.py
DSAR_ENV=test DSAR_INSTANCE_PATH="$tmp" DATABASE_URL="sqlite:///$tmp/schema.db" REDIS_URL= \
  .venv/bin/flask --app dsar:create_app db migrate -m "initial schema" --rev-id 0001 >/dev/null 2>&1
echo "migrations/versions/0001_initial_schema.py rebuilt from the models"
