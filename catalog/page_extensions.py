"""What the marketplace adds to the registry's pages (registered in ``CatalogConfig.ready``):
SKUs, buy buttons, the rating summary and reviews, the wishlist and the run form on the package
page; creator status, sales and links on the creator console. A bounded number of queries
each, whatever the number of reviews or listings."""

from __future__ import annotations

from django.db.models import Sum

from accounts.models import Creator
from billing.models import CreatorEarning
from catalog.forms import ReportForm, ResponseForm, ReviewForm
from catalog.models import PackageSearch, Review, ReviewVote, WishlistItem
from catalog.services import analytics, reviews
from catalog.services.search import CategoryNode, category_tree
from licensing.models import License
from marketplace.models import CartItem, Listing, OrderLine
from marketplace.services import seller_currency
from registry.models import Package, PackageVersion

REVIEWS_PER_PAGE = 10
REVIEW_SORTS = {
    "recent": ["-created_at", "-id"],
    "helpful": ["-helpful_count", "-created_at", "-id"],
    "highest": ["-rating", "-created_at", "-id"],
    "lowest": ["rating", "-created_at", "-id"],
}


def _page_number(value, last: int) -> int:
    try:
        return max(1, min(int(value), last))
    except (TypeError, ValueError):
        return 1


def package_page(request, package: Package, current: PackageVersion | None) -> dict:
    user = request.user
    authenticated = user.is_authenticated
    summary = (
        PackageSearch.objects.filter(pk=package.pk)
        .select_related("creator", "category")
        .defer("keywords", "variables", "body", "document", "rank_document")
        .first()
    )
    listings = list(Listing.objects.active().filter(package=package).order_by("price_amount", "id"))
    sort = request.GET.get("reviews", "helpful")
    sort = sort if sort in REVIEW_SORTS else "helpful"
    review_total = summary.rating_count if summary else 0
    last_page = max(1, -(-review_total // REVIEWS_PER_PAGE))
    page = _page_number(request.GET.get("rpage"), last_page)
    visible = Review.objects.visible().filter(package=package)
    page_reviews = list(
        visible.select_related("author").order_by(*REVIEW_SORTS[sort])[
            (page - 1) * REVIEWS_PER_PAGE : page * REVIEWS_PER_PAGE
        ]
    )
    context = {
        "summary": summary,
        "creator": summary.creator if summary else None,
        "listings": listings,
        "reviews": page_reviews,
        "review_sort": sort,
        "review_sorts": {
            "helpful": "Most helpful",
            "recent": "Newest",
            "highest": "Highest",
            "lowest": "Lowest",
        },
        "review_page": page,
        "review_pages": last_page,
        "report_form": ReportForm(),
        "licenses": [],
        "my_review": None,
        "my_votes": {},
        "in_cart": set(),
        "wishlisted": False,
        "can_review": False,
        "review_refusal": "",
        "can_run": False,
        "is_owner": authenticated and package.owner_id == user.pk,
    }
    if authenticated:
        licenses = list(
            License.objects.filter(owner=user, package=package).select_related("listing")
        )
        usable = [lic for lic in licenses if lic.effective_status() == License.Status.ACTIVE]
        my_review = Review.objects.filter(package=package, author=user).first()
        context.update(
            licenses=usable,
            used_trials={lic.listing_id for lic in licenses if lic.pricing_model == "trial"},
            held_free={lic.listing_id for lic in usable if lic.pricing_model == "free"},
            my_review=my_review,
            my_votes=dict(
                ReviewVote.objects.filter(
                    user=user, review_id__in=[review.pk for review in page_reviews]
                ).values_list("review_id", "helpful")
            ),
            in_cart=set(
                CartItem.objects.filter(cart__user=user, listing__package=package).values_list(
                    "listing_id", flat=True
                )
            ),
            wishlisted=WishlistItem.objects.filter(user=user, package=package).exists(),
        )
        if my_review is not None:
            context["can_review"] = True
            context["review_form"] = ReviewForm(
                initial={
                    "rating": my_review.rating,
                    "title": my_review.title,
                    "body": my_review.body,
                    "pros": my_review.pros,
                    "cons": my_review.cons,
                }
            )
        elif not context["is_owner"]:
            allowed = reviews.eligibility(user, package)
            context["can_review"] = allowed.allowed
            context["review_refusal"] = allowed.reason
            context["review_form"] = ReviewForm() if allowed.allowed else None
        if context["is_owner"]:
            context["response_form"] = ResponseForm()
        # Mirrors execution's may_run for what the page offers; the run view decides.
        context["can_run"] = current is not None and (
            context["is_owner"]
            or (package.is_free and package.status == Package.Status.LISTED)
            or any(lic.can_execute for lic in usable)
        )
    analytics.track(request, "package.view", package_id=package.pk)
    return {"store": context}


def console(request, package: Package | None) -> dict:
    """The console dashboard: creator status (Connect onboarding), balance, sales to date."""
    user = request.user
    creator = Creator.objects.filter(user=user).first()
    context: dict[str, object] = {"creator": creator}
    if package is not None:
        context["listings"] = list(
            Listing.objects.filter(package=package).order_by("-is_active", "price_amount")
        )
        return {"store": context}
    if creator is not None:
        context["balance"] = dict(
            CreatorEarning.objects.filter(creator=creator)
            .values_list("currency")
            .annotate(total=Sum("net_amount"))
            .order_by()
        )
    sales = OrderLine.objects.filter(
        package__owner=user, order__status__in=["paid", "partially_refunded"]
    )
    context["sales_count"] = sales.count()
    context["seller_currency"] = seller_currency(user)
    context["open_reviews"] = (
        Review.objects.visible().filter(package__owner=user, creator_response="").count()
    )
    return {"store": context}


def category_choices() -> list[tuple[str, str]]:
    """The category tree as the package form's choices: (path, "Parent › Child"), in the order
    the catalog shows it (cached with the facets)."""
    choices: list[tuple[str, str]] = []

    def walk(nodes: list[CategoryNode], trail: str) -> None:
        for node in nodes:
            label = f"{trail} › {node.category.name}" if trail else node.category.name
            choices.append((node.category.path, label))
            walk(node.children, label)

    walk(category_tree(), "")
    return choices
