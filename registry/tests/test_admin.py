"""Package moderation from the admin: the actions call the registry's services as the
moderator, and say which packages they refused."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from registry.factories import PackageFactory
from registry.models import Package

pytestmark = pytest.mark.django_db


def test_approve_lists_packages_in_review_and_names_those_it_refuses(client, django_user_model):
    moderator = django_user_model.objects.create_superuser("mod@example.com", "pw")
    client.force_login(moderator)
    in_review = PackageFactory(status=Package.Status.IN_REVIEW)
    draft = PackageFactory(status=Package.Status.DRAFT)

    response = client.post(
        reverse("admin:registry_package_changelist"),
        {"action": "approve", "_selected_action": [in_review.pk, draft.pk]},
    )

    in_review.refresh_from_db()
    draft.refresh_from_db()
    assert (in_review.status, draft.status) == (Package.Status.LISTED, Package.Status.DRAFT)
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown[-1] == "1 updated."
    assert any(message.startswith(f"{draft}: ") for message in shown)
