"""Registry API: packages, versions (upload), model cards, reports, attestations, downloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from django.core.files.uploadedfile import UploadedFile
from django.db.models import OuterRef, Prefetch, Subquery
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest, signed_in_user
from accounts.models import User
from fmugateway.core.api import validated_query
from fmugateway.core.errors import DomainError, NotFoundError
from fmugateway.core.parsers import FormParser, MultiPartParser
from fmugateway.core.scopes import public
from fmugateway.core.signing import public_keys_document
from registry import downloads, services, signatures
from registry.models import Package, PackageVersion, PublisherKey, ValidationRun, VersionSignature
from registry.serializers import (
    AttestationSerializer,
    AttestationVerifiedSerializer,
    AttestationVerifySerializer,
    DownloadLinkSerializer,
    PackageListQuerySerializer,
    PackageSerializer,
    PlatformKeysSerializer,
    PublisherKeyCreatedSerializer,
    PublisherKeySerializer,
    ReasonSerializer,
    ScanReportSerializer,
    SignatureInputSerializer,
    ValidationRunSerializer,
    VariableQuerySerializer,
    VariableSerializer,
    VersionDetailSerializer,
    VersionSerializer,
    VersionSignatureSerializer,
    VersionSignaturesSerializer,
    VersionUploadSerializer,
)
from registry.uploads import (
    RawFmuParser,
    install_upload_handler,
    raw_upload,
    received_file,
    test_vectors_from,
)
from registry.validation import queue_validation, verify_attestation


def _latest_version_number():
    return Subquery(
        PackageVersion.objects.filter(package=OuterRef("pk"))
        .order_by("-created_at")
        .values("version")[:1]
    )


def visible_package(request: Request, slug: str) -> Package:
    return get_object_or_404(Package.objects.visible_to(request.user), slug=slug)


def visible_version(request: Request, slug: str, version: str) -> PackageVersion:
    package = visible_package(request, slug)
    return get_object_or_404(
        PackageVersion.objects.visible_to(request.user)
        .select_related("package")
        .prefetch_related("signatures__key"),
        package=package,
        version=version,
    )


def owned_package(request: Request, slug: str) -> Package:
    package = visible_package(request, slug)
    services.require_owner(package, request.user)
    return package


@extend_schema(tags=["registry"], parameters=[PackageListQuerySerializer], methods=["GET"])
@extend_schema(tags=["registry"], methods=["POST"])
class PackageListView(generics.ListCreateAPIView):
    """Packages you may see: listed ones, your own, all for moderators. ``?mine=1`` for yours."""

    serializer_class = PackageSerializer
    required_scopes = {"GET": public("read"), "POST": "publish"}

    def get_queryset(self):
        queryset = (
            Package.objects.visible_to(self.request.user)
            .select_related("owner")
            .annotate(latest_version_number=_latest_version_number())
        )
        wanted = validated_query(self.request, PackageListQuerySerializer)
        if wanted.get("mine"):
            queryset = queryset.owned_by(self.request.user)
        if "status" in wanted:
            queryset = queryset.filter(status=wanted["status"])
        return queryset

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.create_package(self.request.user, **data)


@extend_schema(tags=["registry"])
class PackageDetailView(generics.RetrieveUpdateAPIView):
    serializer_class = PackageSerializer
    required_scopes = {"GET": public("read"), "PATCH": "publish"}
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        package = visible_package(self.request, self.kwargs["slug"])
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            services.require_owner(package, self.request.user)
        return package

    def perform_update(self, serializer):
        serializer.instance = services.update_package(
            serializer.instance, self.request.user, **serializer.validated_data
        )


@extend_schema(tags=["registry"], request=None, responses=PackageSerializer)
class PackageSubmitView(APIView):
    required_scopes = {"POST": "publish"}

    def post(self, request: AuthenticatedRequest, slug: str) -> Response:
        package = services.submit_for_review(owned_package(request, slug), request.user)
        return Response(PackageSerializer(package).data)


@extend_schema(tags=["registry"])
class VersionListView(generics.ListCreateAPIView):
    """Versions of a package. POST uploads a new ``.fmu``: multipart (``file``, ``version``,
    ``changelog``, optional test vector ``reference_csv`` + ``rtol``/``atol``/``columns``), or the
    raw file as ``application/octet-stream`` with ``?version=`` (fastest for large files)."""

    required_scopes = {"GET": public("read"), "POST": "publish"}
    error_statuses = {422}  # the upload's inspection refused the archive (its own code)
    parser_classes = [MultiPartParser, FormParser, RawFmuParser]

    def initial(self, request, *args, **kwargs):
        install_upload_handler(request)
        super().initial(request, *args, **kwargs)

    def get_serializer_class(self):
        return VersionUploadSerializer if self.request.method == "POST" else VersionSerializer

    def get_queryset(self):
        package = visible_package(self.request, self.kwargs["slug"])
        return (
            PackageVersion.objects.visible_to(self.request.user)
            .filter(package=package)
            .select_related("package")
            .prefetch_related(
                Prefetch("signatures", VersionSignature.objects.select_related("key"))
            )
        )

    @extend_schema(
        request={
            "multipart/form-data": VersionUploadSerializer,
            RawFmuParser.media_type: OpenApiTypes.BINARY,
        },
        parameters=[
            OpenApiParameter(
                "version", str, description="With `application/octet-stream`: the version."
            ),
            OpenApiParameter(
                "changelog", str, description="With `application/octet-stream`: the changelog."
            ),
        ],
        responses={201: VersionDetailSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        try:
            return self._upload(request, slug)
        finally:
            # The FMU may have been moved into storage; closing tolerates that.
            for uploaded in request.FILES.values():
                if isinstance(uploaded, UploadedFile):  # the type admits an empty list
                    uploaded.close()

    def _upload(self, request: Request, slug: str) -> Response:
        package = owned_package(request, slug)
        payload: dict[str, Any] | list[Any]
        if request.content_type.startswith(RawFmuParser.media_type):
            fields = {key: request.query_params.get(key) for key in ("version", "changelog")}
            payload = {
                "file": raw_upload(request),
                **{key: value for key, value in fields.items() if value is not None},
            }
        else:
            payload = request.data
        form = VersionUploadSerializer(data=payload)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        version = services.upload_version(
            package,
            uploaded_by=signed_in_user(request),
            upload=received_file(data["file"]),
            version=data["version"],
            changelog=data.get("changelog", ""),
            test_vectors=test_vectors_from(data),
        )
        return Response(VersionDetailSerializer(version).data, status=status.HTTP_201_CREATED)


def _temp_path(upload) -> Path:
    return Path(upload.temporary_file_path())


@extend_schema(tags=["registry"])
class VersionDetailView(generics.RetrieveAPIView):
    """A version's model card."""

    serializer_class = VersionDetailSerializer
    required_scopes = {"GET": public("read")}

    def get_object(self):
        return visible_version(self.request, self.kwargs["slug"], self.kwargs["version"])


@extend_schema(tags=["registry"], parameters=[VariableQuerySerializer])
class VariableListView(generics.ListAPIView):
    """Variables of a version; filter with ``?causality=``, ``?variability=``, ``?q=`` (name)."""

    serializer_class = VariableSerializer
    required_scopes = {"GET": public("read")}

    def get_queryset(self):
        version = visible_version(self.request, self.kwargs["slug"], self.kwargs["version"])
        queryset = version.variables.all()
        wanted = validated_query(self.request, VariableQuerySerializer)
        for field in ("causality", "variability", "type"):
            if field in wanted:
                queryset = queryset.filter(**{field: wanted[field]})
        if "q" in wanted:
            queryset = queryset.filter(name__icontains=wanted["q"])
        return queryset


class _VersionActionView(APIView):
    required_scopes = {"POST": "publish"}
    verb: ClassVar[staticmethod[[PackageVersion, User, str], PackageVersion]]

    @extend_schema(tags=["registry"], request=ReasonSerializer, responses=VersionSerializer)
    def post(self, request: AuthenticatedRequest, slug: str, version: str) -> Response:
        target = visible_version(request, slug, version)
        form = ReasonSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        updated = type(self).verb(target, request.user, form.validated_data["reason"])
        return Response(VersionSerializer(updated).data)


class VersionYankView(_VersionActionView):
    verb = staticmethod(services.yank_version)


class VersionDeprecateView(_VersionActionView):
    verb = staticmethod(services.deprecate_version)


@extend_schema(tags=["registry"], responses=ScanReportSerializer)
class ScanReportView(APIView):
    required_scopes = {"GET": public("read")}

    def get(self, request: Request, slug: str, version: str) -> Response:
        target = visible_version(request, slug, version)
        report = {"risk_score": target.risk_score, **(target.scan_report or {})}
        return Response(ScanReportSerializer(report).data)


@extend_schema(tags=["registry"])
class ValidationView(APIView):
    """The latest validation run with its report; POST re-runs validation (owner, moderator)."""

    required_scopes = {"GET": public("read"), "POST": "publish"}

    @extend_schema(responses=ValidationRunSerializer)
    def get(self, request: Request, slug: str, version: str) -> Response:
        target = visible_version(request, slug, version)
        run = target.validation_runs.first()
        if run is None:
            raise NotFoundError("This version has not been validated yet.")
        return Response(ValidationRunSerializer(run).data)

    @extend_schema(request=None, responses={202: ValidationRunSerializer})
    def post(self, request: Request, slug: str, version: str) -> Response:
        target = visible_version(request, slug, version)
        services.require_owner(target.package, request.user)
        if target.validation_runs.filter(
            status__in=[ValidationRun.Status.QUEUED, ValidationRun.Status.RUNNING]
        ).exists():
            raise DomainError(
                "A validation of this version is already under way.",
                code="validation_in_progress",
                status_code=409,
            )
        run = queue_validation(target, requested_by=request.user)
        return Response(ValidationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["registry"], responses=AttestationSerializer)
class AttestationView(APIView):
    """The signed attestation of a certified version (404 ``not_certified`` otherwise)."""

    required_scopes = {"GET": public("read")}

    def get(self, request: Request, slug: str, version: str) -> Response:
        target = visible_version(request, slug, version)
        if not target.attestation:
            raise NotFoundError(
                "This version is not certified, so it has no attestation.", code="not_certified"
            )
        # As signed: re-serialising could change the bytes the signature covers.
        return Response(target.attestation)


@extend_schema(
    tags=["registry"], request=AttestationVerifySerializer, responses=AttestationVerifiedSerializer
)
class AttestationVerifyView(APIView):
    """Check an attestation against an FMU file (nothing is stored)."""

    required_scopes = {"POST": public()}
    parser_classes = [MultiPartParser]

    def initial(self, request, *args, **kwargs):
        install_upload_handler(request)
        super().initial(request, *args, **kwargs)

    def post(self, request: Request) -> Response:
        form = AttestationVerifySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            document = json.loads(form.validated_data["attestation"].read(1024 * 1024))
        except (ValueError, UnicodeDecodeError) as exc:
            raise DomainError("The attestation is not JSON.", code="parse_error") from exc
        payload = verify_attestation(_temp_path(form.validated_data["file"]), document)
        return Response({"valid": True, "payload": payload})  # the payload as signed


@extend_schema(tags=["registry"], responses=PlatformKeysSerializer)
class PlatformKeysView(APIView):
    """The platform's public verification keys (attestations, license files)."""

    required_scopes = {"GET": public()}

    def get(self, request: Request) -> Response:
        return Response(PlatformKeysSerializer(public_keys_document()).data)


@extend_schema(tags=["registry"], request=None, responses={201: DownloadLinkSerializer})
class DownloadUrlView(APIView):
    """A short-lived signed URL for downloading the version's ``.fmu`` (authorised users)."""

    required_scopes = {"POST": "read"}
    error_statuses = {451}  # package_taken_down

    def post(self, request: Request, slug: str, version: str) -> Response:
        try:
            target = visible_version(request, slug, version)
        except Http404:
            downloads.raise_if_blocked(request.user, slug, version)  # 451 package_taken_down
            raise
        link = downloads.issue_download_link(request, target)
        return Response(DownloadLinkSerializer(link).data, status=status.HTTP_201_CREATED)


@extend_schema(
    tags=["registry"],
    responses={
        (200, "application/octet-stream"): OpenApiResponse(
            OpenApiTypes.BINARY,
            description="The .fmu file, as an attachment, decrypted by the server as it streams.",
        ),
    },
)
class DownloadView(APIView):
    """Serve a signed download link to the user it was issued to; every download is audited."""

    required_scopes = {"GET": "read"}
    # download_link_expired, package_taken_down, artifact_integrity / artifact_key_unavailable
    error_statuses = {410, 451, 503}

    def get(self, request: Request, token: str):
        version, target = downloads.redeem_download_link(request, token)
        response = FileResponse(
            target.open(),
            as_attachment=True,
            filename=f"{version.package.slug}-{version.version}.fmu",
        )
        response["Content-Type"] = "application/octet-stream"
        response["Content-Length"] = str(target.size)  # a decrypting stream cannot tell it
        return response


@extend_schema(tags=["registry"], methods=["GET"])
@extend_schema(tags=["registry"], methods=["POST"], responses={201: PublisherKeyCreatedSerializer})
class PublisherKeyListView(generics.ListCreateAPIView):
    """Your publisher signing keys. POST a PEM ``public_key``, or omit it to have one generated
    (its private key is in the response, shown once)."""

    serializer_class = PublisherKeySerializer
    required_scopes = {"GET": "read", "POST": "publish"}

    def get_queryset(self):
        return PublisherKey.objects.filter(owner=self.request.user)

    def create(self, request: Request, *args, **kwargs) -> Response:
        form = PublisherKeySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        key, private_pem = signatures.register_key(
            request.user,
            name=form.validated_data["name"],
            public_key_pem=form.validated_data.get("public_key"),
        )
        if private_pem:
            key.private_key = private_pem
        body = PublisherKeyCreatedSerializer(key).data
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(tags=["registry"], request=ReasonSerializer, responses=PublisherKeySerializer)
class PublisherKeyRevokeView(APIView):
    required_scopes = {"POST": "publish"}

    def post(self, request: Request, pk: int) -> Response:
        key = get_object_or_404(PublisherKey, pk=pk, owner=request.user)
        form = ReasonSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        key = signatures.revoke_key(key, request.user, form.validated_data["reason"])
        return Response(PublisherKeySerializer(key).data)


@extend_schema(tags=["registry"])
class VersionSignatureView(APIView):
    """GET the manifest to sign and the signatures; POST a signature made with your key."""

    required_scopes = {"GET": public("read"), "POST": "publish"}

    @extend_schema(responses=VersionSignaturesSerializer)
    def get(self, request: Request, slug: str, version: str) -> Response:
        target = visible_version(request, slug, version)
        body = {"manifest": signatures.manifest(target), "signatures": target.signatures.all()}
        return Response(VersionSignaturesSerializer(body).data)

    @extend_schema(request=SignatureInputSerializer, responses={201: VersionSignatureSerializer})
    def post(self, request: Request, slug: str, version: str) -> Response:
        target = visible_version(request, slug, version)
        form = SignatureInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        key = get_object_or_404(PublisherKey, pk=form.validated_data["key_id"], owner=request.user)
        signature = signatures.add_signature(
            target, key, request.user, form.validated_data["signature"]
        )
        return Response(VersionSignatureSerializer(signature).data, status=status.HTTP_201_CREATED)
