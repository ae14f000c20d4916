#!/bin/sh
# render-conf.sh TEMPLATE DEST [TEMPLATE DEST]... [-- COMMAND [ARG]...]
#
# Writes each TEMPLATE (a file of this directory) to DEST with every
# placeholder replaced by the value of the environment variable of the same
# name, then, after `--`, replaces itself with COMMAND. A placeholder is an
# upper-case name between two at-signs (for example the metadata servers of
# broker.conf). An unset or empty variable is an error that names the
# template and line, and nothing is started: a half-filled configuration
# would point a process at the wrong metadata store.
#
# docker-compose.yml runs every Pulsar and BookKeeper process through this
# script, and tests/e2e_pulsar.rs renders its configuration with it too, so
# the files here are the ones the end-to-end test proves. Plain POSIX sh and
# awk: it runs in the apachepulsar/pulsar image as it is.
set -eu

while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    if [ $# -lt 2 ]; then
        echo "render-conf.sh: template $1 has no destination" >&2
        exit 2
    fi
    src=$1
    dest=$2
    shift 2
    mkdir -p "$(dirname "$dest")"
    if ! awk '
        {
            line = $0
            out = ""
            while (match(line, /@[A-Z][A-Z0-9_]*@/)) {
                name = substr(line, RSTART + 1, RLENGTH - 2)
                if (ENVIRON[name] == "") {
                    printf "render-conf.sh: %s:%d: %s is not set\n", FILENAME, FNR, name > "/dev/stderr"
                    bad = 1
                }
                out = out substr(line, 1, RSTART - 1) ENVIRON[name]
                line = substr(line, RSTART + RLENGTH)
            }
            print out line
        }
        END { exit bad }
    ' "$src" >"$dest.tmp"; then
        rm -f "$dest.tmp"
        exit 1
    fi
    mv "$dest.tmp" "$dest"
done

if [ $# -gt 0 ]; then
    shift
    if [ $# -gt 0 ]; then
        exec "$@"
    fi
fi
