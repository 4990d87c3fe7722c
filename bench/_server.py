"""Helpers for benchmarks that drive a real gunicorn on loopback against PostgreSQL: the
server, its database, and the load generators (wrk, or a Python client) with their report."""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench_env(database: str = "fmugw_bench", **extra: str) -> dict[str, str]:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fmugateway")
    url = base.rsplit("/", 1)[0] + f"/{database}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SETTINGS_MODULE", "fmugateway.settings"),
        "DEBUG": "true",
        "DATABASE_URL": url,
        "VAR_DIR": str(Path(os.environ.get("BENCH_VAR_DIR", "/tmp/fmugw-bench"))),
        "LOG_LEVEL": "warning",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    env.update(extra)
    return env


def ensure_database(env: dict[str, str]) -> None:
    import psycopg

    url = env["DATABASE_URL"]
    admin_url, name = url.rsplit("/", 1)
    with psycopg.connect(admin_url + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(
        {
            k: v
            for k, v in env.items()
            if k not in os.environ
            or k
            in {
                "DJANGO_SETTINGS_MODULE",
                "DEBUG",
                "DATABASE_URL",
                "VAR_DIR",
                "LOG_LEVEL",
                "ALLOWED_HOSTS",
            }
        }
    )
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(
        self,
        env: dict[str, str],
        workers: int = 1,
        port: int | None = None,
        *,
        threads: int = 1,
        app: str = "fmugateway.wsgi:application",
        ready_path: str = "/api/v1/",
    ):
        self.port = port or free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                app,
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--timeout",
                "300",
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.base}{ready_path}", timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text(encoding="utf-8").split()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def proc_status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


# --- load generation: wrk when installed, else a Python client; both report the same numbers ----

CONCURRENCY = 16

_WRK_SCRIPT = """
local requests = {%(requests)s}
local n = #requests
math.randomseed(%(seed)d)
wrk.headers["Content-Type"] = "application/json"
request = function()
  local r = requests[math.random(n)]
  return wrk.format(r[1], r[2], nil, r[3])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, " ..
    "\\"non2xx\\": %%d, \\"socket_errors\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""

# (method, path, body or None): what one request of a benchmark sends.
Request = tuple[str, str, bytes | None]


def pick_client(choice: str) -> str:
    """``auto``: wrk when it is installed, else the Python client."""
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    return choice


def _lua_body(body: bytes | None) -> str:
    return json.dumps(body.decode()) if body else "nil"


def write_wrk_script(path: Path, requests: Sequence[Request], seed: int = 7) -> Path:
    """A wrk Lua script sending the requests in random order (seeded)."""
    rows = ",\n".join(
        "{" + ", ".join([json.dumps(method), json.dumps(target), _lua_body(body)]) + "}"
        for method, target, body in requests
    )
    path.write_text(_WRK_SCRIPT % {"requests": rows, "seed": seed})
    return path


def run_wrk(port: int, script: Path, seconds: int, concurrency: int = CONCURRENCY) -> dict:
    command = ["wrk", "-t2", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "5s"]
    command += ["-s", str(script), f"http://127.0.0.1:{port}/"]
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    return {
        "rps": result["requests"] / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "requests": result["requests"],
        "bad": result["non2xx"] + result["socket_errors"],
    }


def summarize(latencies: list[float], elapsed: float, bad: int) -> dict:
    """Requests/s, p50 and p99 (ms) of one round's latencies (seconds)."""
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "requests": len(latencies),
        "bad": bad,
    }


def run_threads(
    work,
    seconds: float,
    *,
    limit: int | None = None,
    concurrency: int = CONCURRENCY,
    connect=None,
) -> dict:
    """``concurrency`` threads calling ``work(state, rng)`` (True when the answer was right) until
    ``seconds`` pass or ``limit`` calls were made; ``connect()`` makes each thread's state (its
    connection), opened before the clock starts."""
    lock = threading.Lock()
    left = [limit if limit is not None else -1]
    latencies: list[float] = []
    bad = [0]
    barrier = threading.Barrier(concurrency + 1)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        state = connect() if connect else None
        mine: list[float] = []
        failed = 0
        barrier.wait()
        while time.monotonic() < deadline:
            if limit is not None:
                with lock:
                    if left[0] <= 0:
                        break
                    left[0] -= 1
            started = time.perf_counter()
            ok = work(state, rng)
            mine.append(time.perf_counter() - started)
            failed += not ok
        close = getattr(state, "close", None)
        if close is not None:
            close()
        with lock:
            latencies.extend(mine)
            bad[0] += failed

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds  # read by the workers once the barrier opens
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return summarize(latencies, time.perf_counter() - started, bad[0])


def run_http(
    port: int, requests: Sequence[Request], seconds: float, *, limit: int | None = None
) -> dict:
    """The Python client: keep-alive connections, requests picked at random; non-200 is bad."""

    def connect():
        return http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def work(conn: http.client.HTTPConnection, rng: random.Random) -> bool:
        method, target, body = requests[rng.randrange(len(requests))]
        headers = {"Content-Type": "application/json"} if body else {}
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        except OSError:
            conn.close()  # reconnects on the next request
            return False
        return response.status == 200

    return run_threads(work, seconds, limit=limit, connect=connect)
