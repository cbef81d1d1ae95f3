#!/usr/bin/env bash
# Make a local three-node Docker Swarm on this machine, for engine tests. Idempotent: a
# second run only checks (and repairs what is missing).
#
#  - registry: Debian's docker-registry, listening on the node network's gateway address only
#    (GW:5000), plus a socat forwarder 127.0.0.1:5000 -> GW:5000 on the host. Each worker
#    container runs the same forwarder on ITS loopback, so the one image reference
#    127.0.0.1:5000/<repo>:<tag> works on every node (and 127.0.0.0/8 is an insecure registry
#    by default in dockerd: plain HTTP, no daemon config needed).
#  - manager: the host engine (swarm init, advertised on the gateway of a dedicated bridge
#    network `zdd-swarm`, 10.213.0.0/24 by default).
#  - workers: containers zdd-swarm-w1, zdd-swarm-w2 running their own dockerd (image
#    zdd/swarm-node:bookworm, mmdebstrap + docker import), /var/lib/docker on a volume.
#    Not --privileged: this machine's bounding set lacks CAP_SYS_RESOURCE, so runc fails on
#    --privileged ("unable to apply caps: operation not permitted"); instead all other caps,
#    no seccomp/apparmor, unmasked /proc, a private cgroup namespace and the cgroup mounts
#    remounted read-write.
#  - no IPVS in this kernel: no routing mesh/VIP. Stacks must use endpoint_mode: dnsrr and
#    published ports with mode: host.
#
# Prints one final line on stdout; writes $ZDD_SWARM_ENV (ZDD_SWARM_REGISTRY, ZDD_SWARM_NODES...).
# Env: ZDD_SWARM_WORKERS (default 2), ZDD_SWARM_NET (zdd-swarm), ZDD_SWARM_NET_PREFIX (first three
# octets of the /24, default 10.213.0), ZDD_SWARM_ADDR_POOL (overlay pool, default 10.214.0.0/16),
# ZDD_SWARM_REGISTRY_PORT (5000), ZDD_SWARM_REGISTRY_DIR (/var/lib/zdd-registry),
# ZDD_SWARM_STATE (/var/lib/zdd-swarm), ZDD_SWARM_ENV (/run/zdd-swarm.env), ZDD_SWARM_TIMEOUT
# (seconds per wait, default 120), ZDD_SWARM_PROBE (1: always run the pull probe, 0: never;
# default: only when a node was (re)made), ZDD_SWARM_NODE_STORAGE_DRIVER (force the workers'
# storage driver), ZDD_SUITE (bookworm), ZDD_MIRROR.
set -Eeuo pipefail

T0=$(date +%s%N)
log() { printf 'swarm-up: %s\n' "$*" >&2; }
die() { printf 'swarm-up: error: %s\n' "$*" >&2; exit 1; }
trap 'printf "swarm-up: error: command failed (exit %s) at line %s: %s\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR
elapsed() { local t; t=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%03ds' $((t / 1000)) $((t % 1000)); }

WORKERS=${ZDD_SWARM_WORKERS:-2}
NET=${ZDD_SWARM_NET:-zdd-swarm}
PREFIX=${ZDD_SWARM_NET_PREFIX:-10.213.0}
SUBNET=$PREFIX.0/24
GW=$PREFIX.1
BRIDGE=${NET}0                                   # the host-side bridge interface name
ADDR_POOL=${ZDD_SWARM_ADDR_POOL:-10.214.0.0/16}
PORT=${ZDD_SWARM_REGISTRY_PORT:-5000}
REGISTRY=127.0.0.1:$PORT                         # the image reference prefix on every node
REG_DIR=${ZDD_SWARM_REGISTRY_DIR:-/var/lib/zdd-registry}
STATE=${ZDD_SWARM_STATE:-/var/lib/zdd-swarm}
RUN=/run/zdd-swarm
ENV_FILE=${ZDD_SWARM_ENV:-/run/zdd-swarm.env}
TIMEOUT=${ZDD_SWARM_TIMEOUT:-120}
PROBE=${ZDD_SWARM_PROBE:-auto}
SUITE=${ZDD_SUITE:-bookworm}
MIRROR=${ZDD_MIRROR:-}
NODE_IMAGE=zdd/swarm-node:$SUITE
LABEL=org.zdd.swarm                              # on everything this script creates
REG_LOG=/var/log/zdd-registry.log
FWD_LOG=/var/log/zdd-registry-forward.log
NODES=$((WORKERS + 1))

[ "$(id -u)" = 0 ] || die "must run as root"
# one swarm-up/swarm-down at a time
exec 9>/run/zdd-swarm.lock
flock -w "${ZDD_SWARM_TIMEOUT:-120}" 9 || die "another swarm-up/swarm-down holds /run/zdd-swarm.lock"
[[ $WORKERS =~ ^[0-9]+$ ]] && [ "$WORKERS" -ge 1 ] && [ "$WORKERS" -le 20 ] || die "ZDD_SWARM_WORKERS must be 1..20"
command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1 || die "no Docker engine: run scripts/engine-up.sh first"
mkdir -p "$STATE" "$RUN" "$REG_DIR"

worker_name() { echo "zdd-swarm-w$1"; }
worker_ip() { echo "$PREFIX.$((10 + $1))"; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
deadline() { echo $(( $(date +%s) + ${1:-$TIMEOUT} )); }
past() { [ "$(date +%s)" -ge "$1" ]; }

# --- packages ----------------------------------------------------------------------------
# shellcheck source=scripts/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install docker-registry socat mmdebstrap curl

# --- node network ------------------------------------------------------------------------
if docker network inspect "$NET" >/dev/null 2>&1; then
    got=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}' "$NET")
    [ "$got" = "$SUBNET $GW" ] || die "network $NET exists with '$got', want '$SUBNET $GW' (run scripts/swarm-down.sh)"
else
    log "docker network create $NET ($SUBNET, gateway $GW, bridge $BRIDGE)"
    docker network create --driver bridge --subnet "$SUBNET" --gateway "$GW" \
        --opt com.docker.network.bridge.name="$BRIDGE" --label "$LABEL=1" "$NET" >/dev/null
fi
ip -4 addr show dev "$BRIDGE" 2>/dev/null | grep -q "inet $GW/" || die "bridge $BRIDGE does not carry $GW"

# --- registry + host forwarder -----------------------------------------------------------
pid_alive() {   # $1 pidfile, $2 expected command name: prints the pid if that process is alive
    local p; p=$(cat "$1" 2>/dev/null || true)
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && grep -q "$2" "/proc/$p/cmdline" 2>/dev/null && echo "$p"
}
registry_ok() { curl -fsS --max-time 3 -o /dev/null "http://$1/v2/" 2>/dev/null; }
listening() { ss -Hltn "sport = :$2" 2>/dev/null | awk '{print $4}' | grep -qx "$1:$2"; }
start_bg() {   # $1 pidfile, $2 log, rest: command (own session: outlives this script)
    local pf=$1 lg=$2; shift 2
    printf '\n=== %s swarm-up: %s\n' "$(date -Is)" "$*" >>"$lg"
    setsid "$@" </dev/null >>"$lg" 2>&1 9>&- &   # 9>&-: not holding our lock
    echo $! >"$pf"
}
wait_http() {   # $1 addr, $2 pidfile, $3 log, $4 what
    local d; d=$(deadline 30)
    until registry_ok "$1"; do
        [ -n "$(pid_alive "$2" "$5")" ] || { tail -n 5 "$3" >&2; die "$4 exited (log: $3)"; }
        past "$d" && { tail -n 5 "$3" >&2; die "$4 not answering on http://$1/v2/ after 30s (log: $3)"; }
        sleep 0.2
    done
}

cat >"$STATE/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  fields:
    service: zdd-registry
storage:
  filesystem:
    rootdirectory: $REG_DIR
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $GW:$PORT
  headers:
    X-Content-Type-Options: [nosniff]
EOF
if [ -n "$(pid_alive "$RUN/registry.pid" docker-registry)" ]; then
    registry_ok "$GW:$PORT" || die "our docker-registry (pid $(cat "$RUN/registry.pid")) runs but http://$GW:$PORT/v2/ does not answer"
else
    listening "$GW" "$PORT" && die "something else listens on $GW:$PORT"
    log "starting docker-registry on $GW:$PORT (storage $REG_DIR, log $REG_LOG)"
    start_bg "$RUN/registry.pid" "$REG_LOG" docker-registry serve "$STATE/registry.yml"
    wait_http "$GW:$PORT" "$RUN/registry.pid" "$REG_LOG" docker-registry docker-registry
fi
if [ -n "$(pid_alive "$RUN/forward.pid" socat)" ]; then
    registry_ok "$REGISTRY" || die "our forwarder (pid $(cat "$RUN/forward.pid")) runs but http://$REGISTRY/v2/ does not answer"
else
    listening 127.0.0.1 "$PORT" && die "something else listens on 127.0.0.1:$PORT (not our forwarder)"
    log "starting forwarder $REGISTRY -> $GW:$PORT (socat)"
    start_bg "$RUN/forward.pid" "$FWD_LOG" socat "TCP-LISTEN:$PORT,bind=127.0.0.1,fork,reuseaddr,backlog=128" "TCP:$GW:$PORT"
    wait_http "$REGISTRY" "$RUN/forward.pid" "$FWD_LOG" "forwarder" socat
fi

# Registry and manager port only from this host and the node network (both listen on GW,
# which another machine on the LAN could otherwise route to). Best effort.
guard_rules=(-d "$GW/32" -p tcp -m multiport --dports "$PORT,2377" -j ZDD-SWARM-GUARD)
if iptables -n -L INPUT >/dev/null 2>&1; then
    if ! iptables -n -L ZDD-SWARM-GUARD >/dev/null 2>&1; then
        iptables -N ZDD-SWARM-GUARD
        iptables -A ZDD-SWARM-GUARD -i lo -j RETURN
        iptables -A ZDD-SWARM-GUARD -i "$BRIDGE" -j RETURN
        iptables -A ZDD-SWARM-GUARD -j DROP
    fi
    iptables -C INPUT "${guard_rules[@]}" 2>/dev/null || iptables -I INPUT "${guard_rules[@]}"
else
    log "iptables not usable: no INPUT guard for $GW:$PORT (it is still bound to a private bridge address only)"
fi

# --- node image --------------------------------------------------------------------------
if have_image "$NODE_IMAGE"; then
    log "$NODE_IMAGE exists: reused"
else
    MODE=(); [ "$(id -u)" = 0 ] && MODE=(--mode=root)
    WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/zdd-swarm-node.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    log "mmdebstrap $NODE_IMAGE (docker.io iptables socat ...; log $WORK/node.log)"
    # shellcheck disable=SC2086
    mmdebstrap "${MODE[@]}" --variant=minbase \
        --include=docker.io,iptables,ca-certificates,procps,socat,iproute2,kmod,curl \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        "$SUITE" "$WORK/node.tar" $MIRROR >"$WORK/node.log" 2>&1 \
        || { tail -n 20 "$WORK/node.log" >&2; die "mmdebstrap for $NODE_IMAGE failed"; }
    log "docker import $NODE_IMAGE"
    docker import --change 'LABEL org.zdd.stand-in=true' --change "LABEL $LABEL=node-image" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["dockerd"]' \
        "$WORK/node.tar" "$NODE_IMAGE" >/dev/null
    rm -rf "$WORK"
fi

# --- manager (the host engine) -----------------------------------------------------------
swarm_state() { docker info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null; }
state=$(swarm_state)
case $state in
    inactive)
        log "docker swarm init on the host (advertise $GW, overlay pool $ADDR_POOL)"
        docker swarm init --advertise-addr "$GW" --listen-addr "$GW:2377" --data-path-addr "$GW" \
            --default-addr-pool "$ADDR_POOL" --default-addr-pool-mask-length 24 >/dev/null
        docker info -f '{{.Swarm.Cluster.ID}}' >"$STATE/cluster-id"
        ;;
    active)
        cid=$(docker info -f '{{.Swarm.Cluster.ID}}' 2>/dev/null || true)
        [ "$(cat "$STATE/cluster-id" 2>/dev/null || true)" = "$cid" ] \
            || die "the host engine is already in a swarm ($cid) that swarm-up did not make; leave it first"
        [ "$(docker info -f '{{.Swarm.ControlAvailable}}')" = true ] || die "the host engine is not a swarm manager"
        ;;
    *) die "host engine swarm state is '$state'; run scripts/swarm-down.sh" ;;
esac
MANAGER_ID=$(docker info -f '{{.Swarm.NodeID}}')
TOKEN=$(docker swarm join-token -q worker)

# --- workers -----------------------------------------------------------------------------
# Runs as the worker container's command (sh -c). Cgroup v1 mounts are read-only in a
# non-privileged container: remount them rw (we are in a private cgroup namespace, so the
# inner dockerd sees only this container's subtree). Storage driver: overlay2 if the kernel
# mounts an overlay on the volume, else vfs.
# shellcheck disable=SC2016
NODE_ENTRY='set -e
for m in $(awk '\''$3 == "cgroup" {print $2}'\'' /proc/self/mounts); do mount -o remount,bind,rw "$m"; done
mount -o remount,rw /sys 2>/dev/null || true
drv=${ZDD_NODE_STORAGE_DRIVER:-}
if [ -z "$drv" ]; then
    t=/var/lib/docker/.ovl-test; rm -rf "$t"; mkdir -p "$t/l" "$t/u" "$t/w" "$t/m"
    if mount -t overlay overlay -o "lowerdir=$t/l,upperdir=$t/u,workdir=$t/w" "$t/m" 2>/dev/null; then
        umount "$t/m"; drv=overlay2; else drv=vfs; fi
    rm -rf "$t"
fi
socat "TCP-LISTEN:$ZDD_REGISTRY_PORT,bind=127.0.0.1,fork,reuseaddr,backlog=128" "TCP:$ZDD_REGISTRY_UPSTREAM" &
echo "zdd-swarm node: storage driver $drv, registry forward 127.0.0.1:$ZDD_REGISTRY_PORT -> $ZDD_REGISTRY_UPSTREAM" >&2
exec dockerd --storage-driver "$drv" --log-level warn'

wdocker() { local w=$1; shift; timeout 30 docker exec "$w" docker "$@"; }
worker_engine_ok() { wdocker "$1" info >/dev/null 2>&1; }

start_worker() {   # $1 index; (re)creates the container, waits for its engine
    local w ip; w=$(worker_name "$1"); ip=$(worker_ip "$1")
    if docker container inspect "$w" >/dev/null 2>&1; then
        [ "$(docker container inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$w")" = node ] \
            || die "a container named $w exists that swarm-up did not make"
        docker rm -f "$w" >/dev/null
    fi
    docker volume inspect "$w" >/dev/null 2>&1 || docker volume create --label "$LABEL=node" "$w" >/dev/null
    log "starting worker $w ($ip)"
    docker run -d --name "$w" --hostname "$w" --label "$LABEL=node" \
        --network "$NET" --ip "$ip" -v "$w:/var/lib/docker" --init --cgroupns private \
        --cap-add ALL --cap-drop SYS_RESOURCE \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --security-opt systempaths=unconfined \
        -e ZDD_REGISTRY_PORT="$PORT" -e ZDD_REGISTRY_UPSTREAM="$GW:$PORT" \
        -e ZDD_NODE_STORAGE_DRIVER="${ZDD_SWARM_NODE_STORAGE_DRIVER:-}" \
        "$NODE_IMAGE" sh -c "$NODE_ENTRY" >/dev/null
}
wait_worker_engine() {
    local w; w=$(worker_name "$1"); local d; d=$(deadline)
    until worker_engine_ok "$w"; do
        [ "$(docker container inspect -f '{{.State.Running}}' "$w" 2>/dev/null)" = true ] \
            || { docker logs --tail 15 "$w" >&2 2>&1 || true; die "worker $w exited during start"; }
        past "$d" && { docker logs --tail 15 "$w" >&2 2>&1 || true; die "dockerd in $w not ready after ${TIMEOUT}s"; }
        sleep 0.3
    done
}

made=0 started=()
for i in $(seq 1 "$WORKERS"); do
    w=$(worker_name "$i")
    if [ "$(docker container inspect -f '{{.State.Running}}' "$w" 2>/dev/null)" = true ] && worker_engine_ok "$w"; then
        continue
    fi
    start_worker "$i"; started+=("$i"); made=1
done
for i in "${started[@]}"; do wait_worker_engine "$i"; done

for i in $(seq 1 "$WORKERS"); do
    w=$(worker_name "$i")
    wid=$(wdocker "$w" info -f '{{.Swarm.NodeID}}' 2>/dev/null || true)
    wstate=$(wdocker "$w" info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null || true)
    if [ "$wstate" = active ] && [ -n "$wid" ] && docker node inspect "$wid" >/dev/null 2>&1; then
        continue
    fi
    [ "$wstate" = inactive ] || { log "$w: swarm state '$wstate', not in our swarm: leaving"; wdocker "$w" swarm leave --force >/dev/null 2>&1 || true; }
    log "$w joins the swarm as a worker"
    wdocker "$w" swarm join --token "$TOKEN" --advertise-addr "$(worker_ip "$i")" \
        --listen-addr "$(worker_ip "$i"):2377" "$GW:2377" >/dev/null
    made=1
done

# Forget nodes that are neither the manager nor a current worker (a recreated worker's old
# identity: the manager may still list it as Ready for a few heartbeats), then every node Ready.
keep=" $MANAGER_ID "
for i in $(seq 1 "$WORKERS"); do keep+="$(wdocker "$(worker_name "$i")" info -f '{{.Swarm.NodeID}}') "; done
for id in $(docker node ls -q); do
    case $keep in *" $id "*) ;; *) log "removing stale node $id"; docker node rm --force "$id" >/dev/null ;; esac
done
d=$(deadline)
while :; do
    ready=$(docker node ls --format '{{.Status}}' | grep -c '^Ready$' || true)
    total=$(docker node ls -q | wc -l)
    [ "$ready" = "$NODES" ] && [ "$total" = "$NODES" ] && break
    past "$d" && { docker node ls >&2; die "$ready of $NODES nodes Ready ($total listed) after ${TIMEOUT}s"; }
    sleep 0.5
done

# registry reachable through every node's loopback forwarder
for i in $(seq 1 "$WORKERS"); do
    w=$(worker_name "$i")
    timeout 10 docker exec "$w" curl -fsS --max-time 5 -o /dev/null "http://$REGISTRY/v2/" \
        || die "$w cannot reach the registry at http://$REGISTRY/v2/"
done

# --- pull probe: a global service that pulls from the registry on every node --------------
run_probe() {
    local src=zdd/python-base:$SUITE ref=$REGISTRY/zddswarm/probe:1 svc=zddswarm-probe
    have_image "$src" || { log "$src missing (scripts/images.sh): pull probe skipped"; return 0; }
    docker tag "$src" "$ref"
    timeout 300 docker push -q "$ref" >/dev/null || die "docker push $ref failed"
    docker service rm "$svc" >/dev/null 2>&1 || true
    docker service create -d -q --name "$svc" --mode global --label "$LABEL=probe" \
        --restart-condition none "$ref" sleep 600 >/dev/null
    local d n; d=$(deadline)
    while :; do
        n=$(docker service ps "$svc" --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Running' || true)
        [ "$n" -ge "$NODES" ] && break
        past "$d" && { docker service ps --no-trunc "$svc" >&2; docker service rm "$svc" >/dev/null 2>&1 || true
                       die "pull probe: $n of $NODES tasks running after ${TIMEOUT}s"; }
        sleep 0.5
    done
    docker service rm "$svc" >/dev/null
    log "pull probe: $ref pulled and running on all $NODES nodes"
}
case $PROBE in
    1) run_probe ;;
    0) ;;
    *) [ "$made" = 1 ] && run_probe ;;
esac

# --- env file ----------------------------------------------------------------------------
workers_list=$(for i in $(seq 1 "$WORKERS"); do printf '%s ' "$(worker_name "$i")"; done)
cat >"$ENV_FILE.tmp" <<EOF
ZDD_SWARM_REGISTRY=$REGISTRY
ZDD_SWARM_NODES=$NODES
ZDD_SWARM_MANAGER_ADDR=$GW
ZDD_SWARM_MANAGER_NODE=$MANAGER_ID
ZDD_SWARM_NETWORK=$NET
ZDD_SWARM_WORKERS="${workers_list% }"
EOF
mv "$ENV_FILE.tmp" "$ENV_FILE"
echo "swarm-up: ready: registry $REGISTRY, $NODES nodes (1 manager, $WORKERS workers), env $ENV_FILE, in $(elapsed)"
