"""The managed nginx's `zdd` access log: where it is, how zdd tells that the running nginx
writes it, and an admission window's reading of it (traffic.py judges what was read)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib.resources import files

from zdd.traffic import LOG_FORMAT, Sample, parse, split

APPLY_SCRIPT = files("zdd.proxy").joinpath("nginx_apply.sh").read_text(encoding="utf-8")
# the `zdd` access log and the map file that turns it on during a window (nginx_apply.sh)
TRAFFIC_LOG = re.findall(r"^LOG=(\S+)", APPLY_SCRIPT, re.MULTILINE)[0]
WINDOW_MAP = re.findall(r"^WINDOW_MAP=(\S+)", APPLY_SCRIPT, re.MULTILINE)[0]
LOGS_FOR_ZDD = re.compile(
    rf"^\s*log_format\s+{LOG_FORMAT}\b[\s\S]*^\s*access_log\s+{re.escape(TRAFFIC_LOG)}\s+{LOG_FORMAT}\b",
    re.MULTILINE,
)


@dataclass
class Window:
    """An admission window: the group, its new containers' and its others' addresses, how far
    the log was read, and the tries each address got."""

    base: str
    new: set[str]
    others: set[str]
    offset: int = 0
    samples: dict[str, Sample] = field(default_factory=dict)

    def read_script(self) -> str:
        """The shell line that prints the log from where the last reading stopped."""
        return f"tail -c +{self.offset + 1} {TRAFFIC_LOG} 2> /dev/null || :"

    def take(self, text: str) -> tuple[Sample, Sample]:
        """Count the complete lines of what `read_script` printed (a line nginx is still
        writing waits for the next reading); the new containers' tries and the others', so
        far."""
        complete = text[: text.rfind("\n") + 1]
        self.offset += len(complete.encode())
        for address, sample in parse(complete).items():
            if address in self.new or address in self.others:
                self.samples.setdefault(address, Sample()).merge(sample)
        return split(self.samples, self.new)
