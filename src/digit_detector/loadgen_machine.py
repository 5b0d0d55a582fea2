"""The load generator's view of the machine: loopback addresses, server processes, their CPU and memory."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import urllib.parse
from pathlib import Path

_CLK_TCK = os.sysconf("SC_CLK_TCK")


class LoadTestError(RuntimeError):
    """The load test could not run (no server, no canvas on the page, a URL that is not loopback)."""


# ---------------------------------------------------------------------------------------------------------
# Where: loopback only, and the server process behind the port
# ---------------------------------------------------------------------------------------------------------


def loopback_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of an ``http://`` URL on this machine's loopback interface; anything else (another
    host, a name other than ``localhost``, https) raises ValueError: the load generator only loads a
    server on this machine."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"only http:// URLs on loopback are loaded, got {url!r}")
    host = parts.hostname or ""
    if host != "localhost":
        try:
            is_loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            is_loopback = False
        if not is_loopback:
            raise ValueError(
                f"refusing to load {host!r}: only loopback (127.0.0.0/8, ::1, localhost) is loaded"
            )
    if parts.port is None:
        raise ValueError(f"the URL must name the port, got {url!r}")
    return ("127.0.0.1" if host == "localhost" else host), parts.port


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(inode)
    return inodes


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on TCP ``port`` on this machine, or None when none is found
    (or its file descriptors cannot be read)."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        return int(entry.name)
    return None


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far, all its threads."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; fields[0] is the state
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime, stime (fields 14, 15 of stat)


def process_rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LoadTestError(f"no VmRSS for pid {pid}")


def load_average() -> tuple[float, float, float]:
    """This machine's 1, 5 and 15 minute load averages."""
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)
