#!/usr/bin/env bash
# Stop the dockerd that scripts/engine-up.sh started (found by its pid file) and wait for it
# to exit. Does nothing when engine-up did not start one (e.g. an engine that was already
# running). Containers are stopped by dockerd itself on shutdown; images stay in the data root.
# Env: ZDD_DOCKERD_PIDFILE (default /run/zdd-dockerd.pid), ZDD_DOCKERD_STOP_TIMEOUT (default 60).
set -euo pipefail

PIDFILE=${ZDD_DOCKERD_PIDFILE:-/run/zdd-dockerd.pid}
TIMEOUT=${ZDD_DOCKERD_STOP_TIMEOUT:-60}
log() { printf 'engine-down: %s\n' "$*" >&2; }

if [ ! -f "$PIDFILE" ]; then
    log "no $PIDFILE: engine-up did not start a dockerd, nothing to do"
    exit 0
fi
pid=$(tr -dc '0-9' <"$PIDFILE" || true)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    log "dockerd (pid ${pid:-?}) is not running; removing stale $PIDFILE"
    rm -f "$PIDFILE"
    exit 0
fi
case "$(cat "/proc/$pid/comm" 2>/dev/null || true)" in
    dockerd) ;;
    *) log "pid $pid from $PIDFILE is not dockerd; leaving it alone"; exit 1 ;;
esac

log "stopping dockerd (pid $pid)"
kill -TERM "$pid"
deadline=$(( $(date +%s) + TIMEOUT ))
while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "dockerd still running after ${TIMEOUT}s: sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
        break
    fi
    sleep 0.2
done
rm -f "$PIDFILE"
log "dockerd stopped"
