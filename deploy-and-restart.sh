#!/usr/bin/env bash
# Drop-in for the seed's deploy-and-restart.sh: Makefiles and CI jobs that call the script
# keep working. zdd runs the same sequence (build --no-cache, then stop and recreate each
# sibling in turn), finds the siblings itself and waits for each to be ready.
# Arguments go to `zdd deploy` (e.g. ./deploy-and-restart.sh -f compose/legacy/docker-compose.yml).
set -euo pipefail
if command -v zdd >/dev/null 2>&1; then
    exec zdd deploy "$@"
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -x "$here/.venv/bin/zdd" ]; then
    exec "$here/.venv/bin/zdd" deploy "$@"
fi
exec python3 -m zdd deploy "$@"
