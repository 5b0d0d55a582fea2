"""A served Streamlit endpoint for development tooling: start a process, wait until ``/_stcore/health``
answers ``ok``, yield its URL, stop it after (the browser tests' app and the load generator's nginx)."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def serving(
    command: Sequence[str],
    url: str,
    log_path: Path,
    *,
    name: str,
    timeout_s: float,
    poll_s: float = 0.2,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    error: type[Exception] = RuntimeError,
) -> Iterator[str]:
    """Run ``command`` (output to ``log_path``) until ``url`` is healthy; ``error`` (with the log) when it
    exits first or is not healthy within ``timeout_s``. Terminated (killed after 10 s) on the way out."""
    with log_path.open("w") as log:
        process = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if process.poll() is not None:
                    raise error(f"{name} exited with {process.returncode}: {log_path.read_text()}")
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise error(f"{name} did not start in {timeout_s:g} s: {log_path.read_text()}")
                time.sleep(poll_s)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
