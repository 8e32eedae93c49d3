#!/usr/bin/env bash
# scripts/frontend-registry.sh [start|stop|status]
#
# A loopback registry the Docker 26 engine of scripts/modern-engine.sh can pull from, for the
# frontend image (`# syntax=localhost:PORT/nixdf-frontend`). That dockerd runs in a network
# namespace of its own, so a registry on the host's 127.0.0.1 is out of its reach: this one
# listens on 127.0.0.1:PORT inside that namespace (nsenter). Docker treats 127.0.0.0/8 as an
# insecure registry, so plain HTTP is fine. It is Debian's docker-registry (distribution 2.8),
# downloaded and unpacked, not installed.
#
# `start` (the default) starts it if needed, (re)starting it when the engine has a new namespace,
# and prints `localhost:PORT` on stdout. Needs root; starts the engine if none answers.
#
# Overridable: NIXDF_REGISTRY_PORT (default 5057), NIXDF_REGISTRY_ROOT (where the package is
# unpacked, default /opt/nixdf-registry), NIXDF_REGISTRY_RUN (pidfile, log, config; default
# /run/nixdf-registry-PORT), NIXDF_REGISTRY_DATA (default /var/lib/nixdf-registry-PORT).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
PORT=${NIXDF_REGISTRY_PORT:-5057}
ROOT=${NIXDF_REGISTRY_ROOT:-/opt/nixdf-registry}
RUN_DIR=${NIXDF_REGISTRY_RUN:-/run/nixdf-registry-$PORT}
DATA=${NIXDF_REGISTRY_DATA:-/var/lib/nixdf-registry-$PORT}
BIN=$ROOT/usr/bin/docker-registry
CONFIG=$RUN_DIR/config.yml
PIDFILE=$RUN_DIR/registry.pid
LOG=$RUN_DIR/registry.log
ENGINE_PIDFILE=${MODERN_DOCKERD_RUN:-/run/modern-dockerd}/dockerd.pid

log() { printf 'frontend-registry: %s\n' "$*" >&2; }
die() { rc=$1; shift; printf 'frontend-registry: error: %s\n' "$*" >&2; exit "$rc"; }

engine_ns() {
    bash "$here/modern-engine.sh" start
    pid=$(cat "$ENGINE_PIDFILE")
    readlink "/proc/$pid/ns/net"
}

our_pid() {  # the registry this script started, if alive
    [ -r "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "serve $CONFIG" || return 1
    printf '%s\n' "$pid"
}

in_engine_ns() { nsenter --net="/proc/$(cat "$ENGINE_PIDFILE")/ns/net" "$@"; }
# Python, not curl: a fresh Debian has python3 (the tests need it), not always curl.
answers() {
    in_engine_ns python3 -c 'import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=3)' "$PORT" >/dev/null 2>&1
}

ensure_bin() {
    [ -x "$BIN" ] && return 0
    tmp=$(mktemp -d)
    log "fetching Debian's docker-registry package"
    if ! (cd "$tmp" && apt-get download docker-registry >/dev/null 2>&1); then
        apt-get update >/dev/null
        (cd "$tmp" && apt-get download docker-registry >/dev/null)
    fi
    mkdir -p "$ROOT"
    dpkg-deb -x "$tmp"/docker-registry_*.deb "$ROOT"
    rm -rf "$tmp"
    [ -x "$BIN" ] || die 1 "no $BIN after unpacking"
}

cmd_stop() {
    if pid=$(our_pid); then
        kill -TERM "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        log "stopped (pid $pid)"
    fi
    rm -f "$PIDFILE"
}

cmd_start() {
    [ "$(id -u)" = 0 ] || die 1 "needs root (nsenter into the engine's network namespace)"
    ns=$(engine_ns)
    if pid=$(our_pid); then
        if [ "$(readlink "/proc/$pid/ns/net")" = "$ns" ] && answers; then
            echo "localhost:$PORT"
            return 0
        fi
        log "the engine has a new network namespace (or the registry hangs): restarting it"
        cmd_stop
    fi
    answers && die 1 "something not started by this script answers on 127.0.0.1:$PORT there"
    ensure_bin
    mkdir -p "$RUN_DIR" "$DATA"
    printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
        "$DATA" "$PORT" >"$CONFIG"
    (cd / && exec setsid nsenter --net="/proc/$(cat "$ENGINE_PIDFILE")/ns/net" \
        "$BIN" serve "$CONFIG" >>"$LOG" 2>&1 </dev/null 9>&-) &
    pid=$!   # nsenter execs the registry: one pid
    printf '%s\n' "$pid" >"$PIDFILE"
    for _ in $(seq 50); do
        answers && { log "registry up (pid $pid) on 127.0.0.1:$PORT in the engine's namespace"
                     echo "localhost:$PORT"; return 0; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    tail -n 20 "$LOG" >&2 || true
    die 1 "the registry did not answer on 127.0.0.1:$PORT; see $LOG"
}

case ${1:-start} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) if pid=$(our_pid) && answers; then echo "running, pid $pid, localhost:$PORT"
            else echo "not running"; exit 1; fi ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die 2 "unknown command '$1' (start | stop | status)" ;;
esac
