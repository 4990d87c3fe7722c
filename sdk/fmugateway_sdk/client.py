"""A small, dependency-free client for the FMU Gateway REST API.

    from fmugateway_sdk import FMUGatewayClient

    gw = FMUGatewayClient("https://fmu.example.com", api_key="fmugw_live_...")
    job = gw.run("bouncing-ball", "1.0.0", stop_time=3, start_values={"e": 0.8})
    columns = job.wait().results()          # {"time": [...], "h": [...], ...}

An API key is exchanged for a short-lived token (``/api/v1/auth/token``) on first use and again
shortly before the token expires (the key → token → calls flow); every error answer raises
``ApiError`` carrying the API's stable ``code``.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fmugateway_sdk.errors import ApiError, JobFailed

FINISHED = {"succeeded", "failed", "timed_out", "cancelled"}
USER_AGENT = "fmugateway-sdk/0.1"
#: Longest single long-poll; the server may cap it lower (``JOB_WAIT_MAX_SECONDS``).
LONG_POLL_SECONDS = 30.0


class FMUGatewayClient:
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        use_tokens: bool = True,
    ) -> None:
        self.base_url = base_url or os.environ.get("FMUGW_URL") or "http://127.0.0.1:8000"
        self.base_url = self.base_url.rstrip("/")
        self.api_key = api_key or os.environ.get("FMUGW_API_KEY")
        self.timeout = timeout
        self.use_tokens = use_tokens
        self._token: str | None = None
        self._token_expires_at = 0.0

    # --- transport ---------------------------------------------------------------------------

    def _auth_header(self) -> dict[str, str]:
        if not self.api_key:
            return {}
        if not self.use_tokens:
            return {"X-API-Key": self.api_key}
        if self._token is None or time.time() > self._token_expires_at - 30:
            answer = self._send(
                "POST",
                "/api/v1/auth/token",
                body=b"{}",
                headers={"X-API-Key": self.api_key, "Content-Type": "application/json"},
            )
            self._token = answer["access_token"]
            self._token_expires_at = float(answer["expires_at"])
        return {"Authorization": f"Bearer {self._token}"}

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict | None = None,
        body: bytes | Iterator[bytes] | None = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        """Call the API; returns parsed JSON (or bytes with ``raw``); raises ``ApiError``."""
        headers = {**(headers or {}), **self._auth_header()}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if params:
            path = f"{path}?{urllib.parse.urlencode(params, doseq=True)}"
        return self._send(method, path, body=body, headers=headers, raw=raw)

    def _send(self, method: str, path: str, *, body=None, headers=None, raw=False) -> Any:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
            raise ValueError(f"only http(s) URLs are supported, not {url!r}")
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url, data=body, method=method, headers={"User-Agent": USER_AGENT, **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                payload = response.read()
                content_type = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raise _api_error(exc) from None
        if raw:
            return payload
        if "json" in content_type and payload:
            return json.loads(payload)
        return payload

    def _pages(self, path: str, params: dict | None = None) -> Iterator[dict]:
        answer = self.request("GET", path, params=params)
        while True:
            yield from answer.get("results", [])
            if not answer.get("next"):
                return
            answer = self.request("GET", answer["next"])

    # --- catalog and publishing --------------------------------------------------------------

    def packages(self, **filters: Any) -> list[dict]:
        return list(self._pages("/api/v1/packages", filters or None))

    def package(self, slug: str) -> dict:
        return self.request("GET", f"/api/v1/packages/{slug}")

    def create_package(self, name: str, **fields: Any) -> dict:
        return self.request("POST", "/api/v1/packages", json_body={"name": name, **fields})

    def versions(self, slug: str) -> list[dict]:
        return list(self._pages(f"/api/v1/packages/{slug}/versions"))

    def version(self, slug: str, version: str) -> dict:
        return self.request("GET", f"/api/v1/packages/{slug}/versions/{version}")

    def variables(self, slug: str, version: str, **filters: Any) -> list[dict]:
        return list(
            self._pages(f"/api/v1/packages/{slug}/versions/{version}/variables", filters or None)
        )

    def upload_version(
        self, slug: str, fmu_path: str | Path, version: str, changelog: str = ""
    ) -> dict:
        """Upload an ``.fmu`` as the raw request body (streamed, no multipart envelope)."""
        path = Path(fmu_path)

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as handle:
                yield from iter(lambda: handle.read(1 << 20), b"")

        return self.request(
            "POST",
            f"/api/v1/packages/{slug}/versions",
            params={"version": version, "changelog": changelog},
            body=chunks(),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(path.stat().st_size),
                "Content-Disposition": f'attachment; filename="{path.name}"',
            },
        )

    def submit_for_review(self, slug: str) -> dict:
        return self.request("POST", f"/api/v1/packages/{slug}/submit")

    def validation(self, slug: str, version: str) -> dict:
        return self.request("GET", f"/api/v1/packages/{slug}/versions/{version}/validation")

    def attestation(self, slug: str, version: str) -> dict:
        return self.request("GET", f"/api/v1/packages/{slug}/versions/{version}/attestation")

    def platform_keys(self) -> dict:
        return self.request("GET", "/api/v1/platform-keys")

    def download(self, slug: str, version: str, destination: str | Path) -> Path:
        link = self.request("POST", f"/api/v1/packages/{slug}/versions/{version}/download-url")
        destination = Path(destination)
        destination.write_bytes(self.request("GET", link["url"], raw=True))
        return destination

    # --- running ------------------------------------------------------------------------------

    def run(
        self, package: str, version: str, *, idempotency_key: str | None = None, **settings: Any
    ) -> Job:
        """Start a simulation (settings as the API's ``POST /jobs``: stop_time, start_values,
        inputs, outputs, fmi_type, solver, ...). Retries with the same key never run twice."""
        answer = self.request(
            "POST",
            "/api/v1/jobs",
            json_body={"package": package, "version": version, **settings},
            headers={"Idempotency-Key": idempotency_key or uuid.uuid4().hex},
        )
        return Job(self, answer)

    def job(self, job_id: str) -> Job:
        return Job(self, self.request("GET", f"/api/v1/jobs/{job_id}"))

    def jobs(self, **filters: Any) -> list[dict]:
        return list(self._pages("/api/v1/jobs", filters or None))

    def sweep(
        self,
        package: str,
        version: str,
        *,
        grid: dict | None = None,
        runs: list[dict] | None = None,
        **settings: Any,
    ) -> dict:
        body = {"package": package, "version": version, **settings}
        if grid is not None:
            body["grid"] = grid
        if runs is not None:
            body["runs"] = runs
        return self.request(
            "POST", "/api/v1/batches", json_body=body, headers={"Idempotency-Key": uuid.uuid4().hex}
        )

    def batch(self, batch_id: str) -> dict:
        return self.request("GET", f"/api/v1/batches/{batch_id}")

    # --- licenses -----------------------------------------------------------------------------

    def verify_license(self, key: str, package: str, fingerprint: str) -> dict:
        """Ask the gateway about a license key; the answer is signed by the platform."""
        return self.request(
            "POST",
            "/api/v1/licenses/verify",
            json_body={"key": key, "package": package, "fingerprint": fingerprint},
        )


class Job:
    """A simulation job; ``wait()`` long-polls until it finishes."""

    def __init__(self, client: FMUGatewayClient, data: dict) -> None:
        self.client = client
        self.data = data

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def status(self) -> str:
        return self.data["status"]

    def refresh(self, wait: float = 0.0) -> Job:
        """Re-read the job; with ``wait`` the server holds the answer until the job ends or
        ``wait`` seconds pass (``GET /api/v1/jobs/{id}?wait=N``)."""
        params = {"wait": f"{wait:g}"} if wait > 0 else None
        self.data = self.client.request("GET", f"/api/v1/jobs/{self.id}", params=params)
        return self

    def wait(self, timeout: float = 600.0, poll: float = 0.2, raise_on_failure: bool = True) -> Job:
        """Block until the job ends: long-polls the server (no delay between the end of the job
        and the answer). A server that answers early without waiting (no Redis, or an older
        server) is polled every ``poll`` seconds, backing off to 2 s."""
        deadline = time.monotonic() + timeout
        while self.status not in FINISHED:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"job {self.id} still {self.status} after {timeout} s")
            wait = min(remaining, LONG_POLL_SECONDS, max(self.client.timeout - 5.0, 0.0))
            asked = time.monotonic()
            self.refresh(wait=wait)
            answered_early = time.monotonic() - asked < wait / 2 or wait <= 0
            if self.status not in FINISHED and answered_early:
                time.sleep(min(poll, max(deadline - time.monotonic(), 0.0)))
                poll = min(poll * 1.5, 2.0)
        if raise_on_failure and self.status != "succeeded":
            raise JobFailed(self.data)
        return self

    def results(self) -> dict[str, list[float]]:
        answer = self.client.request("GET", f"/api/v1/jobs/{self.id}/results")
        return answer.get("columns", answer)

    def save_csv(self, destination: str | Path) -> Path:
        destination = Path(destination)
        destination.write_bytes(
            self.client.request("GET", f"/api/v1/jobs/{self.id}/results.csv", raw=True)
        )
        return destination

    def save_mat(self, destination: str | Path) -> Path:
        """The full result as a MATLAB MAT-file (level 5: ``load`` in MATLAB/Octave,
        ``scipy.io.loadmat``)."""
        destination = Path(destination)
        destination.write_bytes(
            self.client.request("GET", f"/api/v1/jobs/{self.id}/results.mat", raw=True)
        )
        return destination

    def save_plot(self, destination: str | Path, variables: list[str] | None = None) -> Path:
        params = {"variables": ",".join(variables)} if variables else None
        destination = Path(destination)
        destination.write_bytes(
            self.client.request("GET", f"/api/v1/jobs/{self.id}/plot", params=params, raw=True)
        )
        return destination

    def cancel(self) -> Job:
        self.data = self.client.request("POST", f"/api/v1/jobs/{self.id}/cancel")
        return self


def _api_error(exc: urllib.error.HTTPError) -> ApiError:
    payload = exc.read()
    try:
        body = json.loads(payload)
    except ValueError:
        body = {}
    retry_after = exc.headers.get("Retry-After")
    return ApiError(
        exc.code,
        body.get("code", f"http_{exc.code}"),
        body.get("detail", payload[:200].decode(errors="replace")),
        body.get("fields"),
        float(retry_after) if retry_after else None,
    )
