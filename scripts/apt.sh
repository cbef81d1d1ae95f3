# Sourced by engine-up.sh and swarm-up.sh (which define log and die): install the Debian
# packages that are missing, without recommends, and without letting a package's init script
# start or stop a service (policy-rc.d: no second system dockerd, no stock registry on :5000).
# shellcheck shell=bash

missing_pkgs() {
    local p out=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out+=("$p")
    done
    echo "${out[@]:-}"
}

apt_install() {
    # Install only what is missing; no recommends (faster, no needrestart/apparmor);
    # keep the package's init script from starting a second, system dockerd.
    local missing; missing=$(missing_pkgs "$@")
    [ -n "$missing" ] || return 0
    log "apt-get install $missing"
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
    fi
    local rc=0
    # shellcheck disable=SC2086
    {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/tmp/zdd-apt.log 2>&1 \
        || { log "apt-get update (package lists missing or stale)"
             apt-get update -q >>/tmp/zdd-apt.log 2>&1 &&
             DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >>/tmp/zdd-apt.log 2>&1; }
    } || rc=$?
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || { tail -n 5 /tmp/zdd-apt.log >&2; die "apt-get install $missing failed (log: /tmp/zdd-apt.log)"; }
}
