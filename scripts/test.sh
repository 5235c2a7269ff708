#!/usr/bin/env bash
# The full test suite on a fresh machine: installs everything the tests need
# (pip + apt), starts the real services (SeaweedFS, PostgreSQL+PostGIS+pgstac
# behind stac-fastapi-pgstac, pygeoapi, pycsw), runs the linters (ruff check,
# ruff format --check, mypy) and pytest, and always stops what it started.  `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== install the bot and its test dependencies"
python -m pip install -q --disable-pip-version-check -e ".[test]"

if ! command -v shellcheck >/dev/null 2>&1; then
  echo "== apt: shellcheck (used by actionlint)"
  (apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null) || echo "warning: shellcheck not installed"
fi

echo "== lint, format and types (ruff, mypy: configured in pyproject.toml)"
python -m ruff check .
python -m ruff format --check .
python -m mypy
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "== apt: nginx (the remote-source tests' HTTP server: conditional and Range requests)"
  (apt-get update -qq && apt-get install -y -qq nginx >/dev/null) || echo "warning: nginx not installed"
fi

export CATALOG_BOT_SCHEMAS="${CATALOG_BOT_SCHEMAS:-$(cd .. && pwd)/shared/contracts/schemas}"

if [ -f scripts/dev_services.py ] && [ "${CATALOG_BOT_SKIP_SERVICES:-}" != "1" ]; then
  echo "== start the dev services"
  python scripts/dev_services.py up
  trap 'python scripts/dev_services.py down || true' EXIT
fi

echo "== pycsw (the harvester tests' CSW server, in its own virtual environment)"
python -m tests.csw_server --install

echo "== pydap (the remote-source tests' OPeNDAP server, in its own virtual environment)"
python -m tests.opendap_server --install

echo "== pytest"
python -m pytest -n 2 -q "$@"
