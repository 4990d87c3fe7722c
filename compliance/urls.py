"""DMCA complaint form and the creator's takedowns."""

from django.urls import path

from compliance import views

urlpatterns = [
    path("console/takedowns/", views.console_takedowns, name="console-takedowns"),
    path("dmca/", views.dmca_complaint, name="dmca-complaint"),
]
