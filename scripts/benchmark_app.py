"""Benchmark the app's responsiveness in a real browser: mouse-up to the updated result on screen.

    .venv/bin/python scripts/benchmark_app.py [--weights FILE] [--strokes 15] [--backend torch|onnxruntime]

Serves ``app.py`` with ``streamlit run`` on a free loopback port, opens it in Debian's chromium (Playwright),
draws one untimed warm-up stroke, then ``--strokes`` short strokes on the canvas. Each is timed from the
mouse-up to the moment the new result image (drawn by the server for that stroke) has loaded in the page;
prints the median and p90 in milliseconds, and the median model time the app reports. The drawable
canvas itself waits 200 ms after a stroke before it sends the drawing (its debounce), so that much of
every figure is the component's. Without ``--weights``: ``$DIGIT_DETECTOR_WEIGHTS`` or the shipped
weights, else randomly initialised yolov3-tiny weights (the speed is the same; the boxes are not).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from digit_detector.browser import draw, launch_chromium, open_draw_page, serve_app  # noqa: E402
from digit_detector.weights import default_weights_path  # noqa: E402


def random_weights(folder: Path) -> Path:
    """Randomly initialised yolov3-tiny weights (what the tests use)."""
    import torch

    from digit_detector.models import build_model, load_model_config
    from digit_detector.weights import WeightsMetadata, save_weights

    torch.manual_seed(0)
    config = load_model_config("yolov3-tiny")
    metadata = WeightsMetadata(model=config, version="random")
    return save_weights(build_model(config), metadata, folder / "random-tiny.safetensors")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(url: str, strokes: int, backend: str) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    latencies: list[float] = []
    model_ms: list[float] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(60_000)
        open_draw_page(page, url)
        if backend != "torch":
            page.get_by_text("Advanced").click()
            page.get_by_text(backend, exact=True).click()
        for index in range(strokes + 1):  # the first stroke warms up and is not timed
            column, row = index % 8, (index // 8) % 2
            x, y = 30 + 45 * column, 40 + 190 * row
            seconds = draw(page, [[(x, y), (x + 10, y + 20), (x + 5, y + 140)]])
            caption = page.get_by_text(re.compile(r"^Model time")).first.inner_text()
            if index == 0:
                continue
            latencies.append(seconds * 1000)
            match = re.search(r"Model time (\d+) ms", caption)
            if match:
                model_ms.append(float(match.group(1)))
        browser.close()
    return {
        "strokes": len(latencies),
        "backend": backend,
        "median_ms": round(statistics.median(latencies)),
        "p90_ms": round(percentile(latencies, 0.9)),
        "min_ms": round(min(latencies)),
        "max_ms": round(max(latencies)),
        "model_median_ms": round(statistics.median(model_ms)) if model_ms else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="weights file (default: see above)")
    parser.add_argument("--strokes", type=int, default=15, help="timed strokes (default 15)")
    parser.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        weights = args.weights or default_weights_path()
        if not weights.is_file():
            print(f"{weights} does not exist: using random yolov3-tiny weights", file=sys.stderr)
            weights = random_weights(Path(scratch))
        with serve_app(weights, Path(scratch) / "streamlit.log") as url:
            result = measure(url, args.strokes, args.backend)
    result["weights"] = weights.name
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"mouse-up to updated result ({result['strokes']} strokes, {args.backend}, {weights.name}): "
            f"median {result['median_ms']} ms, p90 {result['p90_ms']} ms "
            f"(min {result['min_ms']}, max {result['max_ms']}); "
            f"model time median {result['model_median_ms']} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
