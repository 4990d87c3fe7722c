from django.urls import path

from execution import api

urlpatterns = [
    path("jobs", api.JobListView.as_view(), name="api-job-list"),
    path("jobs/<uuid:pk>", api.JobDetailView.as_view(), name="api-job-detail"),
    path("jobs/<uuid:pk>/results", api.JobResultsView.as_view(), name="api-job-results"),
    path("jobs/<uuid:pk>/results.csv", api.JobResultsCsvView.as_view(), name="api-job-results-csv"),
    path("jobs/<uuid:pk>/results.mat", api.JobResultsMatView.as_view(), name="api-job-results-mat"),
    path("jobs/<uuid:pk>/plot", api.JobPlotView.as_view(), name="api-job-plot"),
    path("jobs/<uuid:pk>/cancel", api.JobCancelView.as_view(), name="api-job-cancel"),
    path("jobs/<uuid:pk>/rerun", api.JobRerunView.as_view(), name="api-job-rerun"),
    path("batches", api.BatchListView.as_view(), name="api-batch-list"),
    path("batches/<uuid:pk>", api.BatchDetailView.as_view(), name="api-batch-detail"),
    path(
        "batches/<uuid:pk>/summary.csv",
        api.BatchSummaryCsvView.as_view(),
        name="api-batch-summary-csv",
    ),
    path("batches/<uuid:pk>/plot", api.BatchPlotView.as_view(), name="api-batch-plot"),
    path("batches/<uuid:pk>/cancel", api.BatchCancelView.as_view(), name="api-batch-cancel"),
    path("results/<str:token>", api.ResultFileView.as_view(), name="api-result-file"),
]
