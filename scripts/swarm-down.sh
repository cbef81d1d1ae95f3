#!/usr/bin/env bash
# Undo scripts/swarm-up.sh: remove the stacks and services of our swarm, make the worker
# containers leave, remove them and their volumes, `docker swarm leave --force` on the host
# (back to non-swarm mode, as compose v1 tests want), stop the registry and its forwarder,
# remove the node network, the INPUT guard and the env file. Idempotent.
# Kept (caches): the node image zdd/swarm-node:<suite>, the registry's storage.
# Only touches a host swarm whose cluster id swarm-up recorded (ZDD_SWARM_FORCE=1: any).
# Env: as swarm-up.sh (ZDD_SWARM_NET, ZDD_SWARM_NET_PREFIX, ZDD_SWARM_REGISTRY_PORT,
# ZDD_SWARM_REGISTRY_DIR, ZDD_SWARM_STATE, ZDD_SWARM_ENV, ZDD_SWARM_TIMEOUT), and
# ZDD_SWARM_WIPE_REGISTRY=1 to delete the registry's storage too.
set -Eeuo pipefail

T0=$(date +%s%N)
log() { printf 'swarm-down: %s\n' "$*" >&2; }
die() { printf 'swarm-down: error: %s\n' "$*" >&2; exit 1; }
trap 'printf "swarm-down: error: command failed (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR
elapsed() { local t; t=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%03ds' $((t / 1000)) $((t % 1000)); }

NET=${ZDD_SWARM_NET:-zdd-swarm}
PREFIX=${ZDD_SWARM_NET_PREFIX:-10.213.0}
GW=$PREFIX.1
BRIDGE=${NET}0
PORT=${ZDD_SWARM_REGISTRY_PORT:-5000}
REG_DIR=${ZDD_SWARM_REGISTRY_DIR:-/var/lib/zdd-registry}
STATE=${ZDD_SWARM_STATE:-/var/lib/zdd-swarm}
RUN=/run/zdd-swarm
ENV_FILE=${ZDD_SWARM_ENV:-/run/zdd-swarm.env}
TIMEOUT=${ZDD_SWARM_TIMEOUT:-120}
LABEL=org.zdd.swarm

[ "$(id -u)" = 0 ] || die "must run as root"
# one swarm-up/swarm-down at a time
exec 9>/run/zdd-swarm.lock
flock -w "${ZDD_SWARM_TIMEOUT:-120}" 9 || die "another swarm-up/swarm-down holds /run/zdd-swarm.lock"
command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1 || die "no Docker engine reachable"
deadline() { echo $(( $(date +%s) + ${1:-$TIMEOUT} )); }
past() { [ "$(date +%s)" -ge "$1" ]; }

rm -f "$ENV_FILE"   # first: tests must not see a half-removed swarm as ready

# --- the host's swarm --------------------------------------------------------------------
state=$(docker info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null || true)
ours=0
if [ "$state" != inactive ]; then
    cid=$(docker info -f '{{.Swarm.Cluster.ID}}' 2>/dev/null || true)
    if [ -n "$cid" ] && [ "$cid" = "$(cat "$STATE/cluster-id" 2>/dev/null || true)" ]; then ours=1
    elif [ "${ZDD_SWARM_FORCE:-0}" = 1 ]; then ours=1; log "swarm $cid is not recorded as ours: ZDD_SWARM_FORCE=1, removing it anyway"
    else log "host engine is in a swarm ($state, cluster '${cid:-?}') that swarm-up did not make: left alone (ZDD_SWARM_FORCE=1 to remove it)"
    fi
fi

if [ "$ours" = 1 ] && [ "$(docker info -f '{{.Swarm.ControlAvailable}}')" = true ]; then
    stacks=$(docker stack ls --format '{{.Name}}' 2>/dev/null || true)
    [ -z "$stacks" ] || { log "docker stack rm $(echo $stacks)"; docker stack rm $stacks >/dev/null 2>&1 || true; }
    services=$(docker service ls -q 2>/dev/null || true)
    [ -z "$services" ] || { log "docker service rm ($(echo "$services" | wc -l) services)"; docker service rm $services >/dev/null 2>&1 || true; }
    # The host's task containers: removed now rather than after their stop grace period
    # (the swarm is ours, so are its tasks; workers are removed whole below).
    tasks=$(docker ps -aq --filter label=com.docker.swarm.task.id)
    # shellcheck disable=SC2086
    [ -z "$tasks" ] || { log "removing $(echo "$tasks" | wc -l) task containers on the host"; timeout 60 docker rm -f $tasks >/dev/null 2>&1 || true; }
fi

# --- workers -----------------------------------------------------------------------------
workers=$(docker ps -a --filter "label=$LABEL=node" --format '{{.Names}}')
leave_pids=()
for w in $workers; do   # in parallel
    if [ "$(docker container inspect -f '{{.State.Running}}' "$w" 2>/dev/null)" = true ]; then
        # its task containers first, without their stop grace period, then leave
        { timeout 30 docker exec "$w" sh -c 'ids=$(docker ps -aq --filter label=com.docker.swarm.task.id)
                                             [ -z "$ids" ] || docker rm -f $ids >/dev/null
                                             docker swarm leave --force' >/dev/null 2>&1 \
              || log "$w: swarm leave failed (removed anyway)"; } &
        leave_pids+=($!)
    fi
done
for p in "${leave_pids[@]}"; do wait "$p" || true; done
if [ -n "$workers" ]; then
    log "removing worker containers: $(echo $workers)"
    # shellcheck disable=SC2086
    timeout 60 docker rm -f $workers >/dev/null
fi
vols=$(docker volume ls -q --filter "label=$LABEL=node")
# shellcheck disable=SC2086
[ -z "$vols" ] || { log "removing worker volumes: $(echo $vols)"; docker volume rm $vols >/dev/null; }

# --- leave the swarm on the host ---------------------------------------------------------
if [ "$ours" = 1 ]; then
    log "docker swarm leave --force (host)"
    timeout 60 docker swarm leave --force >/dev/null
    d=$(deadline 30)
    until [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" = inactive ]; do
        past "$d" && die "host engine still in swarm mode after 30s"
        sleep 0.3
    done
    rm -f "$STATE/cluster-id"
    # the swarm's local bridge, once nothing uses it
    if docker network inspect docker_gwbridge >/dev/null 2>&1 \
       && [ "$(docker network inspect -f '{{len .Containers}}' docker_gwbridge)" = 0 ]; then
        docker network rm docker_gwbridge >/dev/null 2>&1 || log "docker_gwbridge not removed"
    fi
fi

# --- registry, forwarder, guard, network -------------------------------------------------
running() {   # alive and not a zombie waiting for its parent to reap it
    local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
    [ -n "$st" ] && [ "$st" != Z ]
}
stop_pid() {   # $1 pidfile, $2 command name, $3 what
    local p; p=$(cat "$1" 2>/dev/null || true)
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null && grep -q "$2" "/proc/$p/cmdline" 2>/dev/null; then
        log "stopping $3 (pid $p)"
        kill "$p" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do running "$p" || break; sleep 0.1; done
        running "$p" && { kill -KILL "$p" 2>/dev/null || true; }
    fi
    rm -f "$1"
}
stop_pid "$RUN/forward.pid" socat "registry forwarder 127.0.0.1:$PORT"
stop_pid "$RUN/registry.pid" docker-registry "docker-registry ($GW:$PORT)"

if iptables -n -L ZDD-SWARM-GUARD >/dev/null 2>&1; then
    while iptables -D INPUT -d "$GW/32" -p tcp -m multiport --dports "$PORT,2377" -j ZDD-SWARM-GUARD 2>/dev/null; do :; done
    iptables -F ZDD-SWARM-GUARD && iptables -X ZDD-SWARM-GUARD || log "iptables chain ZDD-SWARM-GUARD not removed"
fi

if docker network inspect "$NET" >/dev/null 2>&1; then
    [ "$(docker network inspect -f "{{index .Labels \"$LABEL\"}}" "$NET")" = 1 ] \
        || die "network $NET was not made by swarm-up: left alone"
    log "docker network rm $NET"
    docker network rm "$NET" >/dev/null
fi

if [ "${ZDD_SWARM_WIPE_REGISTRY:-0}" = 1 ] && [ -d "$REG_DIR" ]; then
    log "removing registry storage $REG_DIR"
    rm -rf "$REG_DIR"
fi

echo "swarm-down: done: host engine swarm $(docker info -f '{{.Swarm.LocalNodeState}}'), in $(elapsed)"
