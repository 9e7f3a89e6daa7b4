"""The load generator the HTTP benchmarks share (bench.portal, bench.customer_api, ...).

- ``Server``: the app under test served by gunicorn on 127.0.0.1 (a free port), stopped by
  its own pid;
- ``run_wrk``: one wrk run (Debian: ``apt-get install -y wrk``) against a list of
  (path, credential) items taken in turn, the credential sent in one header (a session
  cookie, a bearer key); latencies and requests counted by wrk itself;
- ``run_threads``: the same closed loop in Python threads (http.client, one keep-alive
  connection per client) when wrk is missing;
- ``PageFigures`` (p50/p95/p99, count, requests per second, errors) and ``percentile``.

Load goes to 127.0.0.1 only; every loop is bounded in time. The generator runs on the same
machine as the server and takes some of its CPU: figures are an upper bound of what the
server alone would show, and each benchmark prints a baseline measured the same way.
"""
from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent

# How a credential travels: header name and what goes before the item's value.
COOKIE = ("Cookie", "session=")
BEARER = ("Authorization", "Bearer ")


@dataclass
class PageFigures:
    p50: float
    p95: float
    p99: float
    count: int
    per_second: float
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # ms, when the generator keeps them


def combined(runs: list[PageFigures]) -> PageFigures:
    """Several runs of one page as one: requests per second over the runs' whole time;
    percentiles from every latency when kept (Python threads), else count-weighted."""
    count = sum(r.count for r in runs)
    seconds = sum(r.count / r.per_second for r in runs if r.per_second)
    latencies = [v for r in runs for v in r.latencies]
    if latencies:
        p50, p95, p99 = (percentile(latencies, q) for q in (.5, .95, .99))
    else:
        def weighted(name: str) -> float:
            return sum(getattr(r, name) * r.count for r in runs) / count if count else 0.0
        p50, p95, p99 = weighted("p50"), weighted("p95"), weighted("p99")
    return PageFigures(p50, p95, p99, count, count / seconds if seconds else 0.0,
                       [e for r in runs for e in r.errors], latencies)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


# --- gunicorn ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One gunicorn serving ``target`` on 127.0.0.1, stopped (by its own pid) on exit."""

    def __init__(self, target: str, env: dict[str, str], workers: int, threads: int):
        self.port = free_port()
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
                   "--workers", str(workers), "--threads", str(threads),
                   "--worker-class", "gthread" if threads > 1 else "sync",
                   "--log-level", "warning", "--timeout", "60", target]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env)

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise click.ClickException("gunicorn exited; see its output above")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", path)
                connection.getresponse().read()
                return
            except OSError:
                time.sleep(0.3)
        raise click.ClickException("gunicorn did not answer in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


# --- wrk ---------------------------------------------------------------------------------------

WRK_SCRIPT = """
local items = {%(items)s}
local counter = 0
local threads = {}
not_ok = 0  -- per wrk thread: responses other than 200 (a lost session, a refused key)
setup = function(thread) table.insert(threads, thread) end
response = function(status, headers, body)
  if status ~= 200 then not_ok = not_ok + 1 end
end
request = function()
  counter = counter + 1
  local item = items[(counter %% #items) + 1]
  local headers = {}
  if item[2] ~= "" then headers[ [[%(header)s]] ] = [[%(prefix)s]] .. item[2] end
  return wrk.format("GET", item[1], headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("not_ok") end
  io.write(string.format("RESULT %%d %%d %%.3f %%.3f %%.3f %%d %%d\\n", summary.requests,
    summary.duration, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout, bad))
end
"""


def run_wrk(port: int, items: list[tuple[str, str]], clients: int, seconds: float, *,
            credential: tuple[str, str] = COOKIE, wrk_threads: int = 1) -> PageFigures:
    """One wrk run: ``items`` are (path, credential value or "") taken in turn."""
    lua_items = ", ".join(f"{{[[{path}]], [[{value}]]}}" for path, value in items)
    header, prefix = credential
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"items": lua_items, "header": header, "prefix": prefix})
    try:
        completed = subprocess.run(
            ["wrk", f"-t{wrk_threads}", f"-c{clients}", f"-d{max(int(seconds), 1)}s",
             "--timeout", "30s", "-s", script.name, f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, check=False)
    finally:
        os.unlink(script.name)
    found = re.search(r"^RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+) (\d+)$",
                      completed.stdout, re.MULTILINE)
    if found is None:
        raise click.ClickException(f"wrk gave no result: {completed.stdout} {completed.stderr}")
    count, micros = int(found.group(1)), int(found.group(2))
    socket_errors, status_errors = int(found.group(6)), int(found.group(7))
    errors = ([f"{socket_errors} socket errors"] if socket_errors else []) + \
        ([f"{status_errors} responses other than 200"] if status_errors else [])
    return PageFigures(float(found.group(3)), float(found.group(4)), float(found.group(5)),
                       count, count / (micros / 1e6) if micros else 0.0, errors)


# --- Python threads ---------------------------------------------------------------------------

def run_threads(port: int, items: list[tuple[str, str]], clients: int, seconds: float, *,
                credential: tuple[str, str] = COOKIE) -> PageFigures:
    """``clients`` closed-loop clients for ``seconds``, taking ``items`` in turn (the same
    contract as run_wrk, for machines without wrk)."""
    header, prefix = credential
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(offset: int) -> None:
        connection = None
        i = offset
        while time.monotonic() < stop:
            path, value = items[i % len(items)]
            i += clients
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers={header: prefix + value} if value
                                   else {})
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                connection = None
                with lock:
                    errors.append(repr(exc))
                continue
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status != 200:
                    errors.append(f"HTTP {response.status}")

    started = time.perf_counter()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    summary = ([f"{len(errors)} errors, e.g. {errors[:3]}"] if errors else [])
    return PageFigures(percentile(latencies, .5), percentile(latencies, .95),
                       percentile(latencies, .99), len(latencies),
                       len(latencies) / elapsed if elapsed else 0.0, summary, latencies)


def run(port: int, items: list[tuple[str, str]], clients: int, seconds: float, *,
        credential: tuple[str, str] = COOKIE, wrk_threads: int = 1) -> PageFigures:
    """wrk when installed, else the Python threads."""
    if have_wrk():
        return run_wrk(port, items, clients, seconds, credential=credential,
                       wrk_threads=wrk_threads)
    return run_threads(port, items, clients, seconds, credential=credential)


def alternate(servers: dict[str, Server], items_for, keys, clients: int, seconds: float, *,
              rounds: int = 3, warmup: float = 1, **options) -> dict[str, dict[str, PageFigures]]:
    """Each key (a page, an endpoint) loaded on every server in turn, ``rounds`` times after a
    warm-up, ``seconds`` per key and server in all: on a shared machine the load drifts from
    minute to minute, and a share of a baseline only means something when both were measured
    under the same load. ``items_for(server name, key)``: the items to take in turn; ``options``
    go to ``run``. Returns {server name: {key: the rounds combined}}."""
    runs: dict[str, dict[str, list[PageFigures]]] = {name: {key: [] for key in keys}
                                                     for name in servers}
    for key in keys:
        for name, server in servers.items():  # every worker serves the key once first
            run(server.port, items_for(name, key), clients, warmup, **options)
        for _round in range(rounds):
            for name, server in servers.items():
                runs[name][key].append(run(server.port, items_for(name, key), clients,
                                           max(seconds / rounds, 1), **options))
    return {name: {key: combined(found) for key, found in by_key.items()}
            for name, by_key in runs.items()}
