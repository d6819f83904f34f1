#!/usr/bin/env bash
# Start the local services the test suite uses, if they are installed and not running.
# PostgreSQL is required in CI (CI=true); elsewhere the PostgreSQL half of the suite is
# skipped with a reason when no server can be reached.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if command -v pg_isready >/dev/null 2>&1; then
  if ! pg_up; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
      echo "services: starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
      for _ in $(seq 1 30); do pg_up && break; sleep 1; done
    fi
  fi
  if pg_up; then
    echo "services: PostgreSQL ready on 127.0.0.1:5432"
  elif [ "${CI:-}" = "true" ]; then
    echo "services: PostgreSQL is not reachable on 127.0.0.1:5432 and CI needs it" >&2
    exit 1
  else
    echo "services: PostgreSQL not reachable; its tests will be skipped"
  fi
elif [ "${CI:-}" = "true" ]; then
  echo "services: pg_isready not found; CI needs PostgreSQL" >&2
  exit 1
else
  echo "services: PostgreSQL client tools not installed; its tests will be skipped"
fi
