"""`zdd deploy --engine swarm`: the same project, rolled out by Docker Swarm, watched by zdd."""

from enum import StrEnum


class Engine(StrEnum):
    """Where the project runs: this engine through compose, or a Docker Swarm."""

    COMPOSE = "compose"
    SWARM = "swarm"
