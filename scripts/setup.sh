#!/usr/bin/env bash
# Installs what Warden's build and tests need, and nothing that is already
# there (a second run takes a second or two).
#
#   scripts/setup.sh        everything the tests use (what .ci/run calls)
#   scripts/setup.sh demo   only what building and running the demo needs
#   scripts/setup.sh otp    Debian's erlang-base, for comparing restarts with
#                           Erlang/OTP (scripts/bench-restart-vs-otp.sh); no
#                           test needs it
#
# The demo needs only:
# - the wasm32-wasip2 target, for the plugins.
# The tests also use (each test that needs one of these says so and is
# skipped without it, unless WARDEN_REQUIRE_TOOLS=1, as in .ci/run):
# - Debian's chromium (as root), for the dashboard's browser test;
# - Debian's tmux (as root), the real terminal `warden repl`'s test types
#   into (tests/all/repl.rs);
# - Debian's nats-server (as root), the JetStream server the fleet tests
#   start (tests/all/fleet.rs; they fail without it);
# - playwright-core in tests/browser/node_modules (from its lockfile), which
#   drives that chromium;
# - python's openapi-spec-validator, which checks the API's OpenAPI document;
# - python's schemathesis, pinned (its CLI changes between majors), which
#   fuzzes the API against that document (tests/all/api_conformance.rs);
# - python's jsonschema, pinned, the independent check of the params schema
#   validator (host/ops/tests/schema_vs_jsonschema.rs reads the pin here);
# - python's prometheus_client, pinned, whose parser checks `/metrics`
#   (tests/all/metrics_history.rs reads the pin here);
# - componentize-py (pip) and @bytecodealliance/componentize-js (npm, in
#   ${WARDEN_TOOLS_DIR:-$XDG_DATA_HOME/warden/tools}), pinned: `warden grade`
#   builds its Python and JavaScript runners with them
#   (tests/all/grade_languages.rs fails without them, never skips).
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
# The toolchains that build the grader's Python and JavaScript runners
# (host/grade/src/source.rs pins the same versions).
COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0
JSONSCHEMA_VERSION=4.26.0
PROMETHEUS_CLIENT_VERSION=0.26.0
cd "$(dirname "$0")/.."

case "${1:-test}" in
  demo) only_demo=1 ;;
  test) only_demo=0 ;;
  otp) only_demo=0 ;;
  *)
    echo "usage: scripts/setup.sh [demo|test|otp]  (got: $1)" >&2
    exit 2
    ;;
esac

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi

if [ "$only_demo" -eq 1 ]; then
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "setup: need root for: $*" >&2
    return 1
  fi
}

apt_install() {
  # The package lists may be missing or stale: update them only when the
  # install fails without an update.
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; then
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
  fi
}

if [ "${1:-test}" = otp ]; then
  if ! command -v erl >/dev/null || ! command -v erlc >/dev/null; then
    apt_install erlang-base
  fi
  exit 0
fi

if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi

if ! command -v tmux >/dev/null; then
  apt_install tmux
fi

# The fleet tests (tests/all/fleet.rs) start their own nats-server with
# JetStream; Debian's is 2.9.10.
if ! command -v nats-server >/dev/null; then
  apt_install nats-server
fi

if ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi

if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund)
fi

if ! python3 -c 'import openapi_spec_validator' 2>/dev/null; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
  fi
  # Debian's python is "externally managed": a user install needs the flag.
  python3 -m pip install --quiet openapi-spec-validator \
    || python3 -m pip install --quiet --break-system-packages openapi-spec-validator
fi

if ! python3 -m schemathesis.cli --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
  fi
  python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION" \
    || python3 -m pip install --quiet --break-system-packages "schemathesis==$SCHEMATHESIS_VERSION"
fi

if ! python3 -c "from importlib.metadata import version; assert version('jsonschema') == '$JSONSCHEMA_VERSION'" 2>/dev/null; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
  fi
  python3 -m pip install --quiet "jsonschema==$JSONSCHEMA_VERSION" \
    || python3 -m pip install --quiet --break-system-packages "jsonschema==$JSONSCHEMA_VERSION"
fi

if ! python3 -c "from importlib.metadata import version; assert version('prometheus_client') == '$PROMETHEUS_CLIENT_VERSION'" 2>/dev/null; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
  fi
  python3 -m pip install --quiet "prometheus_client==$PROMETHEUS_CLIENT_VERSION" \
    || python3 -m pip install --quiet --break-system-packages "prometheus_client==$PROMETHEUS_CLIENT_VERSION"
fi

if ! componentize-py --version 2>/dev/null | grep -q " $COMPONENTIZE_PY_VERSION\$"; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
  fi
  python3 -m pip install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION" \
    || python3 -m pip install --quiet --break-system-packages "componentize-py==$COMPONENTIZE_PY_VERSION"
fi

tools_dir="${WARDEN_TOOLS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/warden/tools}"
componentize_js="$tools_dir/node_modules/@bytecodealliance/componentize-js/package.json"
if ! grep -q "\"version\": \"$COMPONENTIZE_JS_VERSION\"" "$componentize_js" 2>/dev/null; then
  mkdir -p "$tools_dir"
  npm install --no-audit --no-fund --prefix "$tools_dir" "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION"
fi
