#!/usr/bin/env bash
# The HTTP API under a load generator in its own process: `wrk` (Debian's
# `wrk` package) POSTs `wc.count` (the `wordcount` operation plugin of
# examples/warden.toml) to a `warden run` of that config, CONNS connections
# on THREADS threads for SECS seconds, ROUNDS times per binary; with two
# binaries (before and after a change) the runs alternate.
#
#   scripts/bench-api-wrk.sh [WARDEN_BIN ...]
#
# Environment: ROUNDS (3), SECS (10), CONNS (32), THREADS (2), PORT (17878),
# POOL (128: `[host] pooling_instances`, as `warden bench api` and a host with
# many children run; 0 for on-demand instances, the example's default).
# Prints wrk's summary (requests/s, latency percentiles) per run. Needs the
# plugins built (scripts/demo.sh or the tests build them).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
rounds="${ROUNDS:-3}" secs="${SECS:-10}" conns="${CONNS:-32}" threads="${THREADS:-2}"
port="${PORT:-17878}" pool="${POOL:-128}"
bins=("$@")
[ "${#bins[@]}" -gt 0 ] || bins=(target/release/warden)
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 2; }
[ -f plugins/target/wasm32-wasip2/release/wordcount.wasm ] || {
  echo "build the plugins first (scripts/demo.sh)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'kill "$host" 2>/dev/null || true; rm -rf "$work"' EXIT
# examples/warden.toml with absolute paths, its own state dir and port.
sed -e "s|\"\\.\\./\\.warden\"|\"$work/state\"|" \
    -e "s|\"\\.\\./|\"$root/|g" \
    -e "s|\"data\"|\"$root/examples/data\"|g" \
    -e "s|127.0.0.1:7878|127.0.0.1:$port|" \
    -e "s|^\[host\]\$|[host]\npooling_instances = $pool|" \
    examples/warden.toml >"$work/warden.toml"
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text": "the quick brown fox jumps over the lazy dog and the cat", "top": 3}'
LUA

for round in $(seq "$rounds"); do
  for bin in "${bins[@]}"; do
    "$bin" run "$work/warden.toml" >"$work/host.log" 2>&1 &
    host=$!
    for _ in $(seq 100); do
      curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
        -d '{"text": "a"}' "http://127.0.0.1:$port/ops/wc.count" && break
      sleep 0.1
    done
    echo "== round $round: $bin"
    wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "$work/post.lua" \
      "http://127.0.0.1:$port/ops/wc.count" | grep -E "Requests/sec|Non-2xx|50%|90%|99%|requests in"
    kill "$host"; wait "$host" 2>/dev/null || true
  done
done
