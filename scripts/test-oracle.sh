#!/usr/bin/env bash
# Runs the client scenarios (Java, Curator, kazoo, C cli_mt, zkCli.sh) against a real
# Apache ZooKeeper 3.9.5 instead of zoe, to check that what they assert is
# ZooKeeper's actual behaviour. Extra arguments go to `cargo test`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup-deps.sh"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
export ZOE_TEST_ZK_LIB="$ROOT/.cache/java/zk-3.9.5/lib"
export ZOE_TEST_JAVA_CLASSES="$ROOT/.cache/java/classes"
export ZOE_TEST_VENV="$ROOT/.cache/venv"
export ZOE_TEST_TARGET=zookeeper
exec cargo test --test java_client --test kazoo_client --test c_client --test zkcli \
    --test surface --test curator "$@"
