"""zdd: zero-downtime deploys for Docker Compose services."""

__version__ = "0.1.0"
