"""Review rules: who may review, once per package, one vote per review, reports, moderation and
a rating summary that always matches the visible reviews."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.test import RequestFactory

from accounts.factories import UserFactory
from catalog.models import PackageSearch, Review, ReviewReport
from catalog.services import reviews
from catalog.tests.catalog_helpers import published_version
from execution.models import SimulationJob
from fmugateway.core.errors import ConflictError, ForbiddenError
from marketplace.tests.fixtures import buy

pytestmark = pytest.mark.django_db


def review(user, package, rating=4, **kw) -> Review:
    return reviews.submit_review(user, package, rating=rating, title=kw.pop("title", "Good"), **kw)


@pytest.fixture
def buyer(free_listing):
    user = UserFactory()
    buy(user, free_listing)
    return user


def summary(package) -> PackageSearch:
    return PackageSearch.objects.get(pk=package.pk)


def test_no_review_without_a_purchase_or_a_run(package, user):
    with pytest.raises(ForbiddenError) as exc:
        review(user, package)

    assert exc.value.code == "review_not_allowed"
    assert not Review.objects.exists()


def test_purchasers_review_with_a_verified_badge(package, buyer):
    created = review(buyer, package, rating=5, pros="Fast", cons="None")

    assert created.verified_purchase and not created.ran_model
    assert summary(package).rating_count == 1
    assert summary(package).rating_avg == 5


def test_users_who_ran_the_model_may_review(package, user):
    version = published_version(package)
    SimulationJob.objects.create(
        owner=user, version=version, sha256=version.sha256, status="succeeded"
    )

    created = review(user, package)

    assert created.ran_model and not created.verified_purchase


def test_refunded_purchasers_and_failed_runs_do_not_count(package, user, download_listing):
    result = buy(user, download_listing)
    from marketplace import services

    services.refund_order(result.order, reason="requested_by_customer")
    version = published_version(package)
    SimulationJob.objects.create(
        owner=user, version=version, sha256=version.sha256, status="failed"
    )

    with pytest.raises(ForbiddenError):
        review(user, package)


def test_creators_cannot_review_their_own_package(package, seller):
    with pytest.raises(ForbiddenError):
        review(seller.user, package)


def test_one_review_per_user_and_package_edits_the_first(package, buyer):
    review(buyer, package, rating=2, title="Meh")
    edited = review(buyer, package, rating=4, title="Better after 1.1")

    assert Review.objects.filter(package=package, author=buyer).count() == 1
    assert edited.rating == 4 and edited.edited_at is not None
    assert summary(package).rating_count == 1 and summary(package).rating_avg == 4


def test_one_vote_per_user_and_review(package, buyer, other_user):
    target = review(buyer, package)

    reviews.vote(other_user, target.pk, helpful=True)
    with pytest.raises(ConflictError) as exc:
        reviews.vote(other_user, target.pk, helpful=False)

    target.refresh_from_db()
    assert exc.value.code == "already_voted"
    assert (target.helpful_count, target.not_helpful_count) == (1, 0)


def test_authors_cannot_vote_on_their_own_review(package, buyer):
    target = review(buyer, package)

    with pytest.raises(ForbiddenError):
        reviews.vote(buyer, target.pk, helpful=True)


def test_reports_flag_but_do_not_hide_and_count_once(package, buyer, other_user):
    target = review(buyer, package)

    reviews.report(other_user, target.pk, reason="spam")
    with pytest.raises(ConflictError):
        reviews.report(other_user, target.pk, reason="abuse")

    target.refresh_from_db()
    assert target.status == Review.Status.REPORTED and target.report_count == 1
    assert summary(package).rating_count == 1


def test_hidden_and_removed_reviews_leave_the_page_and_the_summary(
    client, package, free_listing, moderator
):
    authors = [UserFactory() for _ in range(3)]
    for author, rating in zip(authors, (5, 1, 3), strict=True):
        buy(author, free_listing)
        review(author, package, rating=rating, title=f"Rated {rating}")
    one_star = Review.objects.get(rating=1)
    three = Review.objects.get(rating=3)

    reviews.moderate(one_star, moderator, Review.Status.HIDDEN)
    reviews.moderate(three, moderator, Review.Status.REMOVED)

    row = summary(package)
    assert (row.rating_count, row.rating_avg, row.rating_1, row.rating_3, row.rating_5) == (
        1,
        5,
        0,
        0,
        1,
    )
    html = client.get(package.get_absolute_url()).content.decode()
    assert "Rated 5" in html
    assert "Rated 1" not in html and "Rated 3" not in html

    reviews.moderate(one_star, moderator, Review.Status.PUBLISHED)
    assert summary(package).rating_count == 2 and summary(package).rating_avg == 3


def test_admin_actions_moderate_through_the_service(package, buyer, moderator, other_user):
    target = review(buyer, package, rating=1)
    reviews.report(other_user, target.pk, reason="abuse")
    moderator.is_staff = True
    moderator.is_superuser = True
    moderator.save()
    request = RequestFactory().post("/")
    request.user = moderator
    request._messages = type("M", (), {"add": lambda *a, **k: None})()
    admin = site._registry[Review]

    admin.hide(request, Review.objects.filter(pk=target.pk))

    target.refresh_from_db()
    assert target.status == Review.Status.HIDDEN
    assert summary(package).rating_count == 0
    assert ReviewReport.objects.get().status == ReviewReport.Status.RESOLVED


def test_only_the_creator_answers_publicly(client, package, buyer, seller, other_user):
    target = review(buyer, package)

    with pytest.raises(ForbiddenError):
        reviews.respond(other_user, target.pk, "I am not the creator")
    reviews.respond(seller.user, target.pk, "Thanks, fixed in 1.1!")

    html = client.get(package.get_absolute_url()).content.decode()
    assert "Response from the creator" in html and "Thanks, fixed in 1.1!" in html


def test_review_text_is_escaped(client, package, buyer):
    review(buyer, package, title="<script>alert(1)</script>", body="<img src=x onerror=alert(2)>")

    html = client.get(package.get_absolute_url()).content.decode()

    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_review_pages_through_the_site(client, package, buyer, other_user):
    client.force_login(buyer)
    response = client.post(
        f"/packages/{package.slug}/review/",
        {"rating": "5", "title": "Works", "body": "Solid", "pros": "", "cons": ""},
    )
    assert response.status_code == 302
    target = Review.objects.get()

    client.force_login(other_user)
    client.post(f"/reviews/{target.pk}/vote/", {"helpful": "1"})
    client.post(f"/reviews/{target.pk}/vote/", {"helpful": "1"})
    client.post(f"/reviews/{target.pk}/report/", {"reason": "spam"})
    refused = client.post(
        f"/packages/{package.slug}/review/", {"rating": "1", "title": "Never bought it"}
    )

    target.refresh_from_db()
    assert target.helpful_count == 1 and target.report_count == 1
    assert refused.status_code == 302 and Review.objects.count() == 1
