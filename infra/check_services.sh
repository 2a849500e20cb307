#!/usr/bin/env bash
# Check that tuneline's shared services answer: Prefect API, MLflow tracking server, PostgreSQL.
#
#   infra/check_services.sh                          # uses the current environment
#   infra/check_services.sh /etc/tuneline/tuneline.env   # sources that file first
#
# Reads PREFECT_API_URL (…/api), MLFLOW_TRACKING_URI (http[s]://…) and PGHOST/PGPORT.
# A service whose variable is unset is reported SKIP; an MLFLOW_TRACKING_URI that is not http(s)
# (the embedded sqlite:/// store) has no server and is SKIP too.
# Prints one OK/FAIL/SKIP line per service; exits 1 if any check failed, 2 if none could run.
set -euo pipefail

if [[ $# -gt 0 ]]; then
    set -a
    # shellcheck disable=SC1090
    source "$1"
    set +a
fi

TIMEOUT="${CHECK_TIMEOUT:-10}"
failed=0
checked=0

report() {  # report STATUS NAME DETAIL
    printf '%-4s %-10s %s\n' "$1" "$2" "$3"
    if [[ "$1" == FAIL ]]; then failed=1; fi
    if [[ "$1" != SKIP ]]; then checked=$((checked + 1)); fi
}

check_http() {  # check_http NAME URL
    local out
    if out=$(curl -fsS --max-time "$TIMEOUT" "$2" 2>&1); then
        report OK "$1" "$2 -> ${out:0:40}"
    else
        report FAIL "$1" "$2: ${out:-no answer}"
    fi
}

# Prefect: GET {PREFECT_API_URL}/health answers `true` (no auth needed even with basic auth on).
if [[ -n "${PREFECT_API_URL:-}" ]]; then
    check_http prefect "${PREFECT_API_URL%/}/health"
else
    report SKIP prefect "PREFECT_API_URL is not set (ephemeral Prefect)"
fi

# A server with auth answers 401 to a request without a login; anything else means it is open.
check_login_required() {  # check_login_required NAME URL [curl args...]
    local name="$1" url="$2" code
    shift 2
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$TIMEOUT" "$@" "$url" || true)
    if [[ "$code" == 401 ]]; then
        report OK "$name" "$url refuses a request without a login (401)"
    else
        report FAIL "$name" "$url answered $code without a login: auth is off"
    fi
}

# Prefect: the API must want PREFECT_API_AUTH_STRING (only /api/health is open).
if [[ -n "${PREFECT_API_URL:-}" ]]; then
    check_login_required prefect-auth "${PREFECT_API_URL%/}/flow_runs/filter" -X POST \
        -H 'Content-Type: application/json' -d '{"limit": 1}'
fi

# MLflow: GET {MLFLOW_TRACKING_URI}/health answers `OK`; the API must want a login.
case "${MLFLOW_TRACKING_URI:-}" in
    http://*|https://*)
        check_http mlflow "${MLFLOW_TRACKING_URI%/}/health"
        check_login_required mlflow-auth \
            "${MLFLOW_TRACKING_URI%/}/api/2.0/mlflow/experiments/search?max_results=1"
        ;;
    "") report SKIP mlflow "MLFLOW_TRACKING_URI is not set" ;;
    *) report SKIP mlflow "MLFLOW_TRACKING_URI=${MLFLOW_TRACKING_URI} is not a server" ;;
esac

# PostgreSQL: pg_isready (package postgresql-client) checks that the server accepts connections.
if [[ -z "${PGHOST:-}" ]]; then
    report SKIP postgres "PGHOST is not set"
elif ! command -v pg_isready >/dev/null 2>&1; then
    report FAIL postgres "pg_isready not found (apt-get install postgresql-client)"
elif out=$(pg_isready -h "$PGHOST" -p "${PGPORT:-5432}" -t "$TIMEOUT" 2>&1); then
    report OK postgres "$out"
else
    report FAIL postgres "$out"
fi

if [[ $checked -eq 0 ]]; then
    echo "nothing was checked: set PREFECT_API_URL, MLFLOW_TRACKING_URI, PGHOST (or pass an env file)" >&2
    exit 2
fi
exit "$failed"
