#!/usr/bin/env bash
# scripts/engine.sh — make sure a Docker engine answers, and say how to reach it.
#
#   eval "$(scripts/engine.sh env)"   # or:  . scripts/engine.sh
#   scripts/engine.sh status
#   scripts/engine.sh stop            # stops only a daemon this script started
#
# `env` (the default) prints exactly two lines on stdout:
#   export DOCKER_HOST='unix:///…'
#   export DOCKER_BUILDKIT='1'
# Everything else goes to stderr.
#
# Order: an engine that already answers ($DOCKER_HOST, then the default socket, then ours)
# is used as is; only when none answers does it start its own dockerd, as root, on a
# private socket, exec-root and data-root, with the default bridge, detached (setsid) so
# it outlives the calling shell. Later calls find and reuse it. It never starts a
# second dockerd beside a running one.
#
# Use the 20.10 client /usr/bin/docker (another, newer `docker` may sit earlier on PATH).
#
# Overridable: NIXDF_DOCKERD_RUN (default /run/nixdf-dockerd: socket, pidfile, log, exec-root),
# NIXDF_DOCKERD_DATA (default /var/lib/nixdf-dockerd), NIXDF_DOCKERD_WAIT (seconds, default 30),
# NIXDF_DOCKER (client, default /usr/bin/docker).

# --- sourced? Run ourselves as a child (so set -eu and exit never touch the caller) and eval.
if (return 0 2>/dev/null); then
    _nixdf_engine_self=${BASH_SOURCE:-}
    if [ -z "$_nixdf_engine_self" ] && [ -n "${ZSH_VERSION:-}" ]; then
        _nixdf_engine_self=$0
    fi
    [ -n "$_nixdf_engine_self" ] || _nixdf_engine_self=scripts/engine.sh
    if _nixdf_engine_out=$(bash "$_nixdf_engine_self" env); then
        eval "$_nixdf_engine_out"
        unset _nixdf_engine_self _nixdf_engine_out
        return 0
    else
        _nixdf_engine_rc=$?
        unset _nixdf_engine_self _nixdf_engine_out
        return "$_nixdf_engine_rc"
    fi
fi

set -eu

RUN_DIR=${NIXDF_DOCKERD_RUN:-/run/nixdf-dockerd}
DATA_ROOT=${NIXDF_DOCKERD_DATA:-/var/lib/nixdf-dockerd}
WAIT_S=${NIXDF_DOCKERD_WAIT:-30}
CLIENT=${NIXDF_DOCKER:-/usr/bin/docker}
SOCK=$RUN_DIR/docker.sock
OUR_HOST=unix://$SOCK
PIDFILE=$RUN_DIR/dockerd.pid
LOG=$RUN_DIR/dockerd.log
DEFAULT_HOST=unix:///var/run/docker.sock

log() { printf 'engine.sh: %s\n' "$*" >&2; }
die() { rc=$1; shift; printf 'engine.sh: error: %s\n' "$*" >&2; exit "$rc"; }

# answers HOST: the engine at HOST replies to `docker version` within 5 s.
answers() {
    [ -x "$CLIENT" ] || return 1
    case $1 in
        unix://*) [ -S "${1#unix://}" ] || return 1 ;;
    esac
    DOCKER_HOST=$1 timeout 5 "$CLIENT" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

emit() {
    printf "export DOCKER_HOST='%s'\n" "$1"
    printf "export DOCKER_BUILDKIT='1'\n"
}

# our_pid: print the pid of the dockerd this script started, if it is alive.
our_pid() {
    [ -r "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
    case $(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) in Z | X | x | '') return 1 ;; esac
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$SOCK" || return 1
    printf '%s\n' "$pid"
}

# other_dockerd: print pids of running dockerd processes that are not ours, in this network
# namespace: one in a namespace of its own (scripts/modern-engine.sh's) cannot touch the
# host's docker0, so a daemon may start beside it.
other_dockerd() {
    mine=$(our_pid || true)
    here=$(readlink /proc/self/ns/net 2>/dev/null || true)
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        [ "$(cat "$d/comm" 2>/dev/null)" = dockerd ] || continue
        [ "$p" = "$mine" ] && continue
        [ -n "$here" ] && [ "$(readlink "$d/ns/net" 2>/dev/null)" != "$here" ] && continue
        case $(cut -d' ' -f3 "$d/stat" 2>/dev/null) in Z | X | x | '') continue ;; esac  # dead
        printf '%s ' "$p"
    done | sed 's/ $//'
}

wait_ready() {  # wait_ready PID: poll our socket until it answers, the process dies, or time runs out
    pid=$1
    tries=$((WAIT_S * 5))
    i=0
    while [ "$i" -lt "$tries" ]; do
        if answers "$OUR_HOST"; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 15 "$LOG" >&2 2>/dev/null || true
            die 1 "dockerd (pid $pid) exited during start-up; see $LOG"
        fi
        sleep 0.2
        i=$((i + 1))
    done
    tail -n 15 "$LOG" >&2 2>/dev/null || true
    die 1 "dockerd (pid $pid) did not answer on $SOCK within ${WAIT_S}s; see $LOG"
}

find_engine() {  # print the DOCKER_HOST of an engine that answers, or fail
    if [ -n "${DOCKER_HOST:-}" ]; then
        if answers "$DOCKER_HOST"; then printf '%s\n' "$DOCKER_HOST"; return 0; fi
        log "DOCKER_HOST=$DOCKER_HOST does not answer; looking further"
    fi
    if answers "$DEFAULT_HOST"; then printf '%s\n' "$DEFAULT_HOST"; return 0; fi
    if answers "$OUR_HOST"; then printf '%s\n' "$OUR_HOST"; return 0; fi
    return 1
}

start_engine() {
    # Prefer Debian's (pairs with the 20.10 client), else whatever PATH has.
    dockerd_bin=/usr/sbin/dockerd
    [ -x "$dockerd_bin" ] || dockerd_bin=$(command -v dockerd 2>/dev/null) || {
        printf '%s\n' "engine.sh: dockerd is not installed: run 'apt-get install -y docker.io' (as root)" >&2
        exit 3
    }
    [ -x "$CLIENT" ] || {
        printf '%s\n' "engine.sh: the Docker client $CLIENT is missing: run 'apt-get install -y docker.io' (as root)" >&2
        exit 3
    }

    # Ours is already running (e.g. still starting up): wait for it rather than start another.
    if pid=$(our_pid); then
        log "waiting for the nixdf dockerd (pid $pid) already running"
        wait_ready "$pid"
        return 0
    fi
    others=$(other_dockerd)
    if [ -n "$others" ]; then
        die 1 "a dockerd is running (pid $others) but does not answer on \$DOCKER_HOST or $DEFAULT_HOST; not starting a second daemon beside it (set DOCKER_HOST to its socket, or stop it)"
    fi
    [ "$(id -u)" = 0 ] || die 1 "no Docker engine answers, and starting one needs root"

    mkdir -p "$RUN_DIR" "$DATA_ROOT"
    chmod 0711 "$RUN_DIR"
    rm -f "$SOCK" "$PIDFILE"
    # A dockerd killed hard leaves containerd's pidfile behind; if that pid is gone,
    # a zombie, or reused by another program, dockerd waits on it until it times out.
    cpidfile="$RUN_DIR/exec/containerd/containerd.pid"
    if [ -f "$cpidfile" ]; then
        cpid=$(cat "$cpidfile")
        comm=$(cat "/proc/$cpid/comm" 2>/dev/null || true)
        state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$cpid/status" 2>/dev/null || true)
        if [ "$comm" != containerd ] || [ "$state" = Z ]; then
            log "removing stale containerd pidfile (pid $cpid is not a live containerd)"
            rm -f "$cpidfile"
        fi
    fi
    log "starting dockerd: socket $SOCK, data-root $DATA_ROOT, log $LOG"
    {
        printf '\n==== %s engine.sh starting dockerd ====\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
    } >>"$LOG"
    setsid nohup "$dockerd_bin" \
        --data-root "$DATA_ROOT" \
        --exec-root "$RUN_DIR/exec" \
        --pidfile "$PIDFILE" \
        -H "$OUR_HOST" \
        >>"$LOG" 2>&1 </dev/null 9>&- &
    pid=$!
    wait_ready "$pid"
    log "dockerd ready (pid $pid) on $OUR_HOST"
}

cmd_env() {
    if host=$(find_engine); then
        emit "$host"
        return 0
    fi
    # Serialise concurrent callers so only one of them starts a daemon.
    if [ "$(id -u)" = 0 ] && mkdir -p "$RUN_DIR" 2>/dev/null && command -v flock >/dev/null 2>&1; then
        exec 9>>"$RUN_DIR/lock"
        flock -w 60 9 || die 1 "timed out waiting for $RUN_DIR/lock"
        if host=$(find_engine 2>/dev/null); then
            emit "$host"
            return 0
        fi
    fi
    start_engine
    emit "$OUR_HOST"
}

cmd_status() {
    rc=1
    if pid=$(our_pid); then
        if answers "$OUR_HOST"; then
            echo "nixdf dockerd: running, pid $pid, answers on $OUR_HOST (data-root $DATA_ROOT, log $LOG)"
            rc=0
        else
            echo "nixdf dockerd: pid $pid alive but not answering on $OUR_HOST (log $LOG)"
        fi
    else
        echo "nixdf dockerd: not running"
    fi
    if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "$OUR_HOST" ]; then
        if answers "$DOCKER_HOST"; then echo "DOCKER_HOST=$DOCKER_HOST: answers"; rc=0
        else echo "DOCKER_HOST=$DOCKER_HOST: does not answer"; fi
    fi
    if answers "$DEFAULT_HOST"; then echo "$DEFAULT_HOST: answers"; rc=0
    else echo "$DEFAULT_HOST: does not answer"; fi
    return "$rc"
}

cmd_stop() {
    if ! pid=$(our_pid); then
        log "no dockerd started by this script is running (pidfile $PIDFILE)"
        return 0
    fi
    log "stopping dockerd pid $pid"
    kill -TERM "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null; do
        [ "$i" -lt 150 ] || die 1 "dockerd pid $pid still running after 30 s; see $LOG"
        sleep 0.2
        i=$((i + 1))
    done
    log "dockerd stopped"
}

case ${1:-env} in
    env) cmd_env ;;
    status) cmd_status ;;
    stop) cmd_stop ;;
    -h | --help | help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die 2 "unknown command '$1' (use: env | status | stop)" ;;
esac
