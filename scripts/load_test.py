"""Load-test the app's server with simulated users drawing on the canvas (:mod:`digit_detector.loadgen`).

    .venv/bin/python scripts/load_test.py [--users 1,8,16,32] [--duration 30] [--interval 2]
        [--url http://127.0.0.1:8501 | --weights FILE] [--backend torch|onnx] [--set runner.postScriptGC=true]
        [--max-strokes N] [--json FILE]

Without ``--url`` it serves ``app.py`` itself (``streamlit run`` on a free loopback port, the checkout's
``.streamlit/config.toml``) with ``--weights`` (default: ``$DIGIT_DETECTOR_WEIGHTS`` or the shipped weights,
else random yolov3-tiny weights: same speed, other boxes); ``--backend`` sets ``$DIGIT_DETECTOR_BACKEND`` and
``--set section.option=value`` any Streamlit option (as ``$STREAMLIT_SECTION_OPTION``) for that server.
With ``--url`` it loads a server already running on this machine (loopback only), found by its port
(``--pids`` names the processes to measure when the port is a proxy's). ``--replicas N`` serves app.py N
times behind ``deploy/nginx.conf`` (session-sticky; needs nginx) and measures the replicas together.

For each user count: a short warm-up (one user), then the users draw a stroke every ``--interval`` seconds
for ``--duration`` seconds; one line per count: strokes, results, "busy" answers, errors, latency (from each
stroke's due time to its result image received) median/p90/max, the server's CPU per stroke
(``/proc/<pid>`` utime + stime over the run / strokes answered), its RSS, and the machine's load average
(other work on the machine inflates latency, and CPU per stroke a little). Exit status 1 when a user was
shown another drawing than their own, or a run had errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from digit_detector.loadgen import (  # noqa: E402
    LoadConfig,
    LoadResult,
    listening_pid,
    loopback_address,
    run_load,
    serve_proxy,
    wait_until_idle,
)


def random_weights(folder: Path) -> Path:
    """Randomly initialised yolov3-tiny weights (what the tests use)."""
    import torch

    from digit_detector.models import build_model, load_model_config
    from digit_detector.weights import WeightsMetadata, save_weights

    torch.manual_seed(0)
    config = load_model_config("yolov3-tiny")
    metadata = WeightsMetadata(model=config, score_threshold=0.5, version="random")
    return save_weights(build_model(config), metadata, folder / "random-tiny.safetensors")


def streamlit_env(settings: list[str]) -> dict[str, str]:
    """``runner.postScriptGC=true`` -> ``{"STREAMLIT_RUNNER_POST_SCRIPT_GC": "true"}`` (Streamlit's name)."""
    from streamlit import config as streamlit_config

    options = streamlit_config._config_options_template
    env = {}
    for setting in settings:
        name, sep, value = setting.partition("=")
        if not sep or name not in options:
            raise SystemExit(f"--set wants a Streamlit option as section.option=value, got {setting!r}")
        env[options[name].env_var] = value
    return env


@contextmanager
def server(args: argparse.Namespace) -> Iterator[tuple[str, tuple[int, ...]]]:
    """The URL to load and the server processes to measure."""
    if args.url:
        port = loopback_address(args.url)[1]
        pids = tuple(int(pid) for pid in args.pids.split(",")) if args.pids else ()
        if not pids:
            found = listening_pid(port)
            if found is None:
                raise SystemExit(f"no process listens on {args.url}")
            pids = (found,)
        yield args.url, pids
        return
    from digit_detector.browser import free_port, serve_app
    from digit_detector.weights import default_weights_path

    env = streamlit_env(args.set)
    if args.backend:
        env["DIGIT_DETECTOR_BACKEND"] = args.backend
    for setting in args.env:
        name, _, value = setting.partition("=")
        env[name] = value
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        weights = args.weights or default_weights_path()
        if not Path(weights).exists():
            weights = random_weights(Path(folder))
        log = Path(args.log) if args.log else Path(folder) / "streamlit.log"
        replicas = f"{args.replicas} replicas behind nginx, " if args.replicas > 1 else ""
        print(f"serving app.py: {replicas}{weights} {env or ''} (log: {log})", flush=True)
        urls = [
            stack.enter_context(serve_app(Path(weights), log.with_suffix(f".{n}.log") if n else log, env=env))
            for n in range(args.replicas)
        ]
        pids = tuple(listening_pid(loopback_address(url)[1]) or 0 for url in urls)
        if args.replicas == 1:
            yield urls[0], pids
        else:
            yield stack.enter_context(serve_proxy(urls, Path(folder), free_port())), pids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running app on this machine (loopback); default: serve app.py")
    parser.add_argument("--pids", help="with --url: the server processes to measure (default: the port's)")
    parser.add_argument(
        "--replicas", type=int, default=1, help="serve app.py this many times behind deploy/nginx.conf"
    )
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--backend", choices=["torch", "onnx"])
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.OPTION=VALUE")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="for the server")
    parser.add_argument("--users", default="1,8,16,32", help="comma-separated user counts, run in turn")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of drawing per user count")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between a user's strokes")
    parser.add_argument("--max-strokes", type=int, default=100_000, help="strokes per user count, at most")
    parser.add_argument("--timeout", type=float, default=30.0, help="a stroke unanswered this long: error")
    parser.add_argument("--verify-every", type=int, default=1, help="check every n-th result (0: none)")
    parser.add_argument("--no-fetch", action="store_true", help="do not GET the result images")
    parser.add_argument("--mismatch-dir", type=Path, help="save result images showing another drawing here")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds of one user first (0: none)")
    parser.add_argument("--log", help="the served app's log file (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.users.split(",")]

    results: list[LoadResult] = []
    with server(args) as (url, pids):

        def config(users: int, duration: float) -> LoadConfig:
            return LoadConfig(
                url=url,
                users=users,
                duration_s=duration,
                interval_s=args.interval,
                max_strokes=args.max_strokes,
                timeout_s=args.timeout,
                fetch_images=not args.no_fetch,
                verify_every=args.verify_every,
                server_pids=pids,
                mismatch_dir=args.mismatch_dir,
            )

        if args.warmup > 0:
            print("warm-up:", run_load(config(1, args.warmup)).summary(), flush=True)
        for users in counts:
            wait_until_idle(pids)
            result = run_load(config(users, args.duration))
            results.append(result)
            print(result.summary(), *(["errors:", result.errors] if result.errors else []), flush=True)
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in results], indent=2) + "\n")
    columns = ["users", "strokes", "results", "busy", "errors", "median ms", "p90 ms", "max ms"]
    columns += ["server CPU ms/stroke", "RSS MiB", "load avg"]
    print("\n| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in results:
        lat = r.latency_ms
        print(
            f"| {r.users} | {r.strokes_sent} | {r.results} | {r.busy} | {r.error_count} | "
            f"{lat.get('median', float('nan')):.0f} | {lat.get('p90', float('nan')):.0f} | "
            f"{lat.get('max', float('nan')):.0f} | {r.cpu_ms_per_stroke:.1f} | "
            f"{r.rss_mb.get('start', 0):.0f} → {r.rss_mb.get('end', 0):.0f} | "
            f"{r.loadavg_start[0]:.1f} → {r.loadavg_end[0]:.1f} |"
        )
    print(f"machine: {os.cpu_count()} CPUs")
    failed = any(r.mismatched or r.errors for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
