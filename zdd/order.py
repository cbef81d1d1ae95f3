"""How a unit (a sibling, or a service without siblings) is replaced: `--order`."""

from enum import StrEnum


class Order(StrEnum):
    """Stop-first is the seed's sequence; start-first runs the new beside the old."""

    STOP_FIRST = "stop-first"  # drain, stop, up, gate, admit: one copy out at a time
    START_FIRST = "start-first"  # up --scale, gate, admit, drain, retire: capacity never drops
