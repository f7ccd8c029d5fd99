#!/usr/bin/env bash
# Start or stop the local Docker engine the template's tests build and run images on.
#
#   harness/docker_engine.sh [start]   install what is missing, start dockerd, print versions
#   harness/docker_engine.sh stop      stop the dockerd that `start` started
#
# Test harness only: nothing here ends up in a generated service.
set -euo pipefail

STATE_DIR=${SHIPSHAPE_DOCKER_STATE_DIR:-/run/shipshape-docker}
PID_FILE=$STATE_DIR/dockerd.pid
DAEMON_CONFIG=$STATE_DIR/daemon.json
LOG_FILE=${SHIPSHAPE_DOCKERD_LOG:-/var/log/shipshape-dockerd.log}
START_TIMEOUT=${SHIPSHAPE_DOCKERD_TIMEOUT:-60}
# Tried in order; vfs is slow and large but works on any filesystem.
STORAGE_DRIVERS=${SHIPSHAPE_STORAGE_DRIVERS:-overlay2 vfs}
# Searched by both the engine's own 20.10 client (/usr/bin/docker) and the newer
# client that may sit earlier on PATH (/usr/local/bin/docker).
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
# Debian bookworm has the engine but neither buildx nor Compose v2; trixie has both.
PLUGIN_SUITE=trixie
MIRROR=http://deb.debian.org/debian
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { printf 'docker_engine: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

our_dockerd_pid() {
    # Prints the pid from PID_FILE only while that process is still a dockerd.
    local pid
    [[ -r $PID_FILE ]] || return 1
    pid=$(<"$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] || return 1
    printf '%s\n' "$pid"
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [[ -z ${APT_UPDATED:-} ]]; then
        apt-get update -q
        APT_UPDATED=1
    fi
    # Keep the package's maintainer scripts from starting a second, unmanaged dockerd.
    local policy_created=
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_created=1
    fi
    local rc=0
    apt-get install -y -q --no-install-recommends "$@" || rc=$?
    [[ -n $policy_created ]] && rm -f /usr/sbin/policy-rc.d
    return "$rc"
}

install_engine() {
    command -v dockerd >/dev/null && command -v containerd >/dev/null && return 0
    log "installing Debian's docker.io (engine, containerd, runc)"
    apt_install docker.io iptables
}

plugins_work() {
    timeout 10 docker buildx version >/dev/null 2>&1 &&
        timeout 10 docker compose version >/dev/null 2>&1
}

install_plugins() {
    plugins_work && return 0
    log "installing the buildx and compose CLI plugins from Debian $PLUGIN_SUITE"
    command -v dpkg-deb >/dev/null || die "dpkg-deb is needed to unpack the plugin packages"
    local work
    work=$(mktemp -d)
    # A private apt state: the host's sources, lists and pins are never touched, so
    # no later `apt-get install` on this machine can pull anything from trixie.
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/parts" "$work/debs"
    printf 'deb [signed-by=%s] %s %s main\n' "$KEYRING" "$MIRROR" "$PLUGIN_SUITE" >"$work/sources.list"
    local apt=(apt-get -q
        -o "Dir::Etc::SourceList=$work/sources.list"
        -o "Dir::Etc::SourceParts=$work/parts"
        -o "Dir::Etc::PreferencesParts=$work/parts"
        -o "Dir::State::Lists=$work/lists"
        -o "Dir::Cache=$work/cache"
        -o "APT::Sandbox::User=root")
    "${apt[@]}" update
    (cd "$work/debs" && "${apt[@]}" download docker-buildx docker-compose)
    local deb
    for deb in "$work"/debs/*.deb; do
        dpkg-deb -x "$deb" "$work/root"
    done
    install -d -m 755 "$PLUGIN_DIR"
    local plugin found
    for plugin in docker-buildx docker-compose; do
        found=$(find "$work/root" -path "*/cli-plugins/$plugin" \( -type f -o -type l \) | head -n 1)
        [[ -n $found ]] || die "$plugin not found in the $PLUGIN_SUITE package"
        install -m 755 "$(readlink -f "$found")" "$PLUGIN_DIR/$plugin"
    done
    rm -rf "$work"
}

write_daemon_config() {
    mkdir -p "$STATE_DIR"
    # BuildKit for `docker build` by default, also for the 20.10 client.
    printf '{\n  "features": {"buildkit": true}\n}\n' >"$DAEMON_CONFIG"
}

launch_dockerd() {
    # Starts dockerd with one storage driver; succeeds once `docker info` answers.
    local driver=$1 pid waited=0
    log "starting dockerd (storage driver $driver), log: $LOG_FILE"
    printf '\n=== %s dockerd --storage-driver=%s\n' "$(date -Is)" "$driver" >>"$LOG_FILE"
    # setsid: a new session, so dockerd outlives this script and its process group.
    setsid dockerd --config-file "$DAEMON_CONFIG" --storage-driver "$driver" \
        </dev/null >>"$LOG_FILE" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"
    while ((waited < START_TIMEOUT)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            return 1
        fi
        if engine_answers; then
            local actual
            actual=$(docker info --format '{{.Driver}}')
            [[ $actual == "$driver" ]] && return 0
            log "dockerd came up with storage driver $actual instead of $driver"
            stop_dockerd
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    stop_dockerd
    die "dockerd did not answer within ${START_TIMEOUT}s; see $LOG_FILE"
}

start_dockerd() {
    if our_dockerd_pid >/dev/null; then
        log "dockerd $(our_dockerd_pid) is running but not answering; waiting"
        local waited=0
        until engine_answers; do
            ((waited++ < START_TIMEOUT)) || die "dockerd does not answer; see $LOG_FILE, or run '$0 stop'"
            sleep 1
        done
        return 0
    fi
    if [[ -S /run/docker.sock ]] && pgrep -x dockerd >/dev/null; then
        die "a dockerd this script did not start is running but not answering; stop it first"
    fi
    write_daemon_config
    local driver
    for driver in $STORAGE_DRIVERS; do
        launch_dockerd "$driver" && return 0
        log "dockerd failed with storage driver $driver (tail of $LOG_FILE follows)"
        tail -n 5 "$LOG_FILE" >&2
    done
    die "dockerd did not start with any storage driver; see $LOG_FILE"
}

stop_dockerd() {
    local pid waited=0
    if ! pid=$(our_dockerd_pid); then
        rm -f "$PID_FILE"
        log "no dockerd started by this script is running"
        return 0
    fi
    log "stopping dockerd $pid"
    kill -TERM "$pid"
    # dockerd stops its containers and its own containerd before it exits.
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited++ >= 30)); then
            log "dockerd $pid ignored SIGTERM for 30s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 1
    done
    rm -f "$PID_FILE"
}

print_versions() {
    local engine buildx compose
    engine=$(docker version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}} at '"$(command -v docker)")
    buildx=$(docker buildx version)
    compose=$(docker compose version)
    printf '%s\n%s\n%s\n' "$engine" "$buildx" "$compose"
}

start() {
    if engine_answers && plugins_work; then
        print_versions
        return 0
    fi
    [[ $(id -u) == 0 ]] || die "run as root: it installs packages and starts dockerd"
    install_engine
    install_plugins
    plugins_work || die "'docker buildx version' or 'docker compose version' fails after installing the plugins into $PLUGIN_DIR"
    engine_answers || start_dockerd
    print_versions
}

case ${1:-start} in
start) start ;;
stop) stop_dockerd ;;
*) die "usage: $0 [start|stop]" ;;
esac
