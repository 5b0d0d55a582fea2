"""Replicas behind nginx for the load generator: the repository's config filled in and served."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from digit_detector.loadgen_machine import LoadTestError, loopback_address
from digit_detector.serving import serving

# ---------------------------------------------------------------------------------------------------------
# Past one process: replicas behind the repository's nginx configuration
# ---------------------------------------------------------------------------------------------------------

NGINX_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"  # in a source checkout
_UPSTREAM_SERVER = re.compile(r"^\s*server 127\.0\.0\.1:\d+[^;]*;\s*$", re.MULTILINE)


def nginx_config(template: str, replica_ports: Sequence[int], listen_port: int, folder: Path) -> str:
    """``deploy/nginx.conf`` (``template``) for a run on this machine: its upstream lists ``replica_ports``,
    it listens on loopback ``listen_port``, and its pid and temporary files go to ``folder``."""
    hash_line = "        hash $dd_route consistent;\n"
    if hash_line not in template or not _UPSTREAM_SERVER.search(template):
        raise LoadTestError("the nginx template has no sticky upstream to fill in")
    text = _UPSTREAM_SERVER.sub("", template)
    servers = "".join(
        f"        server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;\n" for port in replica_ports
    )
    text = text.replace(hash_line, hash_line + servers)
    text = re.sub(r"listen \d+;", f"listen 127.0.0.1:{listen_port};", text)
    return text.replace("/tmp/digit-detector-nginx", str(folder / "nginx"))


@contextlib.contextmanager
def serve_proxy(replica_urls: Sequence[str], folder: Path, port: int) -> Iterator[str]:
    """nginx with ``deploy/nginx.conf`` in front of ``replica_urls`` (loopback) on ``port``; yields its URL.
    Needs the ``nginx`` binary (``apt-get install nginx-light``)."""
    import shutil

    binary = shutil.which("nginx")
    if binary is None:
        raise LoadTestError("no nginx on this machine: apt-get install nginx-light")
    ports = [loopback_address(url)[1] for url in replica_urls]
    config = folder / "nginx.conf"
    config.write_text(nginx_config(NGINX_CONFIG.read_text(), ports, port, folder))
    url = f"http://127.0.0.1:{port}"
    command = [binary, "-c", str(config), "-g", "daemon off;"]
    with serving(
        command, url, folder / "nginx.log", name="nginx", timeout_s=20, poll_s=0.1, error=LoadTestError
    ):
        yield url
