#!/usr/bin/env bash
# The full test suite on a fresh machine: installs everything the tests need
# (pip + apt), starts the real services (SeaweedFS, PostgreSQL+PostGIS+pgstac
# behind stac-fastapi-pgstac, pygeoapi, pycsw, pydap), runs the linters (ruff check,
# ruff format --check, mypy) and pytest, and always stops what it started.  `.ci/run` calls exactly this.
#
# Why this order (CI budget: 15 minutes on 2 cores): apt runs first, once, as
# one transaction (dpkg allows one installer at a time); then uv (the
# installer of everything after it); then the services
# install and start in the background (scripts/dev_services.py, itself
# parallel; service environments under .venv-services are reused when their
# pinned requirements match) while the bot installs and the linters run; the
# pycsw and pydap environments install behind the bot.  No sleeps: every wait is on a
# process or a readiness poll.  Per-phase timings are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

T0=$SECONDS
TIMINGS=()
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/catalog-bot-ci.XXXXXX")
SERVICES_PID=""
PYCSW_PID=""
WITH_SERVICES=0
STOP_SERVICES=0
if [ -f scripts/dev_services.py ] && [ "${CATALOG_BOT_SKIP_SERVICES:-}" != "1" ]; then
  WITH_SERVICES=1
  # Services that were already all healthy (a developer's) are used and left running.
  python scripts/dev_services.py status >/dev/null 2>&1 || STOP_SERVICES=1
fi

phase() { echo "== [$((SECONDS - T0))s] $*"; }
timed() { # timed NAME START: record how long a phase took
  TIMINGS+=("$1 $((SECONDS - $2))s")
}
# shellcheck disable=SC2317  # invoked by the EXIT trap
finish() {
  local rc=$?
  for pid in $SERVICES_PID $PYCSW_PID; do # still running: stop its whole process group
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  if [ "$STOP_SERVICES" = 1 ]; then
    python scripts/dev_services.py down || true
  fi
  echo "== timings: ${TIMINGS[*]:-none}; total $((SECONDS - T0))s"
  rm -rf "$LOGS"
  exit "$rc"
}
trap finish EXIT

# Wait for a background job, show its log, fail the run if it failed.
await_job() { # await_job NAME PID LOG
  local rc=0
  wait "$2" || rc=$?
  sed "s/^/  [$1] /" "$3"
  if [ "$rc" != 0 ]; then
    echo "error: $1 failed (exit $rc)" >&2
    exit "$rc"
  fi
}

t=$SECONDS
missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)                         # used by actionlint
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)          # remote-source tests' HTTP server
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || missing+=(tinyproxy)  # remote-source tests' HTTP proxy
if [ "$WITH_SERVICES" = 1 ] && [ ! -f /usr/share/postgresql/15/extension/postgis.control ]; then
  missing+=(postgresql-15-postgis-3)                                                  # the pgstac database
fi
if [ "${#missing[@]}" -gt 0 ]; then
  phase "apt: ${missing[*]}"
  (export DEBIAN_FRONTEND=noninteractive && apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null) ||
    echo "warning: apt could not install ${missing[*]} (the services script says what is missing)"
fi
timed apt "$t"

export CATALOG_BOT_SCHEMAS="${CATALOG_BOT_SCHEMAS:-$(cd .. && pwd)/shared/contracts/schemas}"

# uv installs the bot and every service environment (scripts/devsvc/install.py):
# from cold caches on 2 cores it took 23 s for the bot where pip took 225 s,
# and 42 s for the five service environments where pip took 275 s.
# CATALOG_BOT_INSTALLER=pip uses pip throughout (e.g. behind a pip-only index).
t=$SECONDS
UV=()
if [ "${CATALOG_BOT_INSTALLER:-}" != pip ]; then
  python -c "import uv" 2>/dev/null || python -m pip install -q --disable-pip-version-check "uv>=0.5" ||
    echo "warning: could not install uv; installing with pip"
  python -c "import uv" 2>/dev/null && UV=(python -m uv)
fi
timed uv "$t"

if [ "$WITH_SERVICES" = 1 ]; then
  phase "dev services: install and start in the background"
  # shellcheck disable=SC2016  # expanded by the inner bash
  setsid bash -c 's=$SECONDS && python scripts/dev_services.py up && echo "services ready after $((SECONDS - s))s"' \
    >"$LOGS/services.log" 2>&1 &
  SERVICES_PID=$!
fi

phase "install the bot and its test dependencies"
t=$SECONDS
if [ "${#UV[@]}" -gt 0 ]; then
  "${UV[@]}" pip install -q --python "$(python -c 'import sys; print(sys.executable)')" -e ".[test]"
else
  python -m pip install -q --disable-pip-version-check -e ".[test]"
fi
timed install "$t"

phase "pycsw and pydap environments (the CSW and OPeNDAP test servers) in the background"
# shellcheck disable=SC2016  # expanded by the inner bash
setsid bash -c 's=$SECONDS
  python -m tests.csw_server --install & csw=$!
  python -m tests.opendap_server --install & dap=$!
  wait "$csw" && wait "$dap" && echo "pycsw and pydap ready after $((SECONDS - s))s"' \
  >"$LOGS/pycsw.log" 2>&1 &
PYCSW_PID=$!

phase "lint, format and types (ruff, mypy: configured in pyproject.toml)"
t=$SECONDS
python -m ruff check .
python -m ruff format --check .
python -m mypy
timed lint "$t"

t=$SECONDS
phase "waiting for pycsw, pydap and the services"
await_job pycsw+pydap "$PYCSW_PID" "$LOGS/pycsw.log"
PYCSW_PID=""
if [ -n "$SERVICES_PID" ]; then
  await_job services "$SERVICES_PID" "$LOGS/services.log"
  SERVICES_PID=""
fi
timed wait-for-services "$t"

phase "pytest"
t=$SECONDS
rc=0
python -m pytest -n 2 -q "$@" || rc=$?
timed pytest "$t"
exit "$rc"
