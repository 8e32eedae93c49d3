#!/usr/bin/env bash
# scripts/modern-engine.sh — a current Docker (Debian trixie's docker.io 26 + buildx) beside 20.10.
#
#   scripts/modern-engine.sh fetch      # download trixie's .debs, unpack them into $MODERN_DOCKER_ROOT
#   eval "$(scripts/modern-engine.sh env)"   # start it if needed; or:  . scripts/modern-engine.sh
#   scripts/modern-engine.sh import [IMAGE...]  # docker save from the 20.10 engine, load here
#                                       # (default: nixdf-offline/nix:latest)
#   scripts/modern-engine.sh status
#   scripts/modern-engine.sh stop       # stops only the daemon this script started
#
# `env` (the default) prints exactly three lines on stdout:
#   export DOCKER_HOST='unix:///run/modern-dockerd/docker.sock'
#   export DOCKER_CONFIG='/run/modern-dockerd/config'     # cli-plugins/docker-buildx inside
#   export NIXDF_DOCKER='/opt/modern-docker/usr/bin/docker'
# Everything else goes to stderr. It never touches the 20.10 engine (scripts/engine.sh).
#
# The daemon runs as root, detached (setsid), in a network namespace of its own (unshare
# --net): a dockerd rewrites the host's networking at start-up (`--bridge none` deletes the
# host's docker0, the 20.10 engine's bridge), so this one gets its own docker0 and iptables
# where 20.10's cannot see them. Builds have no network (none is reachable here anyway).
# Its own socket, exec-root, pidfile, data-root and daemon.json (never /etc/docker/daemon.json);
# the containerd it starts is trixie's. trixie's runc needs glibc 2.38, so on bookworm the
# system runc is used. Nothing is installed: `fetch` downloads with a private apt state.
# scripts/engine.sh can start or restart the 20.10 engine while this one runs: it counts only
# the dockerds of its own network namespace.
#
# Overridable: MODERN_DOCKER_ROOT (default /opt/modern-docker), MODERN_APT_DIR (default
# /opt/modern-apt), MODERN_DOCKERD_RUN (default /run/modern-dockerd), MODERN_DOCKERD_DATA
# (default /var/lib/modern-dockerd), MODERN_DOCKERD_WAIT (seconds, default 30),
# MODERN_DOCKERD_C8D=1 (at start: the containerd image store, "features":
# {"containerd-snapshotter": true}; stop and start again to switch; the images of the
# other store stay in the data-root, unseen, until switched back).

# --- sourced? Run ourselves as a child (so set -eu and exit never touch the caller) and eval.
if (return 0 2>/dev/null); then
    _modern_engine_self=${BASH_SOURCE:-}
    if [ -z "$_modern_engine_self" ] && [ -n "${ZSH_VERSION:-}" ]; then
        _modern_engine_self=$0
    fi
    [ -n "$_modern_engine_self" ] || _modern_engine_self=scripts/modern-engine.sh
    if _modern_engine_out=$(bash "$_modern_engine_self" env); then
        eval "$_modern_engine_out"
        unset _modern_engine_self _modern_engine_out
        return 0
    else
        _modern_engine_rc=$?
        unset _modern_engine_self _modern_engine_out
        return "$_modern_engine_rc"
    fi
fi

set -eu

ROOT=${MODERN_DOCKER_ROOT:-/opt/modern-docker}
RUN_DIR=${MODERN_DOCKERD_RUN:-/run/modern-dockerd}
DATA_ROOT=${MODERN_DOCKERD_DATA:-/var/lib/modern-dockerd}
WAIT_S=${MODERN_DOCKERD_WAIT:-30}
C8D=${MODERN_DOCKERD_C8D:-0}
APT_DIR=${MODERN_APT_DIR:-/opt/modern-apt}
PACKAGES="docker.io docker-cli docker-buildx containerd runc tini"

CLIENT=$ROOT/usr/bin/docker
DOCKERD=$ROOT/usr/sbin/dockerd
BUILDX=$ROOT/usr/libexec/docker/cli-plugins/docker-buildx
SOCK=$RUN_DIR/docker.sock
OUR_HOST=unix://$SOCK
PIDFILE=$RUN_DIR/dockerd.pid
LOG=$RUN_DIR/dockerd.log
BIN_DIR=$RUN_DIR/bin            # what dockerd and its containerd find on PATH
CONFIG_DIR=$RUN_DIR/config      # DOCKER_CONFIG for the client: the buildx plugin
DAEMON_JSON=$RUN_DIR/daemon.json

log() { printf 'modern-engine.sh: %s\n' "$*" >&2; }
die() { rc=$1; shift; printf 'modern-engine.sh: error: %s\n' "$*" >&2; exit "$rc"; }

answers() {
    [ -x "$CLIENT" ] && [ -S "$SOCK" ] || return 1
    DOCKER_HOST=$OUR_HOST DOCKER_CONFIG=$CONFIG_DIR timeout 5 "$CLIENT" version \
        --format '{{.Server.Version}}' >/dev/null 2>&1
}

emit() {
    printf "export DOCKER_HOST='%s'\n" "$OUR_HOST"
    printf "export DOCKER_CONFIG='%s'\n" "$CONFIG_DIR"
    printf "export NIXDF_DOCKER='%s'\n" "$CLIENT"
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

apt_opts() {
    printf '%s\n' -o "Dir::Etc::sourcelist=$APT_DIR/trixie.sources" -o Dir::Etc::sourceparts=- \
        -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache" \
        -o "Dir::State::status=$APT_DIR/status"
}

cmd_fetch() {
    [ "$(id -u)" = 0 ] || die 1 "fetch needs root (apt-get)"
    mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/debs" "$ROOT"
    cat >"$APT_DIR/trixie.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    : >>"$APT_DIR/status"   # an empty dpkg status: nothing counts as installed
    mapfile -t opts < <(apt_opts)
    apt-get "${opts[@]}" update >&2
    # `download` writes to the current directory; the private state keeps /var/lib/apt untouched.
    # shellcheck disable=SC2086  # PACKAGES is a word list
    (cd "$APT_DIR/debs" && rm -f ./*.deb && apt-get "${opts[@]}" download $PACKAGES >&2)
    for deb in "$APT_DIR"/debs/*.deb; do
        log "unpacking $(basename "$deb")"
        dpkg-deb -x "$deb" "$ROOT"
    done
    "$CLIENT" --version >&2
    "$DOCKERD" --version >&2
}

# pick_runc: trixie's runc if it runs on this libc, else the system's.
pick_runc() {
    if "$ROOT/usr/sbin/runc" --version >/dev/null 2>&1; then
        printf '%s\n' "$ROOT/usr/sbin/runc"
        return 0
    fi
    sys=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v runc 2>/dev/null) \
        || die 3 "$ROOT/usr/sbin/runc does not run here and there is no system runc"
    log "$ROOT/usr/sbin/runc does not run here ($("$ROOT/usr/sbin/runc" --version 2>&1 | head -n 1)); using $sys"
    printf '%s\n' "$sys"
}

prepare() {
    [ -x "$DOCKERD" ] && [ -x "$CLIENT" ] && [ -x "$BUILDX" ] \
        || die 3 "no modern Docker in $ROOT: run '$0 fetch' (as root)"
    mkdir -p "$RUN_DIR" "$DATA_ROOT" "$BIN_DIR" "$CONFIG_DIR/cli-plugins"
    chmod 0711 "$RUN_DIR"
    runc=$(pick_runc)
    ln -sfn "$runc" "$BIN_DIR/runc"
    for b in containerd containerd-shim-runc-v2 ctr; do ln -sfn "$ROOT/usr/bin/$b" "$BIN_DIR/$b"; done
    ln -sfn "$ROOT/usr/sbin/docker-proxy" "$BIN_DIR/docker-proxy"
    ln -sfn "$ROOT/usr/bin/tini-static" "$BIN_DIR/docker-init"
    ln -sfn "$BUILDX" "$CONFIG_DIR/cli-plugins/docker-buildx"
    [ -f "$CONFIG_DIR/config.json" ] || printf '{}\n' >"$CONFIG_DIR/config.json"
    if [ "$C8D" = 1 ]; then
        printf '{\n  "features": {"containerd-snapshotter": true}\n}\n' >"$DAEMON_JSON"
    else
        printf '{}\n' >"$DAEMON_JSON"
    fi
}

wait_ready() {  # wait_ready PID: poll our socket until it answers, the process dies, or time runs out
    pid=$1
    tries=$((WAIT_S * 5))
    i=0
    while [ "$i" -lt "$tries" ]; do
        if answers; then return 0; fi
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

start_engine() {
    if pid=$(our_pid); then
        log "waiting for the modern dockerd (pid $pid) already running"
        wait_ready "$pid"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die 1 "starting the modern dockerd needs root"
    prepare
    rm -f "$SOCK" "$PIDFILE"
    # A dockerd killed hard leaves its containerd's pidfile behind (see scripts/engine.sh).
    cpidfile="$RUN_DIR/exec/containerd/containerd.pid"
    if [ -f "$cpidfile" ]; then
        cpid=$(cat "$cpidfile")
        if [ "$(cat "/proc/$cpid/comm" 2>/dev/null || true)" != containerd ]; then
            log "removing stale containerd pidfile (pid $cpid is not a live containerd)"
            rm -f "$cpidfile"
        fi
    fi
    log "starting dockerd $("$DOCKERD" --version | sed 's/^Docker version //'): socket $SOCK, data-root $DATA_ROOT, log $LOG, containerd image store: $([ "$C8D" = 1 ] && echo on || echo off)"
    printf '\n==== %s modern-engine.sh starting dockerd ====\n' \
        "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" >>"$LOG"
    # lo must be up in the new namespace: BuildKit's steps and the containers use it.
    setsid nohup unshare --net -- /bin/sh -c 'ip link set lo up && exec "$@"' sh \
        env PATH="$BIN_DIR:/usr/sbin:/usr/bin:/sbin:/bin" \
        "$DOCKERD" \
        --config-file "$DAEMON_JSON" \
        --data-root "$DATA_ROOT" \
        --exec-root "$RUN_DIR/exec" \
        --pidfile "$PIDFILE" \
        --userland-proxy-path "$BIN_DIR/docker-proxy" \
        -H "$OUR_HOST" \
        >>"$LOG" 2>&1 </dev/null 9>&- &
    pid=$!   # unshare execs sh, which execs env, which execs dockerd: one pid throughout
    wait_ready "$pid"
    log "dockerd ready (pid $pid) on $OUR_HOST"
}

cmd_env() {
    if ! answers; then
        if [ "$(id -u)" = 0 ] && mkdir -p "$RUN_DIR" 2>/dev/null && command -v flock >/dev/null 2>&1; then
            exec 9>>"$RUN_DIR/lock"
            flock -w 60 9 || die 1 "timed out waiting for $RUN_DIR/lock"
        fi
        answers || start_engine
    fi
    emit
}

# ours ARGS...: the modern client, talking to our daemon.
ours() { DOCKER_HOST=$OUR_HOST DOCKER_CONFIG=$CONFIG_DIR "$CLIENT" "$@"; }

cmd_import() {
    [ "$#" -gt 0 ] || set -- nixdf-offline/nix:latest
    cmd_env >/dev/null
    here=$(cd "$(dirname "$0")" && pwd)
    # The 20.10 engine is only read from (docker save); its client is /usr/bin/docker.
    # Never the caller's DOCKER_HOST: after `eval "$(modern-engine.sh env)"` it names this engine.
    old_host=$(env -u DOCKER_HOST -u DOCKER_CONFIG -u NIXDF_DOCKER bash "$here/engine.sh" env | sed -n "s/^export DOCKER_HOST='\(.*\)'$/\1/p")
    [ -n "$old_host" ] || die 1 "scripts/engine.sh env printed no DOCKER_HOST"
    DOCKER_HOST=$old_host /usr/bin/docker save "$@" | ours load >&2
}

cmd_status() {
    if pid=$(our_pid); then
        if answers; then
            v=$(ours version --format '{{.Server.Version}}')
            case $(ours info --format '{{json .DriverStatus}}') in
                *io.containerd.snapshotter*) store="containerd image store" ;;
                *) store="graphdriver $(ours info --format '{{.Driver}}')" ;;
            esac
            echo "modern dockerd: running, Docker $v, pid $pid, answers on $OUR_HOST ($store, data-root $DATA_ROOT, log $LOG)"
            return 0
        fi
        echo "modern dockerd: pid $pid alive but not answering on $OUR_HOST (log $LOG)"
    else
        echo "modern dockerd: not running"
    fi
    return 1
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
    start) cmd_env >/dev/null ;;
    fetch) cmd_fetch ;;
    import) shift; cmd_import "$@" ;;
    status) cmd_status ;;
    stop) cmd_stop ;;
    -h | --help | help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die 2 "unknown command '$1' (use: env | start | fetch | import | status | stop)" ;;
esac
