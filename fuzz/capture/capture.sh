#!/usr/bin/env bash
# Records the bytes real clients send during their test scenarios, as fuzz
# corpus seeds: a ZooKeeper 3.9.5 server on loopback, record_proxy.py in
# front of it, then the Java client scenarios, the kazoo tests and zkCli.
#
#   fuzz/capture/capture.sh OUT_DIR
#
# Needs what scripts/setup-deps.sh installs (the ZooKeeper jars, the
# compiled Java scenarios, the kazoo virtualenv, zkCli.sh). Then, from
# fuzz/:  cargo +nightly fuzz cmin <target> OUT_DIR/<target>  after copying
# OUT_DIR/<target>/* into corpus/<target>/.
set -euo pipefail

out=$(realpath -m "${1:?usage: capture.sh OUT_DIR}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
zk_lib=${ZOE_TEST_ZK_LIB:-$root/.cache/java/zk-3.9.5/lib}
classes=${ZOE_TEST_JAVA_CLASSES:-$root/.cache/java/classes}
venv=${ZOE_TEST_VENV:-$root/.cache/venv}
zkcli=${ZOE_TEST_ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}
jvm=(-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
four_letter() { # PORT WORD
    python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),2); s.sendall(sys.argv[2].encode()); print(s.recv(64).decode(errors="replace"))' "$1" "$2" 2>/dev/null || true
}

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

zk_port=$(free_port)
mkdir -p "$work/data" "$out"
cat > "$work/zoo.cfg" <<CFG
tickTime=2000
dataDir=$work/data
clientPort=$zk_port
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=false
CFG
java "${jvm[@]}" -Xmx256m -cp "$zk_lib/*" org.apache.zookeeper.server.ZooKeeperServerMain \
    "$work/zoo.cfg" > "$work/zk.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
    if [ "$(four_letter "$zk_port" ruok)" = imok ]; then break; fi
    sleep 0.5
done

port=
proxy() { # TAG: starts a recording proxy, sets $port
    port=$(free_port)
    python3 "$here/record_proxy.py" "$port" "127.0.0.1:$zk_port" "$out" "$1" \
        > "$work/proxy-$1.log" 2>&1 &
    pids+=($!)
    sleep 0.5
}

# The Java client: every single-server scenario.
proxy java
for s in crud sequential errors special watches multi session_expiry; do
    java "${jvm[@]}" -Xmx128m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        -Dzookeeper.sasl.client=false -cp "$classes:$zk_lib/*" zoetest.Scenarios \
        "$s" "127.0.0.1:$port" > "$work/java-$s.log" 2>&1 || echo "java $s failed (recorded anyway)"
done

# kazoo.
proxy kazoo
(cd "$root/tests/python" && ZOE_TEST_CONNECT="127.0.0.1:$port" PYTHONDONTWRITEBYTECODE=1 \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider . > "$work/kazoo.log" 2>&1) \
    || echo "kazoo failed (recorded anyway)"

# zkCli, one command per connection, and a four-letter word.
proxy zkcli
export CLIENT_JVMFLAGS="${jvm[*]}"
for cmd in "create /cli data" "create -s -e /cli/seq- x" "ls -s /cli" "get -s /cli" \
    "set /cli other" "stat /cli" "getAcl /cli" "setAcl /cli world:anyone:cdrwa" \
    "addWatch -m PERSISTENT_RECURSIVE /cli" "create -c /cont" "create -t 5000 /ttl x" \
    "sync /cli" "whoami" "getEphemerals /" "getAllChildrenNumber /" \
    "addauth digest user:pw" "deleteall /cli" "delete /cont" "ls -R /zookeeper"; do
    # shellcheck disable=SC2086
    "$zkcli" -server "127.0.0.1:$port" $cmd > /dev/null 2>&1 || true
done
four_letter "$port" ruok > /dev/null
sleep 1
echo "recorded $(ls "$out/connection" | wc -l) connections, $(ls "$out/jute_decode" | wc -l) frames in $out"
