"""What zdd writes and reads in the managed nginx's container: each group's upstream file, the
scripts run there (nginx_apply.sh applies a change), the `zdd` access log and how zdd tells
that the running nginx writes it, an admission window's reading of it (traffic.py judges what
was read), and nginx's connections to a drained server."""

from __future__ import annotations

import re
import shlex
import socket
from collections.abc import Mapping, Sequence
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


UPSTREAM_DIR = "/etc/nginx/zdd"
# Prints each file's text and a newline after a line `MARK FILE` (nothing for a missing one).
MARK = "==zdd=="
READ_SCRIPT = f'for f in "$@"; do echo "{MARK} $f"; [ ! -f "$f" ] || {{ cat "$f"; echo; }}; done'
SHOW_CONFIG = "nginx -T 2>&1 || true"  # the whole config nginx runs, every include inlined
SERVER_LINE = re.compile(r"^server \S+;\s+# (\S+)$", re.MULTILINE)


def servers_text(addresses: Mapping[str, str]) -> str:
    """The rendered upstream file: one `server` line per in-rotation container."""
    lines = [f"server {address};  # {sibling}\n" for sibling, address in sorted(addresses.items())]
    return "# rendered by zdd; do not edit\n" + "".join(lines)


def rendered_siblings(text: str) -> set[str]:
    """The siblings a rendered upstream file routes to."""
    return set(SERVER_LINE.findall(text))


def upstream_file(base: str) -> str:
    """Where zdd writes the group's servers inside the proxy."""
    return f"{UPSTREAM_DIR}/{base}/servers.conf"


def includes(shown: str, base: str) -> bool:
    """Whether the config `nginx -T` showed includes the group's upstream zdd renders."""
    directory = f"{re.escape(UPSTREAM_DIR)}/{re.escape(base)}/"
    return bool(re.search(rf"\binclude\s+[\"']?{directory}", shown, re.MULTILINE))


def read_script(paths: Sequence[str]) -> str:
    """The script that prints each of `paths` after its MARK line."""
    return f"{shlex.join(['set', '--', *paths])}\n{READ_SCRIPT}"


def read_files(paths: Mapping[str, str], output: str) -> dict[str, str | None]:
    """key -> the text of its file in what `read_script` printed (None: none, or empty)."""
    texts: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in output.splitlines(keepends=True):
        if line.startswith(f"{MARK} "):
            lines = texts.setdefault(line.split(" ", 1)[1].strip(), [])
        else:
            lines.append(line)
    # without the newline the script added; an empty file routes to nothing, as a missing one
    return {key: "".join(texts.get(path, []))[:-1] or None for key, path in paths.items()}


def proc_address(address: str) -> str:
    """`172.18.0.3:3000` as /proc/net/tcp writes a peer: `030012AC:0BB8` ("" for no IPv4)."""
    host, _, port = address.rpartition(":")
    try:
        packed = socket.inet_aton(host)
    except OSError:
        return ""
    return f"{packed[::-1].hex().upper()}:{int(port):04X}"


@dataclass(frozen=True)
class Connections:
    """nginx's connections to the servers of one drain: open when it began, still open at its
    end (cut when the container stops)."""

    open: int
    cut: int

    def describe(self) -> str:
        """`3 connection(s) open: 2 finished, 1 cut`."""
        return f"{self.open} connection(s) open: {self.open - self.cut} finished, {self.cut} cut"


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
