"""DMCA complaints and counter-notices."""

from django.urls import path

from compliance import api

urlpatterns = [
    path("dmca/complaints", api.ComplaintListView.as_view(), name="api-dmca-list"),
    path(
        "dmca/complaints/<int:pk>",
        api.ComplaintDetailView.as_view(),
        name="api-dmca-detail",
    ),
    path(
        "dmca/complaints/<int:pk>/counter-notice",
        api.CounterNoticeView.as_view(),
        name="api-dmca-counter-notice",
    ),
]
