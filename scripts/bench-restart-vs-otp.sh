#!/usr/bin/env bash
# Warden's component restart against Erlang/OTP's, side by side in one run:
# `warden bench restart` (a `counter` component child traps on `crash`;
# timed until its next incarnation answers) and the same shape in OTP 
# (host/warden/src/bench/otp/restart_bench.erl: a registered gen_server
# under a one_for_one supervisor stops on `crash`; timed until the new one
# answers `get`), alternating, ROUNDS times each (default 3).
#
#   scripts/bench-restart-vs-otp.sh [ROUNDS]
#
# Prints JSON lines, as `warden bench --json` does: each run's figures
# (bench "restart" and "restart_otp"), then the medians of the runs' p50s
# and Warden's p50 as a percentage of OTP's (bench "restart_vs_otp";
# under 100 means Warden restarts faster).
#
# Needs: `erl` and `erlc` (`scripts/setup.sh otp` installs Debian's
# erlang-base), python3, the plugins built (scripts/demo.sh or the tests
# build them) and a release `warden` (`cargo build --release -p warden`).
# WARDEN_BIN and WARDEN_PLUGINS point elsewhere, e.g. at a debug build.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-3}"
case "$rounds" in
  '' | *[!0-9]* | 0)
    echo "usage: scripts/bench-restart-vs-otp.sh [ROUNDS]  (ROUNDS a positive whole number; got: $rounds)" >&2
    exit 2
    ;;
esac
warden="${WARDEN_BIN:-target/release/warden}"
plugins="${WARDEN_PLUGINS:-plugins/target/wasm32-wasip2/release}"

for tool in erl erlc; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench-restart-vs-otp: no $tool on PATH; scripts/setup.sh otp installs Debian's erlang-base" >&2
    exit 1
  fi
done
if [ ! -x "$warden" ]; then
  echo "bench-restart-vs-otp: no $warden; build it with: cargo build --release -p warden" >&2
  exit 1
fi

beam_dir="$(mktemp -d)"
trap 'rm -rf "$beam_dir"' EXIT
erlc -Werror -o "$beam_dir" host/warden/src/bench/otp/restart_bench.erl

results="$beam_dir/results.jsonl"
for _ in $(seq "$rounds"); do
  "$warden" bench restart --json --plugins "$plugins" | tee -a "$results"
  erl -noshell -pa "$beam_dir" -eval 'restart_bench:main()' | tee -a "$results"
done

python3 - "$results" <<'PY'
import json, statistics, sys

p50 = {"restart": [], "restart_otp": []}
with open(sys.argv[1]) as lines:
    for line in lines:
        figure = json.loads(line)
        if figure["metric"] == "p50" and figure["bench"] in p50:
            p50[figure["bench"]].append(figure["value"])
for bench, values in p50.items():
    if not values:
        sys.exit(f"bench-restart-vs-otp: no p50 from {bench}")
warden = statistics.median(p50["restart"])
otp = statistics.median(p50["restart_otp"])
for metric, value, unit in [
    ("warden_p50", warden, "us"),
    ("otp_p50", otp, "us"),
    ("warden_p50_of_otp", 100.0 * warden / otp, "percent"),
]:
    print(json.dumps({"bench": "restart_vs_otp", "metric": metric, "value": round(value, 3), "unit": unit}, separators=(",", ":")))
PY
