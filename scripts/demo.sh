#!/usr/bin/env bash
# One command: set up the toolchain (the wasm32-wasip2 target, nothing the
# tests alone need), build the plugins and Warden, and run the demo
# supervision tree until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh demo
cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml
echo "demo: the dashboard will be at http://127.0.0.1:7878/ (warden ctl tree talks to the same API)"
exec cargo run --release -p warden -- run examples/warden.toml
