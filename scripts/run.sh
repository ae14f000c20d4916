#!/usr/bin/env bash
# Installs what zoe needs on Debian/Ubuntu (etcd, protoc, Rust), builds it,
# and runs it on 127.0.0.1:2181 with a local etcd it starts and supervises
# (data under ./var/etcd). Extra arguments go to `zoe serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v etcd >/dev/null || missing+=(etcd-server)
command -v protoc >/dev/null || missing+=(protobuf-compiler)
command -v cc >/dev/null || missing+=(build-essential)
command -v curl >/dev/null || missing+=(curl ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi

cargo build --release -p zoe
exec target/release/zoe serve "$@"
