"""Short-lived signed download links.

A link names one version (by id and SHA-256) and the user it was issued to, signed with the
project's secret and valid for ``SIGNED_URL_TTL_SECONDS``. Redeeming it re-checks access, audits
the download and streams the file through the app, decrypted (``core.storage.open_decrypted``),
from local storage and S3 alike: a presigned S3 URL would hand out the encrypted object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

from django.conf import settings
from django.core import signing
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from fmugateway.core import storage
from fmugateway.core.audit import record
from fmugateway.core.errors import DomainError, ForbiddenError
from registry.access import download_block, may_download
from registry.models import PackageVersion

SALT = "registry.download"


class LinkInvalid(DomainError):
    status_code = 404
    code = "download_link_invalid"
    detail = "This download link is not valid."


class LinkExpired(DomainError):
    status_code = 410
    code = "download_link_expired"
    detail = "This download link has expired; ask for a new one."


def raise_if_blocked(user, slug: str, version: str) -> None:
    """Refuse with a block's own error (a taken-down package is hidden, but its buyers are told
    why rather than answered 404)."""
    found = (
        PackageVersion.objects.select_related("package")
        .filter(package__slug=slug, version=version)
        .first()
    )
    if found is not None and (blocked := download_block(user, found)) is not None:
        raise blocked


def issue_download_link(request, version: PackageVersion) -> dict:
    if (blocked := download_block(request.user, version)) is not None:
        raise blocked
    if not may_download(request.user, version):
        raise ForbiddenError("You may not download this model's file.", code="download_forbidden")
    token = signing.TimestampSigner(salt=SALT).sign_object(
        {"v": version.pk, "s": version.sha256, "u": request.user.pk}
    )
    ttl = settings.SIGNED_URL_TTL_SECONDS
    return {
        "url": request.build_absolute_uri(reverse("api-download", kwargs={"token": token})),
        "expires_at": (timezone.now() + timedelta(seconds=ttl)).isoformat(),
        "sha256": version.sha256,
        "size": version.size,
    }


@dataclass
class DownloadTarget:
    key: str
    stream: BinaryIO
    size: int

    def open(self) -> BinaryIO:
        return self.stream


def _open_artifact(version: PackageVersion) -> DownloadTarget:
    """The version's file, decrypted as a stream. Its header, data key, first chunk and length
    are checked first, so a damaged or tampered file is refused (503 ``artifact_integrity``)
    before any byte is sent; a later chunk that fails to authenticate ends the stream without
    sending its bytes (the response is then short of its Content-Length)."""
    opened = storage.open_decrypted("artifacts", version.artifact_key)
    if opened.size != version.size:
        opened.stream.close()
        raise storage.integrity_error(
            "artifacts", version.artifact_key, f"it holds {opened.size} bytes, not {version.size}"
        )
    return DownloadTarget(key=version.artifact_key, stream=opened.stream, size=opened.size)


def redeem_download_link(request, token: str) -> tuple[PackageVersion, DownloadTarget]:
    try:
        claims = signing.TimestampSigner(salt=SALT).unsign_object(
            token, max_age=settings.SIGNED_URL_TTL_SECONDS
        )
    except signing.SignatureExpired as exc:
        raise LinkExpired() from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise LinkInvalid() from exc
    if claims.get("u") != request.user.pk:
        raise ForbiddenError(
            "This download link was issued to someone else.", code="download_link_not_yours"
        )
    version = (
        PackageVersion.objects.select_related("package")
        .filter(pk=claims.get("v"), sha256=claims.get("s"))
        .first()
    )
    if version is None:
        raise LinkInvalid()
    if (blocked := download_block(request.user, version)) is not None:
        raise blocked
    if not may_download(request.user, version):
        raise ForbiddenError(
            "You may no longer download this model's file.", code="download_forbidden"
        )
    target = _open_artifact(version)  # first: a file that cannot be sent is not counted
    PackageVersion.objects.filter(pk=version.pk).update(download_count=F("download_count") + 1)
    record(
        "registry.version.downloaded",
        actor=request.user,
        target=version,
        after={"sha256": version.sha256},
    )
    return version, target
