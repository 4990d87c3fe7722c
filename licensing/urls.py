"""The buyer's license and organisation pages."""

from django.urls import path

from licensing import views

urlpatterns = [
    path("account/licenses/", views.account_licenses, name="account-licenses"),
    path("account/licenses/<int:pk>/", views.account_license, name="account-license"),
    path("account/organisations/", views.account_organisations, name="account-organisations"),
    path(
        "account/organisations/<slug:slug>/",
        views.account_organisation,
        name="account-organisation",
    ),
]
