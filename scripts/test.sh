#!/usr/bin/env bash
# The test command: installs what is missing (scripts/setup-deps.sh), then
# formatting, lints, and every test of the workspace, integration tests
# included (they start real etcd, zoe, ZooKeeper and client processes).
#
# Extra arguments go to `cargo test`, e.g. `scripts/test.sh --test java_client`.
# ZOE_TEST_TARGET=zookeeper runs the client scenarios against a real
# ZooKeeper 3.9.5 instead of zoe.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/scripts/setup-deps.sh"

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# Where the integration tests find their external artifacts.
export ZOE_TEST_ZK_LIB="$ROOT/.cache/java/zk-3.9.5/lib"
export ZOE_TEST_JAVA_CLASSES="$ROOT/.cache/java/classes"
export ZOE_TEST_VENV="$ROOT/.cache/venv"
export ZOE_TEST_ETCD="${ZOE_TEST_ETCD:-$(command -v etcd || echo /usr/bin/etcd)}"
export ZOE_TEST_CLI_MT="${ZOE_TEST_CLI_MT:-/usr/lib/zookeeper/bin/cli_mt}"
export ZOE_TEST_ZKCLI="${ZOE_TEST_ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}"
export ZOE_TEST_TARGET="${ZOE_TEST_TARGET:-zoe}"

step() { echo "==> $*" >&2; }

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace (client scenarios against: $ZOE_TEST_TARGET)"
cargo test --workspace "$@"
