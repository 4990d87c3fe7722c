from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from accounts.models import Creator
from billing.services import balance_of, plan_for
from catalog.forms import CatalogFilterForm, ReportForm, ResponseForm, ReviewForm
from catalog.models import Category, Review, WishlistItem
from catalog.services import analytics, reviews, search
from fmugateway.core.errors import DomainError
from fmugateway.core.views import redirect_back, unwrapped_user
from licensing.models import License
from marketplace.models import Order
from registry.models import Package


def _listed_package(request, slug: str) -> Package:
    return get_object_or_404(Package.objects.visible_to(request.user), slug=slug)


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "catalog/home.html",
        {
            "featured": search.featured(),
            "trending": search.trending(),
            "newest": search.newest(),
            "categories": search.category_tree(),
            "tags": search.popular_tags(16),
        },
    )


def _catalog_page(
    request, *, category=None, creator=None, template="catalog/catalog.html", extra=None
):
    form = CatalogFilterForm(request.GET, auto_id="f-%s")
    query = form.to_query(category=category, creator=creator)
    page = search.search(query)
    if query.q and query.page == 1:
        analytics.track(
            request,
            "search.query",
            query=query.q,
            result_count=page.total,
            filters={
                key: value
                for key, value in request.GET.items()
                if key not in {"q", "page"} and value
            },
        )
    return render(
        request,
        template,
        {
            "form": form,
            "query": query,
            "page": page,
            "sort": query.effective_sort,
            "sorts": search.SORTS,
            "categories": search.category_tree(),
            "tags": search.popular_tags(),
            "selected_tags": query.tags,
            "category": category,
            **(extra or {}),
        },
    )


def catalog_view(request: HttpRequest) -> HttpResponse:
    return _catalog_page(request)


def category_view(request: HttpRequest, path: str) -> HttpResponse:
    category = get_object_or_404(Category.objects.select_related("parent"), path=path.strip("/"))
    ancestors: list[Category] = []
    node = category.parent
    while node is not None:  # a handful of levels at most
        ancestors.insert(0, node)
        node = node.parent
    children = list(category.children.order_by("position", "name"))
    return _catalog_page(
        request,
        category=category,
        extra={"ancestors": ancestors, "children": children},
    )


def creator_view(request: HttpRequest, slug: str) -> HttpResponse:
    creator = get_object_or_404(Creator, slug=slug, status=Creator.Status.APPROVED)
    stats = (
        search.listed_entries()
        .filter(package__owner_id=creator.user_id)
        .aggregate(
            packages=Count("pk"),
            ratings=Sum("rating_count"),
            runs=Sum("runs_count"),
            downloads=Sum("downloads_count"),
        )
    )
    return _catalog_page(
        request,
        creator=creator,
        template="catalog/creator.html",
        extra={"creator": creator, "stats": stats},
    )


@login_required
@require_POST
def review_submit(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    package = _listed_package(request, slug)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a rating and a title.")
        return redirect(package.get_absolute_url() + "#reviews")
    try:
        review = reviews.submit_review(request.user, package, **form.cleaned_data)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        analytics.track(request, "review.create", package_id=package.pk, rating=review.rating)
        messages.success(request, "Thank you — your review is saved.")
    return redirect(package.get_absolute_url() + "#reviews")


@login_required
@require_POST
def review_vote(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    try:
        review = reviews.vote(request.user, pk, helpful=request.POST.get("helpful") == "1")
        messages.success(request, "Thanks for your feedback.")
        fallback = review.package.get_absolute_url() + "#reviews"
    except DomainError as exc:
        messages.error(request, exc.detail)
        fallback = reverse("catalog")
    return redirect_back(request, fallback)


@login_required
@require_POST
def review_report(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    form = ReportForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a reason for the report.")
        return redirect_back(request, reverse("catalog"))
    try:
        reviews.report(request.user, pk, **form.cleaned_data)
        messages.success(request, "Thank you. A moderator will look at this review.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect_back(request, reverse("catalog"))


@login_required
@require_POST
def review_respond(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    form = ResponseForm(request.POST)
    if form.is_valid():
        try:
            reviews.respond(request.user, pk, form.cleaned_data["text"])
            messages.success(request, "Your answer is published.")
        except DomainError as exc:
            messages.error(request, exc.detail)
    return redirect_back(request, reverse("console-reviews"))


@login_required
@require_POST
def wishlist_toggle(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    package = _listed_package(request, slug)
    added = search.toggle_wishlist(request.user, package)
    messages.success(request, "Saved to your wishlist." if added else "Removed from your wishlist.")
    return redirect_back(request, package.get_absolute_url())


@login_required
def account_wishlist(request: AuthenticatedHttpRequest) -> HttpResponse:
    package_ids = WishlistItem.objects.filter(user=request.user).values("package_id")
    entries = list(
        search.listed_entries().filter(package_id__in=package_ids).order_by("title")[:200]
    )
    return render(request, "catalog/wishlist.html", {"entries": entries})


@login_required
def console_reviews(request: AuthenticatedHttpRequest) -> HttpResponse:
    qs = (
        Review.objects.filter(package__owner=request.user)
        .exclude(status=Review.Status.REMOVED)
        .select_related("package", "author")
    )
    if request.GET.get("unanswered"):
        qs = qs.filter(creator_response="")
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "catalog/console_reviews.html",
        {
            "page": page,
            "response_form": ResponseForm(),
            "unanswered": bool(request.GET.get("unanswered")),
        },
    )


@login_required
def account_overview(request: AuthenticatedHttpRequest) -> HttpResponse:

    user = unwrapped_user(request)
    return render(
        request,
        "catalog/account_overview.html",
        {
            "plan": plan_for(user),
            "balance": balance_of(user),
            "license_count": License.objects.owned_by(user).usable().count(),
            "order_count": Order.objects.owned_by(user).count(),
            "wishlist_count": WishlistItem.objects.filter(user=user).count(),
            "recent_orders": list(Order.objects.owned_by(user)[:5]),
        },
    )
