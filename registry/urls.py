from django.urls import path

from registry import views

urlpatterns = [
    path("packages/<slug:slug>/", views.package_detail, name="package-detail"),
    path(
        "packages/<slug:slug>/versions/<str:version>/", views.package_detail, name="package-version"
    ),
    path(
        "packages/<slug:slug>/versions/<str:version>/report/",
        views.validation_report,
        name="package-version-report",
    ),
    path(
        "packages/<slug:slug>/versions/<str:version>/download/",
        views.download,
        name="package-version-download",
    ),
    path("console/", views.console, name="console"),
    path("console/packages/new/", views.console_new_package, name="console-new-package"),
    path("console/packages/<slug:slug>/", views.console_package, name="console-package"),
]
