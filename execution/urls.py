from django.urls import path

from execution import views

urlpatterns = [
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/new/", views.job_create, name="job-create"),
    path("jobs/compare/", views.job_compare, name="job-compare"),
    path("jobs/compare/plot/", views.job_compare_plot, name="job-compare-plot"),
    path("jobs/<uuid:pk>/", views.job_detail, name="job-detail"),
    path("batches/<uuid:pk>/", views.batch_detail, name="batch-detail"),
]
