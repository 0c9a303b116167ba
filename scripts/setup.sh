#!/usr/bin/env bash
# Installs what Warden's build and tests need: the wasm32-wasip2 target for
# the plugins, and (as root, on Debian) the packages the browser test uses.
set -euo pipefail

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
