"""deploy/nginx.conf: several app replicas behind nginx, each session pinned to one.

Always: the file is parsed here (a small nginx tokenizer) for the upstream of replicas, the session-sticky
hash on the proxy's own cookie and the websocket upgrade headers. Where nginx is installed: ``nginx -t``
accepts it, and (integration) two replicas served behind it answer every simulated user with their own
drawing -- the websocket, the script runs and the result images of a session all reach one replica.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from digit_detector import loadgen

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "nginx.conf"

Block = dict[str, list[object]]  # directive name -> [arguments list, or a nested Block for a block]


def parse_nginx(text: str) -> Block:
    """nginx's configuration syntax: ``name args;`` directives and ``name args { ... }`` blocks, ``#``
    comments, quoted strings. Returns {name: [args or (args, block), ...]} per level."""
    tokens = re.findall(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};]+', re.sub(r"#[^\n]*", "", text))

    def block(position: int) -> tuple[Block, int]:
        directives: Block = {}
        words: list[str] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == ";":
                directives.setdefault(words[0], []).append(words[1:])
                words = []
            elif token == "{":
                inner, position = block(position)
                directives.setdefault(words[0], []).append((words[1:], inner))
                words = []
            elif token == "}":
                assert not words, f"unterminated directive {words}"
                return directives, position
            else:
                words.append(token.strip("\"'"))
        assert not words, f"unterminated directive {words}"
        return directives, position

    parsed, end = block(0)
    assert end == len(tokens)
    return parsed


def child(block: Block, name: str, *args: str) -> Block:
    """The nested block ``name args { ... }`` (exactly one)."""
    found = [inner for entry in block.get(name, []) if isinstance(entry, tuple) for inner in [entry[1]]
             if list(entry[0]) == list(args)]  # fmt: skip
    assert len(found) == 1, f"{name} {args}: {len(found)} blocks"
    return found[0]


def values(block: Block, name: str) -> list[list[str]]:
    return [list(entry) for entry in block.get(name, []) if isinstance(entry, list)]


def test_the_proxy_config_pins_sessions_and_passes_websockets() -> None:
    http = child(parse_nginx(CONFIG.read_text()), "http")
    upstream = child(http, "upstream", "digit_detector")
    servers = values(upstream, "server")
    assert len(servers) >= 2 and all(s[0].startswith("127.0.0.1:") for s in servers)
    assert values(upstream, "hash") == [["$dd_route", "consistent"]]  # sticky: one session, one replica
    route = child(http, "map", "$cookie_dd_route", "$dd_route")
    assert values(route, "") == [["$request_id"]]  # no cookie yet: a new random key
    assert values(route, "default") == [["$cookie_dd_route"]]  # else the cookie's
    upgrade = child(http, "map", "$http_upgrade", "$connection_upgrade")
    assert values(upgrade, "default") == [["upgrade"]]

    location = child(child(http, "server"), "location", "/")
    assert values(location, "proxy_pass") == [["http://digit_detector"]]
    assert values(location, "proxy_http_version") == [["1.1"]]
    headers = {args[0]: args[1] for args in values(location, "proxy_set_header")}
    assert headers["Upgrade"] == "$http_upgrade" and headers["Connection"] == "$connection_upgrade"
    timeout = values(location, "proxy_read_timeout")[0][0]
    assert timeout.endswith("h") or int(timeout.rstrip("s")) >= 300  # websockets stay open
    (cookie,) = (args for args in values(location, "add_header") if args[0] == "Set-Cookie")
    assert cookie[1].startswith("dd_route=$dd_route;") and "HttpOnly" in cookie[1]


def test_the_parser_reads_nested_blocks() -> None:
    parsed = parse_nginx('a 1; b x { c "y z"; d { e; } } # f;\n')
    assert values(parsed, "a") == [["1"]]
    inner = child(parsed, "b", "x")
    assert values(inner, "c") == [["y z"]] and values(child(inner, "d"), "e") == [[]]


def test_a_run_config_moves_ports_and_paths(tmp_path: Path) -> None:
    text = loadgen.nginx_config(CONFIG.read_text(), [9001, 9002, 9003], 9100, tmp_path)
    upstream = child(child(parse_nginx(text), "http"), "upstream", "digit_detector")
    assert [s[0] for s in values(upstream, "server")] == [f"127.0.0.1:{p}" for p in (9001, 9002, 9003)]
    assert values(child(child(parse_nginx(text), "http"), "server"), "listen") == [["127.0.0.1:9100"]]
    assert "/tmp/digit-detector-nginx" not in text and str(tmp_path / "nginx") in text


@pytest.mark.skipif(
    shutil.which("nginx") is None, reason="nginx is not installed (apt-get install nginx-light)"
)
def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    run_config = tmp_path / "nginx.conf"
    run_config.write_text(loadgen.nginx_config(CONFIG.read_text(), [9001, 9002], 9100, tmp_path))
    for config in (CONFIG, run_config):
        check = subprocess.run(["nginx", "-t", "-c", str(config)], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        assert "syntax is ok" in check.stderr


@pytest.mark.integration  # two app servers and nginx in subprocesses
@pytest.mark.skipif(
    shutil.which("nginx") is None, reason="nginx is not installed (apt-get install nginx-light)"
)
def test_two_replicas_behind_nginx_serve_each_session_from_one(
    random_tiny_weights: Path, tmp_path: Path
) -> None:
    from digit_detector.browser import free_port, serve_app

    with (
        serve_app(random_tiny_weights, tmp_path / "replica-1.log") as first,
        serve_app(random_tiny_weights, tmp_path / "replica-2.log") as second,
    ):
        pids = [loadgen.listening_pid(loadgen.loopback_address(url)[1]) for url in (first, second)]
        assert None not in pids
        replicas = tuple(pid for pid in pids if pid is not None)
        before = [loadgen.process_cpu_s(pid) for pid in replicas]
        with loadgen.serve_proxy([first, second], tmp_path, free_port()) as url:
            config = loadgen.LoadConfig(
                url=url, users=12, duration_s=4.0, interval_s=0.5, server_pids=replicas
            )
            result = loadgen.run_load(config)
        used = [loadgen.process_cpu_s(pid) - start for pid, start in zip(replicas, before, strict=True)]
    assert result.errors == {}, result.errors  # a result image asked of the wrong replica would be a 404
    assert result.results >= 24 and result.mismatched == 0 and result.verified > 0
    assert all(seconds > 0.2 for seconds in used), used  # the sessions were spread over both replicas
