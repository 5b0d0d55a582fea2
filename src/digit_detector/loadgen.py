"""Simulated users for the Streamlit app: they measure the *server* (CPU per stroke, latency, memory).

Each simulated user speaks Streamlit's own websocket protocol to ``/_stcore/stream`` as the browser does
(protobuf ``BackMsg``/``ForwardMsg`` from ``streamlit.proto``): it loads the page (a full script run), finds
the drawable canvas in the elements sent (a ``BidiComponent`` named :data:`CANVAS_COMPONENT`, with the
fragment it sits in, if any), then draws: every ``interval_s`` seconds it sends the canvas's new value the
way the component does on a mouse-up -- a rerun request whose widget state for the canvas is the JSON
``{"drawing": {"raw": <fabric.js canvas JSON, one Path per stroke>, "data": <PNG data URL of the canvas>}}``
(streamlit-drawable-canvas 0.13's ``setStateValue("drawing", ...)``; the Draw page reads ``data``, as
``CanvasResult.image_data``). It then waits for the run's ``script_finished``, fetches the result image
from ``/media/...`` as the browser's ``<img>`` would, and checks the picture shows *its own* drawing
(:func:`matches_own_drawing`).

A stroke's latency runs from the moment it was due (on the user's fixed schedule) to the result image
received: a user whose previous stroke is still unanswered sends the next one only after that answer,
and the wait counts (no coordinated omission). A page that answers "busy" (the app's bounded inference
queue, :mod:`digit_detector.ui.state`) counts apart from results, with its own latency.

Server figures come from ``/proc/<pid>``: CPU (utime + stime) over the drawing phase divided by the strokes
answered, and RSS sampled twice a second. The server's pid is found from its listening port
(:func:`listening_pid`), so the server must run on this machine -- the load generator refuses any URL
that is not loopback (:func:`loopback_address`). Runs are bounded in users, strokes and seconds.

Development tooling (``scripts/load_test.py``, ``tests/test_loadgen.py``): the app never imports it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import os
import statistics
import time
import urllib.parse
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from digit_detector.loadgen_drawings import CanvasState as CanvasState
from digit_detector.loadgen_drawings import Point as Point
from digit_detector.loadgen_drawings import canvas_state as canvas_state
from digit_detector.loadgen_drawings import drawing_bank as drawing_bank
from digit_detector.loadgen_drawings import fabric_path as fabric_path
from digit_detector.loadgen_drawings import ink_agreement as ink_agreement
from digit_detector.loadgen_drawings import ink_grid as ink_grid
from digit_detector.loadgen_drawings import matches_own_drawing as matches_own_drawing
from digit_detector.loadgen_drawings import random_stroke as random_stroke
from digit_detector.loadgen_drawings import render_strokes as render_strokes
from digit_detector.loadgen_machine import LoadTestError as LoadTestError
from digit_detector.loadgen_machine import listening_pid as listening_pid
from digit_detector.loadgen_machine import load_average as load_average
from digit_detector.loadgen_machine import loopback_address as loopback_address
from digit_detector.loadgen_machine import process_cpu_s as process_cpu_s
from digit_detector.loadgen_machine import process_rss_mb as process_rss_mb
from digit_detector.loadgen_proxy import NGINX_CONFIG as NGINX_CONFIG
from digit_detector.loadgen_proxy import nginx_config as nginx_config
from digit_detector.loadgen_proxy import serve_proxy as serve_proxy

CANVAS_COMPONENT = "streamlit-drawable-canvas.streamlit_drawable_canvas"
BUSY_MARKER = "busy"  # the app's "busy, try again in a moment" warning contains this (case-insensitive)
MAX_USERS = 512
MAX_DURATION_S = 3600.0
MAX_STROKES = 200_000
MAX_VERIFY_SAMPLES = 5_000  # result images kept per run to check after it (about 40 KB each)
_MESSAGE_CACHE_SIZE = 256  # ForwardMsgs kept by hash, as the browser's message cache keeps them


# ---------------------------------------------------------------------------------------------------------
# How: one simulated user's session over Streamlit's websocket protocol
# ---------------------------------------------------------------------------------------------------------


@dataclass
class RunAnswer:
    """What one script run sent back."""

    status: str = ""  # "ok" (full run), "fragment" (fragment run), "error"
    images: list[str] = field(default_factory=list)  # media URLs of the st.image elements, in order
    alerts: list[str] = field(default_factory=list)  # bodies of st.error/warning/info/success
    exceptions: list[str] = field(default_factory=list)
    canvas_id: str = ""
    canvas_fragment: str = ""

    @property
    def busy(self) -> bool:
        return any(BUSY_MARKER in alert.lower() for alert in self.alerts)


class AppSession:
    """One browser tab's websocket session with the app (one Streamlit session)."""

    def __init__(self, host: str, port: int, path: str = "") -> None:
        self.host, self.port, self.path = host, port, path.strip("/")
        self.page_script_hash = ""
        self.canvas_id = ""
        self.canvas_fragment = ""
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._socket: Any = None
        self.cookies: dict[str, str] = {}

    @property
    def _authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def connect(self, timeout_s: float) -> RunAnswer:
        """Load the page as a browser does: its HTML first (keeping the cookies it sets, e.g. a proxy's
        session-affinity cookie), then the websocket and the first script run, with no widget state."""
        from websockets.asyncio.client import connect

        base = f"/{self.path}/" if self.path else "/"
        await self.fetch(base, timeout_s)
        headers = {"Cookie": self._cookie_header()} if self.cookies else None
        self._socket = await connect(
            f"ws://{self._authority}{base}_stcore/stream",
            subprotocols=["streamlit"],  # type: ignore[list-item]
            origin=f"http://{self._authority}",  # type: ignore[arg-type]
            additional_headers=headers,
            max_size=None,
            open_timeout=timeout_s,
        )
        answer = await asyncio.wait_for(self.rerun(None), timeout_s)
        if not answer.canvas_id:
            raise LoadTestError(f"no {CANVAS_COMPONENT} on the page: {answer}")
        return answer

    def _cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    async def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()
            self._socket = None

    def _client_state(self, canvas_value: str | None) -> bytes:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        message = BackMsg()
        state = message.rerun_script
        state.query_string = ""
        state.page_script_hash = self.page_script_hash
        state.cached_message_hashes.extend(self._cache)
        if canvas_value is not None:
            widget = state.widget_states.widgets.add()
            widget.id = self.canvas_id
            widget.json_value = canvas_value
            if self.canvas_fragment:  # the browser reruns only the fragment a widget sits in
                state.fragment_id = self.canvas_fragment
        return bytes(message.SerializeToString())

    async def rerun(self, canvas_value: str | None) -> RunAnswer:
        """Send a rerun (with the canvas's new value, or none for the page load) and collect the run's
        answer up to its ``script_finished``."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        await self._socket.send(self._client_state(canvas_value))
        answer = RunAnswer()
        while True:
            message = ForwardMsg()
            message.ParseFromString(await self._socket.recv())
            kind = message.WhichOneof("type")
            if kind == "ref_hash":
                cached = self._cache.get(message.ref_hash)
                if cached is None:
                    continue
                message, kind = cached, cached.WhichOneof("type")
            elif message.hash and message.metadata.cacheable:
                self._cache[message.hash] = message
                while len(self._cache) > _MESSAGE_CACHE_SIZE:
                    self._cache.popitem(last=False)
            if kind == "new_session":
                self.page_script_hash = self.page_script_hash or message.new_session.page_script_hash
            elif kind == "navigation":
                self.page_script_hash = message.navigation.page_script_hash or self.page_script_hash
            elif kind == "delta":
                self._read_delta(message.delta, answer)
            elif kind == "script_finished":
                status = message.script_finished
                if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue  # a run stopped for the next one: keep waiting for that one
                answer.status = {
                    ForwardMsg.FINISHED_SUCCESSFULLY: "ok",
                    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY: "fragment",
                }.get(status, "error")
                return answer

    def _read_delta(self, delta: Any, answer: RunAnswer) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind == "bidi_component" and element.bidi_component.component_name == CANVAS_COMPONENT:
            self.canvas_id = answer.canvas_id = element.bidi_component.id
            self.canvas_fragment = answer.canvas_fragment = delta.fragment_id
        elif kind == "imgs":
            answer.images.extend(image.url for image in element.imgs.imgs)
        elif kind == "alert":
            answer.alerts.append(element.alert.body)
        elif kind == "exception":
            answer.exceptions.append(f"{element.exception.type}: {element.exception.message}")

    async def fetch(self, url: str, timeout_s: float) -> bytes:
        """GET ``url`` (a path on the server, as the page's ``<img src>``) over a fresh connection, with the
        session's cookies; keeps the cookies the answer sets."""
        path = url if url.startswith("/") else f"/{url}"
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout_s)
        try:
            cookie = f"Cookie: {self._cookie_header()}\r\n" if self.cookies else ""
            request = f"GET {path} HTTP/1.1\r\nHost: {self._authority}\r\n{cookie}Connection: close\r\n\r\n"
            writer.write(request.encode("latin-1"))
            data = await asyncio.wait_for(reader.read(), timeout_s)
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        if len(status_line.split()) < 2 or status_line.split()[1] != "200":
            raise LoadTestError(f"GET {path}: {status_line}")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                cookie_name, _, cookie_value = value.split(";", 1)[0].partition("=")
                self.cookies[cookie_name.strip()] = cookie_value.strip()
            headers[name] = value
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = _unchunk(body)
        return body


def _unchunk(body: bytes) -> bytes:
    out, rest = bytearray(), body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return bytes(out)


# ---------------------------------------------------------------------------------------------------------
# The run: many users, bounded, and what the server spent on them
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadConfig:
    """One load run: ``users`` simulated users, each drawing a stroke every ``interval_s`` seconds for
    ``duration_s`` seconds (or until ``max_strokes`` strokes in all were sent)."""

    url: str
    users: int = 1
    duration_s: float = 10.0
    interval_s: float = 2.0
    max_strokes: int = MAX_STROKES
    strokes_per_drawing: int = 4  # then the next drawing, on a cleared canvas
    timeout_s: float = 30.0  # a stroke unanswered this long is an error (the user reconnects)
    fetch_images: bool = True  # GET the result image, as the browser's <img> does
    verify_every: int = 1  # check every n-th result image shows the user's own drawing (0: never)
    server_pids: tuple[int, ...] = ()  # the server processes (replicas); default: the one on the URL's port
    seed: int = 0
    connect_concurrency: int = 4  # page loads at once before the drawing starts
    mismatch_dir: Path | None = None  # where result images showing another drawing are saved, if anywhere

    def __post_init__(self) -> None:
        loopback_address(self.url)
        if not 1 <= self.users <= MAX_USERS:
            raise ValueError(f"users must be 1-{MAX_USERS}, got {self.users}")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            raise ValueError(f"duration_s must be in (0, {MAX_DURATION_S:.0f}], got {self.duration_s}")
        if not 1 <= self.max_strokes <= MAX_STROKES:
            raise ValueError(f"max_strokes must be 1-{MAX_STROKES}, got {self.max_strokes}")
        if self.interval_s <= 0 or self.timeout_s <= 0 or self.strokes_per_drawing < 1:
            raise ValueError("interval_s and timeout_s must be positive, strokes_per_drawing at least 1")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(np.ceil(q * len(ordered))) - 1))]


@dataclass
class LoadResult:
    """What one run measured. Latencies in ms from a stroke's due time to its answer (result image
    received, or the "busy" notice); CPU and RSS are the server process's."""

    users: int
    interval_s: float
    duration_s: float  # of the drawing phase
    strokes_sent: int = 0
    results: int = 0  # answered with a result
    busy: int = 0  # answered "busy, try again"
    errors: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)  # results: median, p90, max
    busy_latency_ms: dict[str, float] = field(default_factory=dict)  # busy notices: median, p90, max
    # the same from the moment the stroke was sent (a user behind schedule sends late): what the server took
    response_ms: dict[str, float] = field(default_factory=dict)
    busy_response_ms: dict[str, float] = field(default_factory=dict)
    server_cpu_s: float = 0.0
    cpu_ms_per_stroke: float = float("nan")  # server CPU / strokes answered (results + busy)
    cpu_ms_per_result: float = float("nan")
    client_cpu_ms_per_stroke: float = float("nan")  # this load generator's own CPU (it shares the machine)
    rss_mb: dict[str, float] = field(
        default_factory=dict
    )  # start, at_10pct and at_50pct (of the run), end, max
    verified: int = 0
    mismatched: int = 0  # result images that showed another drawing than the user's own
    unverifiable: int = 0
    loadavg_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    loadavg_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    server_pids: tuple[int, ...] = ()  # CPU and RSS are their sums

    @property
    def answered(self) -> int:
        return self.results + self.busy

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["answered"] = self.answered
        return record

    def summary(self) -> str:
        lat, busy, nan = self.latency_ms, self.busy_latency_ms, float("nan")
        line = (
            f"{self.users:>3} users every {self.interval_s:g} s, {self.duration_s:.0f} s: "
            f"{self.strokes_sent} strokes, {self.results} results, {self.busy} busy, "
            f"{self.error_count} errors; latency median {lat.get('median', nan):.0f} / "
            f"p90 {lat.get('p90', nan):.0f} / max {lat.get('max', nan):.0f} ms "
            f"(from sent: p90 {self.response_ms.get('p90', nan):.0f}); "
            f"server CPU {self.cpu_ms_per_stroke:.1f} ms/stroke ({self.cpu_ms_per_result:.1f} ms/result, "
            f"load generator {self.client_cpu_ms_per_stroke:.1f}); RSS {self.rss_mb.get('start', 0):.0f} -> "
            f"{self.rss_mb.get('at_10pct', 0):.0f} (10 %) -> {self.rss_mb.get('at_50pct', 0):.0f} (50 %) -> "
            f"{self.rss_mb.get('end', 0):.0f} MiB (max {self.rss_mb.get('max', 0):.0f}); "
            f"load average {self.loadavg_start[0]:.2f} -> {self.loadavg_end[0]:.2f}"
        )
        if self.busy:
            sent = self.busy_response_ms
            line += (
                f"; busy notice median {busy['median']:.0f} / p90 {busy['p90']:.0f} / max {busy['max']:.0f} "
                f"ms (from sent: p90 {sent['p90']:.0f} / max {sent['max']:.0f})"
            )
        if self.verified or self.mismatched:
            line += f"; own drawing shown {self.verified}/{self.verified + self.mismatched}"
        return line


def _quantiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "median": round(statistics.median(values), 1),
        "p90": round(percentile(values, 0.9), 1),
        "max": round(max(values), 1),
    }


@dataclass
class _Tally:
    sent: int = 0
    results: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    busy_response: list[float] = field(default_factory=list)  # from the stroke sent, not due
    result_response: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    verified: int = 0
    mismatched: int = 0
    unverifiable: int = 0


class _Runner:
    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        self.host, self.port = loopback_address(config.url)
        self.path = urllib.parse.urlsplit(config.url).path
        self.bank = drawing_bank(max(config.users, 2) * 2, config.strokes_per_drawing, config.seed)
        self.tally = _Tally()
        self.samples: list[tuple[bytes, CanvasState, int, int]] = []

    def state_for(self, user: int, stroke: int) -> CanvasState:
        per = self.config.strokes_per_drawing
        drawings = len(self.bank)
        drawing = (2 * user + stroke // per) % drawings  # users draw different drawings at any moment
        return self.bank[drawing][stroke % per]

    async def connect(self, user: int, gate: asyncio.Semaphore) -> AppSession | None:
        async with gate:
            session = AppSession(self.host, self.port, self.path)
            try:
                await session.connect(self.config.timeout_s)
            except Exception as error:  # refused, timed out, no canvas: counted
                self.tally.errors[f"connect: {type(error).__name__}"] += 1
                await session.close()
                return None
            return session

    async def user(self, index: int, session: AppSession, start: float, stop: float) -> None:
        config, tally, loop = self.config, self.tally, asyncio.get_running_loop()
        due = start + config.interval_s * index / config.users  # users spread over the interval
        stroke = 0
        try:
            while due < stop and tally.sent < config.max_strokes:
                await asyncio.sleep(max(0.0, due - loop.time()))
                if tally.sent >= config.max_strokes:  # others sent the last ones while this user waited
                    break
                state = self.state_for(index, stroke)
                tally.sent += 1
                stroke += 1
                sent = loop.time()
                try:
                    answer = await asyncio.wait_for(session.rerun(state.value_json), config.timeout_s)
                    if answer.exceptions or answer.status == "error":
                        tally.errors["script error"] += 1
                    elif answer.busy:
                        tally.busy.append((loop.time() - due) * 1000)
                        tally.busy_response.append((loop.time() - sent) * 1000)
                    elif not answer.images:
                        tally.errors["no result image"] += 1
                    else:
                        picture = (
                            await self.fetch(session, answer.images[-1]) if config.fetch_images else None
                        )
                        tally.results.append((loop.time() - due) * 1000)
                        tally.result_response.append((loop.time() - sent) * 1000)
                        if picture is not None and self.sampled(stroke):  # checked after the run, untimed
                            self.samples.append((picture, state, index, stroke))
                except TimeoutError:
                    tally.errors["timeout"] += 1
                    await session.close()  # the user reloads the page
                    session = AppSession(self.host, self.port, self.path)
                    try:
                        await session.connect(config.timeout_s)
                    except Exception as error:
                        tally.errors[f"reconnect: {type(error).__name__}"] += 1
                        return
                except LoadTestError as error:
                    tally.errors[str(error).split(":")[0]] += 1
                except Exception as error:  # a closed socket, a broken answer: counted, the user stops
                    tally.errors[type(error).__name__] += 1
                    return
                due += config.interval_s
        finally:
            await session.close()

    def sampled(self, stroke: int) -> bool:
        every = self.config.verify_every
        return bool(every) and stroke % every == 0 and len(self.samples) < MAX_VERIFY_SAMPLES

    async def fetch(self, session: AppSession, url: str) -> bytes:
        return await session.fetch(url, self.config.timeout_s)

    def verify(self, picture: bytes, state: CanvasState, user: int, stroke: int) -> None:
        pixels = np.asarray(Image.open(io.BytesIO(picture)).convert("RGB"))
        others = [self.state_for(other, stroke - 1) for other in range(self.config.users) if other != user]
        others += [states[-1] for states in self.bank]
        verdict = matches_own_drawing(pixels, state, others)
        if verdict is None:
            self.tally.unverifiable += 1
        elif verdict:
            self.tally.verified += 1
        else:
            self.tally.mismatched += 1
            if self.config.mismatch_dir is not None:  # kept to look at
                self.config.mismatch_dir.mkdir(parents=True, exist_ok=True)
                name = f"user{user}-stroke{stroke}-drawing{state.drawing}-{state.strokes}.png"
                Image.fromarray(pixels).save(self.config.mismatch_dir / name)

    async def run(self) -> LoadResult:
        config, loop = self.config, asyncio.get_running_loop()
        pids = config.server_pids or tuple(pid for pid in [listening_pid(self.port)] if pid is not None)
        if not pids:
            raise LoadTestError(f"no process on this machine listens on port {self.port}")

        def cpu_s() -> float:
            return sum(process_cpu_s(pid) for pid in pids)

        def rss_mb() -> float:
            return sum(process_rss_mb(pid) for pid in pids)

        gate = asyncio.Semaphore(config.connect_concurrency)
        sessions = await asyncio.gather(*(self.connect(user, gate) for user in range(config.users)))
        live = [(i, s) for i, s in enumerate(sessions) if s is not None]
        if not live:
            raise LoadTestError(f"no user could load the page: {dict(self.tally.errors)}")
        rss: list[float] = [rss_mb()]
        result = LoadResult(
            config.users, config.interval_s, 0.0, server_pids=pids, loadavg_start=load_average()
        )
        cpu_start, client_start, start = cpu_s(), process_cpu_s(os.getpid()), loop.time() + 0.2
        stop = start + config.duration_s

        async def sample_rss() -> None:
            while True:
                await asyncio.sleep(0.5)
                with contextlib.suppress(OSError, LoadTestError):
                    rss.append(rss_mb())

        sampler = asyncio.create_task(sample_rss())
        try:
            await asyncio.gather(*(self.user(i, s, start, stop) for i, s in live))
        finally:
            sampler.cancel()
        result.server_cpu_s = round(cpu_s() - cpu_start, 3)
        client_cpu_s = process_cpu_s(os.getpid()) - client_start
        result.duration_s = round(loop.time() - start, 2)
        rss.append(rss_mb())
        tally = self.tally
        result.strokes_sent, result.results, result.busy = tally.sent, len(tally.results), len(tally.busy)
        result.errors = dict(tally.errors)
        result.latency_ms, result.busy_latency_ms = _quantiles(tally.results), _quantiles(tally.busy)
        result.response_ms = _quantiles(tally.result_response)
        result.busy_response_ms = _quantiles(tally.busy_response)
        if result.answered:
            result.cpu_ms_per_stroke = round(result.server_cpu_s * 1000 / result.answered, 1)
            result.client_cpu_ms_per_stroke = round(client_cpu_s * 1000 / result.answered, 1)
        if result.results:
            result.cpu_ms_per_result = round(result.server_cpu_s * 1000 / result.results, 1)
        result.rss_mb = {
            "start": round(rss[0], 1),
            "at_10pct": round(rss[len(rss) // 10], 1),  # the sessions' own memory is in by then
            "at_50pct": round(rss[len(rss) // 2], 1),
            "end": round(rss[-1], 1),
            "max": round(max(rss), 1),
        }
        result.loadavg_end = load_average()
        for picture, state, user, stroke in self.samples:
            self.verify(picture, state, user, stroke)
        result.verified, result.mismatched, result.unverifiable = (
            tally.verified,
            tally.mismatched,
            tally.unverifiable,
        )
        return result


def run_load(config: LoadConfig) -> LoadResult:
    """Run ``config``'s simulated users against the app and measure its server (see the module doc).

    The users run on an event loop of their own: in a thread of their own when the caller's thread
    already runs one (Playwright's sync API, a notebook), where ``asyncio.run`` would refuse.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_Runner(config).run())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _Runner(config).run()).result()


def wait_until_idle(
    pids: Sequence[int], seconds: float = 1.0, threshold: float = 0.05, timeout_s: float = 30.0
) -> None:
    """Wait until processes ``pids`` used under ``threshold`` of a core over ``seconds`` (a run is done)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = sum(process_cpu_s(pid) for pid in pids)
        time.sleep(seconds)
        if sum(process_cpu_s(pid) for pid in pids) - before < threshold * seconds:
            return
