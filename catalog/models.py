"""Catalog: categories, tags, the search document, reviews, wishlists and analytics events.

The storefront's discovery side. It reads packages, listings and orders; nothing below it
reads the catalog.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from registry.models import Package

# --- Catalog: categories, tags and the search document ---------------------------------------


class Category(models.Model):
    """A node of the catalog's category tree; ``path`` ("mechanics/vehicles") is kept from the
    parents' slugs. Packages name their category by path, slug or name (``Package.category``)."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=255, unique=True, editable=False)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "marketplace_category"  # kept from before the split
        ordering = ["path"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["parent", "slug"], name="mkt_category_slug_per_parent")
        ]

    def __str__(self) -> str:
        return self.path

    def save(self, *args, **kwargs):
        self.path = f"{self.parent.path}/{self.slug}" if self.parent_id else self.slug
        super().save(*args, **kwargs)
        for child in self.children.all():  # a moved or renamed node moves its subtree
            child.save()

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("catalog-category", kwargs={"path": self.path})

    @property
    def depth(self) -> int:
        return self.path.count("/")


class Tag(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=60)

    class Meta:
        db_table = "marketplace_tag"  # kept from before the split
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class PackageTag(models.Model):
    """A package's tag (from ``Package.tags``), kept by the catalog index for filtering."""

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="+")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="package_tags")

    class Meta:
        db_table = "marketplace_packagetag"  # kept from before the split
        ordering = ["package", "tag"]
        constraints = [
            models.UniqueConstraint(fields=["tag", "package"], name="mkt_package_tag_once")
        ]

    def __str__(self) -> str:
        return f"{self.package_id}:{self.tag_id}"


class PackageSearch(models.Model):
    """The catalog's row per package: the stored search document (a weighted ``tsvector`` with a
    GIN index on PostgreSQL), the facets the filters use, and the counters the sorts use.

    Derived data only: ``manage.py rebuild_search_index`` recreates every row from the registry,
    the listings, the reviews and the activity tables. The text columns feed the document on
    PostgreSQL and the ``icontains`` fallback on SQLite.
    """

    package = models.OneToOneField(
        Package, primary_key=True, on_delete=models.CASCADE, related_name="search"
    )
    creator = models.ForeignKey(
        "accounts.Creator", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    latest_version = models.ForeignKey(
        "registry.PackageVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The newest validated, not yanked version (what the card shows).",
    )
    # Search text (weights A, B, C, D) and the document built from it.
    title = models.CharField(max_length=255, blank=True)
    keywords = models.TextField(blank=True, help_text="Tags, creator, category, model name.")
    variables = models.TextField(blank=True, help_text="Variable names, as searchable phrases.")
    summary = models.TextField(blank=True)
    body = models.TextField(blank=True)
    document = SearchVectorField(null=True, blank=True, help_text="Everything: what matches.")
    # Ranking reads a vector per candidate: only the short fields relevance is about (title,
    # keywords, summary), so it stays small and inline, never a detoasted description or
    # thousands of variable names.
    rank_document = SearchVectorField(
        null=True, blank=True, help_text="Title, keywords, summary: what ranks the matches."
    )
    # Facets of the latest validated version.
    listed = models.BooleanField(
        default=False, help_text="The package is listed: a ranked search reads this, not a join."
    )
    fmi_version = models.CharField(max_length=8, blank=True)
    supports_cs = models.BooleanField(default=False)
    supports_me = models.BooleanField(default=False)
    platform_linux = models.BooleanField(default=False)
    platform_windows = models.BooleanField(default=False)
    platform_macos = models.BooleanField(default=False)
    certified = models.BooleanField(default=False)
    validated = models.BooleanField(default=False)
    # Pricing, from the active listings (and ``Package.is_free``).
    has_free = models.BooleanField(default=False)
    has_paid = models.BooleanField(default=False)
    has_subscription = models.BooleanField(default=False)
    has_trial = models.BooleanField(default=False)
    min_price_amount = models.PositiveBigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    # Ratings of the visible reviews (kept by marketplace.services.reviews).
    rating_count = models.PositiveIntegerField(default=0)
    rating_avg = models.FloatField(default=0)
    rating_1 = models.PositiveIntegerField(default=0)
    rating_2 = models.PositiveIntegerField(default=0)
    rating_3 = models.PositiveIntegerField(default=0)
    rating_4 = models.PositiveIntegerField(default=0)
    rating_5 = models.PositiveIntegerField(default=0)
    # Activity (refreshed by a periodic task from the activity tables).
    downloads_count = models.PositiveIntegerField(default=0)
    runs_count = models.PositiveIntegerField(default=0)
    purchases_count = models.PositiveIntegerField(default=0)
    views_count = models.PositiveIntegerField(default=0)
    popularity = models.PositiveIntegerField(default=0, help_text="downloads + runs + purchases")
    trending_score = models.FloatField(default=0, help_text="Weighted activity of the last days.")
    featured = models.BooleanField(default=False, help_text="Shown on the home page.")
    indexed_at = models.DateTimeField(null=True, blank=True)
    stats_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "marketplace_packagesearch"  # kept from before the split
        ordering = ["package"]
        verbose_name = "catalog entry"
        verbose_name_plural = "catalog entries"
        indexes = [
            GinIndex(fields=["document"], name="mkt_search_document_gin"),
            models.Index(fields=["category"], name="mkt_search_category_idx"),
            models.Index(fields=["-popularity"], name="mkt_search_popularity_idx"),
            models.Index(fields=["-trending_score"], name="mkt_search_trending_idx"),
            models.Index(fields=["-rating_avg", "-rating_count"], name="mkt_search_rating_idx"),
            models.Index(
                fields=["featured"], condition=Q(featured=True), name="mkt_search_featured_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def distribution(self) -> list[tuple[int, int, int]]:
        """(stars, count, percent of reviews) from 5 down to 1."""
        total = self.rating_count or 1
        return [
            (stars, count, round(100 * count / total))
            for stars, count in (
                (5, self.rating_5),
                (4, self.rating_4),
                (3, self.rating_3),
                (2, self.rating_2),
                (1, self.rating_1),
            )
        ]


# --- Reviews ----------------------------------------------------------------------------------


class ReviewQuerySet(models.QuerySet["Review"]):
    def visible(self) -> ReviewQuerySet:
        """What the package page shows and the rating summary counts. A reported review stays
        up until a moderator decides (a report alone must not silence a review)."""
        return self.filter(status__in=Review.VISIBLE_STATUSES)


class Review(models.Model):
    """A rating (1–5) with text by someone who bought or ran the package; one per user and
    package, editable. ``published → reported → published | hidden | removed``, or ``pending``
    while held for moderation."""

    class Status(models.TextChoices):
        PUBLISHED = "published", "Published"
        PENDING = "pending", "Pending moderation"
        HIDDEN = "hidden", "Hidden"
        REPORTED = "reported", "Reported"
        REMOVED = "removed", "Removed"

    VISIBLE_STATUSES = ("published", "reported")

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="reviews")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews"
    )
    version = models.ForeignKey(
        "registry.PackageVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The version that was current when the review was written.",
    )
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    pros = models.TextField(blank=True)
    cons = models.TextField(blank=True)
    verified_purchase = models.BooleanField(default=False)
    ran_model = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PUBLISHED)
    moderation_note = models.TextField(blank=True)
    helpful_count = models.PositiveIntegerField(default=0)
    not_helpful_count = models.PositiveIntegerField(default=0)
    report_count = models.PositiveIntegerField(default=0)
    creator_response = models.TextField(blank=True)
    creator_responded_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        db_table = "marketplace_review"  # kept from before the split
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["package", "status", "-created_at"], name="mkt_review_pkg_idx"),
            models.Index(fields=["status", "-updated_at"], name="mkt_review_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["package", "author"], name="mkt_review_once_per_user"),
            models.CheckConstraint(
                condition=Q(rating__gte=1, rating__lte=5), name="mkt_review_rating_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.title}"

    @property
    def is_visible(self) -> bool:
        return self.status in self.VISIBLE_STATUSES


class ReviewVote(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    helpful = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "marketplace_reviewvote"  # kept from before the split
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["review", "user"], name="mkt_review_vote_once")
        ]

    def __str__(self) -> str:
        return f"{'+' if self.helpful else '-'} on review {self.review_id}"


class ReviewReport(models.Model):
    """Someone's abuse report on a review; moderators resolve or dismiss it in the admin."""

    class Reason(models.TextChoices):
        SPAM = "spam", "Spam or advertising"
        ABUSE = "abuse", "Abusive or offensive"
        FAKE = "fake", "Fake or misleading"
        OFF_TOPIC = "off_topic", "Not about this model"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved (action taken)"
        DISMISSED = "dismissed", "Dismissed"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    details = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "marketplace_reviewreport"  # kept from before the split
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["review", "reporter"], name="mkt_review_report_once")
        ]

    def __str__(self) -> str:
        return f"report on review {self.review_id} ({self.reason})"


class WishlistItem(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wishlist"
    )
    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "marketplace_wishlistitem"  # kept from before the split
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "package"], name="mkt_wishlist_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ♥ {self.package_id}"


# --- Analytics --------------------------------------------------------------------------------


class AnalyticsEventQuerySet(models.QuerySet["AnalyticsEvent"]):
    def update(self, **kwargs):
        raise PermissionError("Analytics events are append-only.")


class AnalyticsEvent(models.Model):
    """One thing that happened (a page view, a search, a purchase), appended after the response
    (``marketplace.services.analytics``). No foreign-key constraints: writes stay cheap and
    events outlive what they name."""

    class Kind(models.TextChoices):
        PACKAGE_VIEW = "package.view", "Package viewed"
        PACKAGE_DOWNLOAD = "package.download", "Package downloaded"
        PACKAGE_RUN = "package.run", "Package run"
        PACKAGE_PURCHASE = "package.purchase", "Package purchased"
        SEARCH = "search.query", "Search"
        REVIEW = "review.create", "Review written"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    package = models.ForeignKey(
        Package,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    user_id = models.BigIntegerField(null=True, blank=True)
    session = models.CharField(max_length=64, blank=True, help_text="A hash of the session key.")
    query = models.CharField(max_length=200, blank=True)
    result_count = models.IntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    referrer = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AnalyticsEventQuerySet.as_manager()

    class Meta:
        db_table = "marketplace_analyticsevent"  # kept from before the split
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["kind", "-created_at"], name="mkt_event_kind_idx"),
            models.Index(fields=["package", "kind", "-created_at"], name="mkt_event_pkg_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.package_id or self.query}"
