#!/usr/bin/env bash
# Build the offline base images from Debian packages (no container registry needed):
#   zdd/python-base:bookworm  python3, curl, ca-certificates   (the demo app)
#   zdd/nginx-base:bookworm   nginx-light, curl                (the demo proxy)
#   zdd/netfilter:bookworm    iptables, iproute2 (ss)          (--drain-image's helper)
# with `mmdebstrap --variant=minbase` + `docker import`, labelled org.zdd.stand-in=true.
# Also tags the python base as `python:3.12-slim` (a local stand-in under the public name,
# for the seed's legacy compose file whose Dockerfile FROM line is fixed) unless an image
# of that name is already present. Idempotent: images that exist are skipped.
# Needs: a working engine (scripts/engine-up.sh), mmdebstrap, root (or unshare support).
# Env: ZDD_SUITE (default bookworm), ZDD_MIRROR (default: mmdebstrap's, deb.debian.org).
set -Eeuo pipefail

T0=$(date +%s%N)
log() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: error: %s\n' "$*" >&2; exit 1; }
elapsed() { local t; t=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%03ds' $((t / 1000)) $((t % 1000)); }

SUITE=${ZDD_SUITE:-bookworm}
MIRROR=${ZDD_MIRROR:-}
PY_IMAGE=zdd/python-base:$SUITE
NGINX_IMAGE=zdd/nginx-base:$SUITE
NETFILTER_IMAGE=zdd/netfilter:$SUITE
PY_STANDIN=python:3.12-slim
PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || die "no Docker engine: run scripts/engine-up.sh first"
command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap missing: apt-get install mmdebstrap (scripts/engine-up.sh does)"

MODE=()
[ "$(id -u)" = 0 ] && MODE=(--mode=root)   # as root: plain chroot, no namespaces needed

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/zdd-images.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# mmdebstrap <name> <packages> [extra mmdebstrap args...]: writes $WORK/<name>.tar
build_tar() {
    local name=$1 pkgs=$2; shift 2
    # shellcheck disable=SC2086
    mmdebstrap "${MODE[@]}" --variant=minbase --include="$pkgs" \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        "$@" "$SUITE" "$WORK/$name.tar" $MIRROR >"$WORK/$name.log" 2>&1
}

pids=() names=()
if have_image "$PY_IMAGE"; then
    log "$PY_IMAGE exists: skipped"
else
    log "mmdebstrap $PY_IMAGE (python3 curl ca-certificates)"
    build_tar python python3,python-is-python3,curl,ca-certificates &
    pids+=($!) names+=(python)
fi
if have_image "$NGINX_IMAGE"; then
    log "$NGINX_IMAGE exists: skipped"
else
    log "mmdebstrap $NGINX_IMAGE (nginx-light curl)"
    # logs to the container's stdout/stderr, as in the official nginx image.
    # (docker import cannot set STOPSIGNAL: use stop_signal: SIGQUIT in compose for a graceful stop)
    build_tar nginx nginx-light,curl,ca-certificates \
        --customize-hook='ln -sf /dev/stdout "$1/var/log/nginx/access.log"' \
        --customize-hook='ln -sf /dev/stderr "$1/var/log/nginx/error.log"' &
    pids+=($!) names+=(nginx)
fi

if have_image "$NETFILTER_IMAGE"; then
    log "$NETFILTER_IMAGE exists: skipped"
else
    log "mmdebstrap $NETFILTER_IMAGE (iptables iproute2)"
    build_tar netfilter iptables,iproute2 &
    pids+=($!) names+=(netfilter)
fi

for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        tail -n 20 "$WORK/${names[$i]}.log" >&2
        die "mmdebstrap for ${names[$i]} failed"
    fi
done

stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
common=(--change 'LABEL org.zdd.stand-in=true' --change "LABEL org.zdd.built=$stamp"
        --change "LABEL org.zdd.suite=$SUITE" --change "ENV $PATH_ENV" --change 'ENV LANG=C.UTF-8')
for n in "${names[@]}"; do
    case $n in
        python)
            log "docker import $PY_IMAGE"
            docker import "${common[@]}" --change 'CMD ["python3"]' \
                "$WORK/python.tar" "$PY_IMAGE" >/dev/null ;;
        nginx)
            log "docker import $NGINX_IMAGE"
            docker import "${common[@]}" --change 'EXPOSE 80' \
                --change 'CMD ["nginx", "-g", "daemon off;"]' \
                "$WORK/nginx.tar" "$NGINX_IMAGE" >/dev/null ;;
        netfilter)
            log "docker import $NETFILTER_IMAGE"
            docker import "${common[@]}" "$WORK/netfilter.tar" "$NETFILTER_IMAGE" >/dev/null ;;
    esac
done

if have_image "$PY_STANDIN"; then
    if [ "$(docker image inspect -f '{{index .Config.Labels "org.zdd.stand-in"}}' "$PY_STANDIN")" = true ]; then
        log "$PY_STANDIN present (zdd stand-in): kept"
    else
        log "$PY_STANDIN present (a real image): left alone"
    fi
else
    log "tagging $PY_IMAGE as $PY_STANDIN (local stand-in, label org.zdd.stand-in=true)"
    docker tag "$PY_IMAGE" "$PY_STANDIN"
fi

docker image ls --format '{{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' \
    | grep -E "^(zdd/python-base|zdd/nginx-base|zdd/netfilter|python):" >&2 || true
log "done in $(elapsed)"
