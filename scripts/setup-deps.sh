#!/usr/bin/env bash
# Installs everything the test suite needs on a Debian/Ubuntu machine.
# Idempotent: each step is skipped when its result is already there, so a
# re-run takes a second or two. Downloads are cached under .cache/ (gitignored):
#
#   .cache/venv/                  Python virtualenv with kazoo and pytest
#   .cache/m2/                    Maven's local repository
#   .cache/java/zk-3.9.5/lib/     Apache ZooKeeper 3.9.5 jars + runtime deps
#                                 (the oracle server and the Java client),
#                                 and Apache Curator with its dependencies
#   .cache/java/classes/          compiled tests/java/src (zoetest.Scenarios,
#                                 zoetest.Surface, zoetest.CuratorScenarios,
#                                 zoetest.Faults)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
ZK_VERSION=3.9.5
PY_REQUIREMENTS=(kazoo==2.11.0 pytest==9.2.0)

log() { echo "[setup-deps] $*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi

# ---------------------------------------------------------------- apt
APT_PACKAGES=(
    etcd-server etcd-client         # etcd 3.4: zoe's store
    zookeeper zookeeper-bin         # zkCli.sh and the C client's cli_mt
    protobuf-compiler               # etcd-client's build script needs protoc
    default-jdk-headless maven      # ZooKeeper 3.9.5 oracle + Java client
    python3-venv                    # kazoo virtualenv
    docker-compose                  # `config` checks docker-compose.yml (tests/deploy.rs)
)
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    APT_PACKAGES+=(curl ca-certificates build-essential)
fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        log "missing packages (${missing[*]}) and no apt-get: install them by hand"
        exit 1
    fi
    log "installing apt packages: ${missing[*]}"
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi
for f in /usr/bin/etcd /usr/lib/zookeeper/bin/cli_mt /usr/share/zookeeper/bin/zkCli.sh; do
    if [ ! -x "$f" ]; then
        log "expected $f after installing packages, but it is not there"
        exit 1
    fi
done

# ---------------------------------------------------------------- Rust
if ! command -v cargo >/dev/null 2>&1; then
    if [ ! -x "$HOME/.cargo/bin/cargo" ]; then
        log "installing the Rust toolchain with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
            sh -s -- -y --profile minimal --component rustfmt,clippy
    fi
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if command -v rustup >/dev/null 2>&1; then
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
fi

# ---------------------------------------------------------------- Python (kazoo)
VENV="$CACHE/venv"
want="${PY_REQUIREMENTS[*]}"
if [ "$(cat "$VENV/.zoe-requirements" 2>/dev/null)" != "$want" ] ||
    ! "$VENV/bin/python" -c 'import kazoo, pytest' >/dev/null 2>&1; then
    log "creating $VENV with $want"
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PY_REQUIREMENTS[@]}"
    echo "$want" >"$VENV/.zoe-requirements"
fi

# ---------------------------------------------------------------- Java (ZooKeeper 3.9.5)
POM="$ROOT/tests/java/pom.xml"
ZK_LIB="$CACHE/java/zk-$ZK_VERSION/lib"
pom_sum="$(sha256sum "$POM" | cut -d' ' -f1)"
if [ ! -f "$ZK_LIB/zookeeper-$ZK_VERSION.jar" ] ||
    [ "$(cat "$ZK_LIB/.pom.sha256" 2>/dev/null)" != "$pom_sum" ]; then
    log "fetching ZooKeeper $ZK_VERSION jars into $ZK_LIB"
    rm -rf "$ZK_LIB"
    mkdir -p "$ZK_LIB"
    if ! (cd "$ROOT/tests/java" &&
        mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$CACHE/m2" \
            dependency:copy-dependencies -DoutputDirectory="$ZK_LIB" -DincludeScope=runtime \
            >"$CACHE/mvn.log" 2>&1); then
        cat "$CACHE/mvn.log" >&2
        log "mvn dependency:copy-dependencies failed"
        exit 1
    fi
    echo "$pom_sum" >"$ZK_LIB/.pom.sha256"
fi

CLASSES="$CACHE/java/classes"
mapfile -t JAVA_SOURCES < <(find "$ROOT/tests/java/src" -name '*.java' | sort)
src_sum="$(cat "${JAVA_SOURCES[@]}" "$POM" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$CLASSES/zoetest/Scenarios.class" ] ||
    [ "$(cat "$CLASSES/.src.sha256" 2>/dev/null)" != "$src_sum" ]; then
    log "compiling the Java scenarios into $CLASSES"
    rm -rf "$CLASSES"
    mkdir -p "$CLASSES"
    # The ZooKeeper jar references SpotBugs annotations it does not ship;
    # javac warns about them, which is noise here.
    if ! javac --release 11 -nowarn -encoding UTF-8 -d "$CLASSES" -cp "$ZK_LIB/*" \
        "${JAVA_SOURCES[@]}" 2>"$CACHE/javac.log"; then
        cat "$CACHE/javac.log" >&2
        log "javac failed"
        exit 1
    fi
    grep -v -e SuppressFBWarnings -e '^[0-9]* warnings\?$' "$CACHE/javac.log" >&2 || true
    echo "$src_sum" >"$CLASSES/.src.sha256"
fi

log "ok"
