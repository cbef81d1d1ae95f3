#!/bin/bash -eu
# The seed's deploy-and-restart.sh, its six commands as published, for side-by-side
# measurements only. Differences: the compose command comes from $COMPOSE (default
# docker-compose) and the file/project from COMPOSE_FILE / COMPOSE_PROJECT_NAME, and the
# demo's source file is service/server.py (the seed touched service/server.sh).
# SEED_SIBLINGS (default "service_a service_b") lets bench/run.py give it more siblings:
# the same build line with all of them, and stop / up / sleep 5 for each in turn.
read -r -a compose <<< "${COMPOSE:-docker-compose}"
read -r -a siblings <<< "${SEED_SIBLINGS:-service_a service_b}"

# Build the new image, or pull it from a repo.
touch service/server.py
"${compose[@]}" build --no-cache app "${siblings[@]}"

last=${siblings[${#siblings[@]}-1]}
for sibling in "${siblings[@]}"; do
    # Shut down the sibling first, and restart with new image
    "${compose[@]}" stop "$sibling"
    "${compose[@]}" up -d --force-recreate "$sibling"

    # Wait a little in case the service takes a bit to start
    [ "$sibling" = "$last" ] || sleep 5
done
