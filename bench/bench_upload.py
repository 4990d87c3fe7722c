"""Upload a ~200 MB FMU through the API of a real gunicorn and report:

- peak RSS growth of the web worker during the upload (target < 64 MB);
- upload throughput as a ratio to plain ``hashlib.sha256`` over the same file in the same run
  (target >= 0.7), for the multipart upload a browser uses and the raw-body upload the SDK uses.

Usage: .venv/bin/python bench/bench_upload.py [--size-mb 200] [--rounds 3]
Needs PostgreSQL (DATABASE_URL's server; a database ``fmugw_bench`` is created) and gcc.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import Gunicorn, bench_env, ensure_database, proc_status_kb, setup_django

BOUNDARY = "----fmugwbenchboundary"


def make_big_fmu(sample: Path, out: Path, size_mb: int) -> Path:
    with zipfile.ZipFile(sample) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        with target.open(zipfile.ZipInfo("resources/data.bin"), "w", force_zip64=True) as blob:
            chunk = os.urandom(1024 * 1024)
            for index in range(size_mb):
                blob.write(chunk[index % 7 :] + chunk[: index % 7])
    return out


def multipart_upload(
    base_port: int, path: Path, cookie: str, csrf: str, slug: str, version: str
) -> float:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="version"\r\n\r\n{version}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.fmu"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    size = len(head) + path.stat().st_size + len(tail)

    def body():
        yield head
        with open(path, "rb") as handle:
            while chunk := handle.read(1024 * 1024):
                yield chunk
        yield tail

    return _send(
        base_port,
        f"/api/v1/packages/{slug}/versions",
        body(),
        size,
        cookie,
        csrf,
        f"multipart/form-data; boundary={BOUNDARY}",
    )


def raw_upload(
    base_port: int, path: Path, cookie: str, csrf: str, slug: str, version: str
) -> float:
    def body():
        with open(path, "rb") as handle:
            while chunk := handle.read(1024 * 1024):
                yield chunk

    return _send(
        base_port,
        f"/api/v1/packages/{slug}/versions?version={version}",
        body(),
        path.stat().st_size,
        cookie,
        csrf,
        "application/octet-stream",
        extra={"Content-Disposition": 'attachment; filename="big.fmu"'},
    )


def _send(port, url, body, size, cookie, csrf, content_type, extra=None) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(size),
        "Cookie": cookie,
        "X-CSRFToken": csrf,
        "Referer": f"http://127.0.0.1:{port}/",
        **(extra or {}),
    }
    started = time.perf_counter()
    conn.request("POST", url, body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 201:
        raise RuntimeError(f"upload failed: {response.status} {payload[:300]!r}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = bench_env()
    ensure_database(env)
    setup_django(env)

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.middleware.csrf import (  # type: ignore[attr-defined]  # private: not in the stubs
        _get_new_csrf_string,
        _mask_cipher_secret,
    )

    from registry.models import Package
    from registry.samples import build_sample_fmus
    from registry.services import create_package

    work = Path(tempfile.mkdtemp(prefix="fmugw-bench-"))
    sample = next(
        s
        for s in build_sample_fmus(work / "samples", fmi_versions=("2.0",))
        if s.slug == "bouncing_ball"
    )
    big = make_big_fmu(sample.fmu_path, work / "big.fmu", args.size_mb)
    size = big.stat().st_size

    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(email="bench@fmugateway.local")
    slug = f"bench-upload-{int(time.time())}"
    create_package(user, name=slug, slug=slug)
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    secret = _get_new_csrf_string()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}; csrftoken={secret}"
    csrf = _mask_cipher_secret(secret)

    hash_times = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        with open(big, "rb") as handle:
            hashlib.file_digest(handle, "sha256")
        hash_times.append(time.perf_counter() - started)
    hash_rate = size / statistics.median(hash_times)

    server = Gunicorn(env, workers=1)
    try:
        (pid,) = server.worker_pids()
        results = {}
        counter = 0
        for name, upload in (("multipart", multipart_upload), ("raw body", raw_upload)):
            times, growth = [], []
            for _ in range(args.rounds):
                counter += 1
                before = proc_status_kb(pid, "VmRSS")
                times.append(upload(server.port, big, cookie, csrf, slug, f"1.0.{counter}"))
                growth.append((proc_status_kb(pid, "VmHWM") - before) / 1024)
                # each version must be a distinct file: change one byte of the blob
                with open(big, "r+b") as handle:
                    handle.seek(-1000, os.SEEK_END)
                    handle.write(os.urandom(8))
            results[name] = (statistics.median(times), max(growth))
    finally:
        server.stop()
        Package.objects.filter(slug=slug).update(status="draft")

    print(
        f"file: {size / 1e6:.1f} MB; plain sha256: {hash_rate / 1e6:.0f} MB/s "
        f"(median of {args.rounds})"
    )
    print(f"{'upload':<10} {'time s':>8} {'MB/s':>8} {'ratio':>7} {'peak RSS growth MB':>20}")
    ok = True
    for name, (seconds, growth_mb) in results.items():
        rate = size / seconds
        ratio = rate / hash_rate
        print(f"{name:<10} {seconds:>8.3f} {rate / 1e6:>8.0f} {ratio:>7.2f} {growth_mb:>20.1f}")
        ok &= growth_mb < 64
    print("targets: ratio >= 0.7, peak RSS growth < 64 MB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
