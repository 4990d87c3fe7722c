from django.urls import path

from registry import api

V = "packages/<slug:slug>/versions/<str:version>"

urlpatterns = [
    path("packages", api.PackageListView.as_view(), name="api-package-list"),
    path("packages/<slug:slug>", api.PackageDetailView.as_view(), name="api-package-detail"),
    path("packages/<slug:slug>/submit", api.PackageSubmitView.as_view(), name="api-package-submit"),
    path("packages/<slug:slug>/versions", api.VersionListView.as_view(), name="api-version-list"),
    path(V, api.VersionDetailView.as_view(), name="api-version-detail"),
    path(f"{V}/variables", api.VariableListView.as_view(), name="api-version-variables"),
    path(f"{V}/scan", api.ScanReportView.as_view(), name="api-version-scan"),
    path(f"{V}/validation", api.ValidationView.as_view(), name="api-version-validation"),
    path(f"{V}/attestation", api.AttestationView.as_view(), name="api-version-attestation"),
    path(f"{V}/signatures", api.VersionSignatureView.as_view(), name="api-version-signatures"),
    path(f"{V}/download-url", api.DownloadUrlView.as_view(), name="api-version-download-url"),
    path(f"{V}/yank", api.VersionYankView.as_view(), name="api-version-yank"),
    path(f"{V}/deprecate", api.VersionDeprecateView.as_view(), name="api-version-deprecate"),
    path("downloads/<str:token>", api.DownloadView.as_view(), name="api-download"),
    path("attestations/verify", api.AttestationVerifyView.as_view(), name="api-attestation-verify"),
    path("platform-keys", api.PlatformKeysView.as_view(), name="api-platform-keys"),
    path("signing-keys", api.PublisherKeyListView.as_view(), name="api-signing-keys"),
    path(
        "signing-keys/<int:pk>/revoke",
        api.PublisherKeyRevokeView.as_view(),
        name="api-signing-key-revoke",
    ),
]
