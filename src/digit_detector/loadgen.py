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
import base64
import concurrent.futures
import contextlib
import io
import ipaddress
import json
import os
import random
import re
import statistics
import time
import urllib.parse
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

CANVAS_COMPONENT = "streamlit-drawable-canvas.streamlit_drawable_canvas"
CANVAS_SIZE = 400
PEN_WIDTH = 12
BUSY_MARKER = "busy"  # the app's "busy, try again in a moment" warning contains this (case-insensitive)
MAX_USERS = 512
MAX_DURATION_S = 3600.0
MAX_STROKES = 200_000
MAX_VERIFY_SAMPLES = 5_000  # result images kept per run to check after it (about 40 KB each)
VERIFY_GRID = 100  # ink masks are compared at 100x100 (4x4-pixel cells of the 400x400 canvas)
FABRIC_VERSION = "6.7.1"
_MESSAGE_CACHE_SIZE = 256  # ForwardMsgs kept by hash, as the browser's message cache keeps them
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


# ---------------------------------------------------------------------------------------------------------
# What: drawings as the canvas sends them
# ---------------------------------------------------------------------------------------------------------

Point = tuple[float, float]


def random_stroke(rng: random.Random, centre: Point, size: float = 60.0, points: int = 24) -> list[Point]:
    """A digit-like pen stroke: a wobbly arc of an ellipse (a loop, a hook or a bar) around ``centre``."""
    start = rng.uniform(0, 2 * np.pi)
    span = rng.uniform(0.5, 1.8) * np.pi
    rx, ry = rng.uniform(0.3, 1.0) * size, rng.uniform(0.6, 1.2) * size
    cx, cy = centre
    stroke = []
    for t in np.linspace(0.0, 1.0, points):
        angle = start + span * t
        x = cx + rx * np.cos(angle) + rng.gauss(0, 1.0)
        y = cy + ry * np.sin(angle) + rng.gauss(0, 1.0)
        stroke.append((min(max(x, 4.0), CANVAS_SIZE - 4.0), min(max(y, 4.0), CANVAS_SIZE - 4.0)))
    return stroke


def fabric_path(stroke: Sequence[Point], width: int = PEN_WIDTH) -> dict[str, Any]:
    """The fabric.js ``Path`` object the canvas's free-drawing brush makes of ``stroke``."""
    xs, ys = [p[0] for p in stroke], [p[1] for p in stroke]
    left, top = min(xs) - width / 2, min(ys) - width / 2
    commands: list[list[Any]] = [["M", round(xs[0], 3), round(ys[0], 3)]]
    commands += [["L", round(x, 3), round(y, 3)] for x, y in stroke[1:]]
    return {
        "type": "Path",
        "version": FABRIC_VERSION,
        "originX": "left",
        "originY": "top",
        "left": round(left, 3),
        "top": round(top, 3),
        "width": round(max(xs) - min(xs), 3),
        "height": round(max(ys) - min(ys), 3),
        "fill": None,
        "stroke": "#000000",
        "strokeWidth": width,
        "strokeLineCap": "round",
        "strokeLineJoin": "round",
        "strokeMiterLimit": 10,
        "scaleX": 1,
        "scaleY": 1,
        "angle": 0,
        "opacity": 1,
        "visible": True,
        "path": commands,
    }


def render_strokes(strokes: Sequence[Sequence[Point]], width: int = PEN_WIDTH) -> NDArray[np.uint8]:
    """The canvas's pixels (RGBA, white paper, black round pen) with ``strokes`` drawn."""
    picture = Image.new("RGBA", (CANVAS_SIZE, CANVAS_SIZE), (255, 255, 255, 255))
    pen = ImageDraw.Draw(picture)
    radius = width / 2
    for stroke in strokes:
        pen.line(list(stroke), fill=(0, 0, 0, 255), width=width, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(0, 0, 0, 255))
    return np.asarray(picture)


def ink_grid(pixels: NDArray[np.uint8], grid: int = VERIFY_GRID) -> NDArray[np.bool_]:
    """Where the picture has black ink (all channels < 60), on a ``grid`` x ``grid`` mask (a cell is ink
    when any of its pixels is)."""
    rgb = pixels[:, :, :3] if pixels.ndim == 3 else pixels[:, :, None]
    ink = rgb.max(axis=2) < 60
    height, width = ink.shape
    cell_h, cell_w = height // grid, width // grid
    cropped = ink[: cell_h * grid, : cell_w * grid]
    return np.asarray(cropped.reshape(grid, cell_h, grid, cell_w).any(axis=(1, 3)))


@dataclass(frozen=True)
class CanvasState:
    """One value of the canvas (after ``strokes`` strokes of drawing ``drawing``), ready to send."""

    drawing: int
    strokes: int
    value_json: str  # the component's widget state, as the browser sends it
    ink: NDArray[np.bool_]  # the ink on the :data:`VERIFY_GRID` grid, to recognise the result image
    lines: tuple[tuple[Point, ...], ...] = ()  # the strokes' points

    def pixels(self) -> NDArray[np.uint8]:
        """The canvas's pixels (RGBA) in this state."""
        return render_strokes(self.lines)


def canvas_state(drawing: int, strokes: Sequence[Sequence[Point]]) -> CanvasState:
    """The canvas's value after ``strokes``: the PNG the browser's ``canvas.toDataURL("png")`` makes (RGBA,
    opaque white paper) and the fabric.js JSON, one ``Path`` per stroke."""
    pixels = render_strokes(strokes)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    data_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    raw = {"version": FABRIC_VERSION, "objects": [fabric_path(s) for s in strokes], "background": "#FFFFFF"}
    value = json.dumps({"drawing": {"raw": raw, "data": data_url}}, separators=(",", ":"))
    lines = tuple(tuple(stroke) for stroke in strokes)
    return CanvasState(drawing, len(strokes), value, ink_grid(pixels), lines)


def drawing_bank(drawings: int, strokes_per_drawing: int, seed: int = 0) -> list[list[CanvasState]]:
    """``drawings`` different drawings of ``strokes_per_drawing`` strokes each (two or three digit-like
    shapes side by side), every drawing as its successive canvas values (1, 2, ... strokes)."""
    rng = random.Random(seed)
    bank = []
    for drawing in range(drawings):
        digits = rng.randint(2, 3)
        centres = [
            (CANVAS_SIZE * (i + 0.5) / digits + rng.uniform(-15, 15), rng.uniform(130, 270))
            for i in range(digits)
        ]
        strokes = [random_stroke(rng, centres[i % digits]) for i in range(strokes_per_drawing)]
        bank.append([canvas_state(drawing, strokes[: n + 1]) for n in range(strokes_per_drawing)])
    return bank


def _near(ink: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``ink`` grown by one cell: the result is enlarged and framed, its lines shift by a pixel or two."""
    padded = np.pad(ink, 1)
    near = np.zeros_like(ink)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            near |= padded[dy : dy + ink.shape[0], dx : dx + ink.shape[1]]
    return near


def ink_agreement(shown: NDArray[np.bool_], drawn: NDArray[np.bool_]) -> float:
    """How well two ink grids agree, 0-1: the harmonic mean of the share of ``shown`` near ``drawn`` and
    the share of ``drawn`` near ``shown`` (a larger drawing that merely contains ``shown`` scores low)."""
    if not shown.any() or not drawn.any():
        return 0.0
    precision = (shown & _near(drawn)).sum() / shown.sum()
    recall = (drawn & _near(shown)).sum() / drawn.sum()
    return float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0


def matches_own_drawing(
    result: NDArray[np.uint8], own: CanvasState, others: Sequence[CanvasState]
) -> bool | None:
    """Whether the result image (the drawing as the app shows it, boxed, at any integer scale) shows ``own``
    rather than any of ``others`` (other drawings; states of ``own``'s drawing are left out): its black ink
    must agree with ``own``'s (:func:`ink_agreement` over 0.8) better than with any other's. None when it
    has little black ink to judge by (e.g. objects pixelated as "censored")."""
    shown = ink_grid(result)
    if shown.sum() < 5:
        return None
    mine = ink_agreement(shown, own.ink)
    if mine < 0.8 and shown.sum() < 0.5 * own.ink.sum():  # mostly pixelated away: nothing to judge by
        return None
    rivals = (ink_agreement(shown, other.ink) for other in others if other.drawing != own.drawing)
    return mine >= 0.8 and all(mine > rival for rival in rivals)


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
    import subprocess
    import urllib.request

    binary = shutil.which("nginx")
    if binary is None:
        raise LoadTestError("no nginx on this machine: apt-get install nginx-light")
    ports = [loopback_address(url)[1] for url in replica_urls]
    config = folder / "nginx.conf"
    config.write_text(nginx_config(NGINX_CONFIG.read_text(), ports, port, folder))
    log = (folder / "nginx.log").open("w")
    process = subprocess.Popen([binary, "-c", str(config), "-g", "daemon off;"], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise LoadTestError(
                    f"nginx exited with {process.returncode}: {(folder / 'nginx.log').read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise LoadTestError("nginx did not answer in 20 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
