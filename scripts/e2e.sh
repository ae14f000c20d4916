#!/usr/bin/env bash
# The end-to-end suite: official Apache BookKeeper 4.14 (bookies, auditor +
# replication worker, client) and DistributedLog 4.14 running unmodified on
# zoe + etcd, and a Pulsar 2.10 broker with its function worker whose
# BookKeeper/DistributedLog metadata is on zoe (tests/e2e_bookkeeper.rs,
# tests/e2e_distributedlog.rs, tests/e2e_pulsar.rs); against zoe, also a
# Pulsar cluster on etcd whose tree zoe shares with autorecovery
# (tests/e2e_pulsar_shared_tree.rs; ZooKeeper cannot serve an etcd tree).
#
# Needs etcd, a JDK and Maven (scripts/setup-deps.sh installs them). The
# first run resolves the jars from Maven Central (tests/e2e/pom.xml into
# .cache/e2e/lib, tests/e2e/pulsar/pom.xml into .cache/e2e/pulsar-lib) and
# compiles the Java drivers into .cache/e2e/classes and
# .cache/e2e/pulsar-classes; later runs reuse them while their inputs are
# unchanged (see tests/e2e/README.md). About 2 minutes once cached.
#
# Extra arguments go to `cargo test`. ZOE_TEST_TARGET=zookeeper runs the same
# scenarios against a real ZooKeeper 3.9.5 (.cache/java/zk-3.9.5/lib, from
# scripts/setup-deps.sh) instead of zoe.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
for tool in java javac mvn; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "[e2e] $tool not found: run scripts/setup-deps.sh first" >&2
        exit 1
    fi
done
export ZOE_TEST_ETCD="${ZOE_TEST_ETCD:-$(command -v etcd || echo /usr/bin/etcd)}"
export ZOE_TEST_ZK_LIB="${ZOE_TEST_ZK_LIB:-$ROOT/.cache/java/zk-3.9.5/lib}"
export ZOE_TEST_TARGET="${ZOE_TEST_TARGET:-zoe}"

TESTS=(--test e2e_bookkeeper --test e2e_distributedlog --test e2e_pulsar)
if [ "$ZOE_TEST_TARGET" = zoe ]; then
    TESTS+=(--test e2e_pulsar_shared_tree)
fi
echo "==> cargo test ${TESTS[*]} (metadata server: $ZOE_TEST_TARGET)" >&2
# Show the [e2e] progress lines as the scenarios go.
export RUST_TEST_NOCAPTURE="${RUST_TEST_NOCAPTURE:-1}"
cargo test "${TESTS[@]}" "$@"
