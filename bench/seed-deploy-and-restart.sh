#!/bin/bash -eu
# The seed's deploy-and-restart.sh, its six commands as published, for side-by-side
# measurements only. Differences: the compose command comes from $COMPOSE (default
# docker-compose) and the file/project from COMPOSE_FILE / COMPOSE_PROJECT_NAME, and the
# demo's source file is service/server.py (the seed touched service/server.sh).
read -r -a compose <<< "${COMPOSE:-docker-compose}"

# Build the new image, or pull it from a repo.
touch service/server.py
"${compose[@]}" build --no-cache app service_a service_b

# Shut down Service A first, and restart with new image
"${compose[@]}" stop service_a
"${compose[@]}" up -d --force-recreate service_a

# Wait a little in case the service takes a bit to start
sleep 5

# Now shut down and restart Service B with new image.
"${compose[@]}" stop service_b
"${compose[@]}" up -d --force-recreate service_b
