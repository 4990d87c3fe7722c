"""The catalog: one search row per package, kept in step with the registry, and the queries the
storefront browses and searches with.

Indexing (``index_packages``) denormalises what the cards, filters and sorts need into
``PackageSearch`` and, on PostgreSQL, stores a weighted ``tsvector`` (A: name, B: tags, creator,
category and variable names, C: summary, D: description) that a GIN index serves, plus a small
rank vector (name, tags/creator/category, summary) that orders the matches. Searching
(``search``) never computes a vector per query: it matches the stored document, ranks only the
first matches by the rank vector, and caps the count it reports. On SQLite (the embedded
default) it falls back to ``icontains`` over the same text columns.

Registry never imports this module: ``catalog.signals`` re-indexes a package when it, its
versions or its listings are saved, and ``manage.py rebuild_search_index`` rebuilds everything.
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import BooleanField, Count, F, Q, QuerySet, Value
from django.db.models.expressions import CombinedExpression, OrderBy, RawSQL
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Creator, User
from catalog.models import Category, PackageSearch, PackageTag, Tag, WishlistItem
from marketplace.models import Listing
from registry.models import Package, PackageVersion, Variable

PAGE_SIZE = 20
# Counting every match of a common word costs as much as ranking them; "1,000+" is enough.
COUNT_CAP = 1000
RANK_CANDIDATES = 1000
MAX_PAGE = COUNT_CAP // PAGE_SIZE
MAX_VARIABLE_TERMS = 4000
SEARCH_CONFIG = "english"
FACET_CACHE_SECONDS = 300

SORTS = {
    "relevance": "Best match",
    "popular": "Most downloaded and run",
    "trending": "Trending",
    "newest": "Newest",
    "rating": "Highest rated",
    "price": "Price: low to high",
    "name": "Name",
}
PRICE_MODELS = {
    "free": "Free",
    "paid": "One-time purchase",
    "subscription": "Subscription",
    "trial": "Free trial",
}
PLATFORMS = {"linux": "Linux", "windows": "Windows", "macos": "macOS"}
KINDS = {"cs": "Co-Simulation", "me": "Model Exchange"}
FMI_VERSIONS = ("1.0", "2.0", "3.0")

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


# --- indexing --------------------------------------------------------------------------------


def variable_terms(names: Iterable[str]) -> list[str]:
    """Searchable phrases of variable names, one per name, its parts adjacent so that phrase
    queries match: ``engine.speed`` → "engine speed", ``v_min`` → "v min", ``der(h)`` → "der h",
    ``T_ambientAir`` → "T ambientAir ambient Air" (the parser folds case)."""
    seen: dict[str, None] = {}
    for name in names:
        words = []
        for part in _NON_ALNUM.split(name):
            if not part:
                continue
            words.append(part)
            pieces = _CAMEL.split(part)
            if len(pieces) > 1:
                words.extend(pieces)
        if words:
            seen.setdefault(" ".join(words))
        if len(seen) >= MAX_VARIABLE_TERMS:
            break
    return list(seen)


def _platform_flags(platforms: list[str]) -> dict[str, bool]:
    names = [name.lower() for name in platforms or ()]
    return {
        "platform_linux": any("linux" in name for name in names),
        # FMI 2: win32/win64; FMI 3: x86_64-windows ("darwin" contains "win": be exact).
        "platform_windows": any(name.startswith("win") or "windows" in name for name in names),
        "platform_macos": any("darwin" in name or "mac" in name for name in names),
    }


def _category_lookup() -> dict[str, Category]:
    lookup: dict[str, Category] = {}
    for category in Category.objects.all():
        for key in (category.name.lower(), category.slug, category.path):
            lookup.setdefault(key, category)
        lookup[category.path] = category  # a full path always wins
    return lookup


def resolve_category(text: str, lookup: dict[str, Category] | None = None) -> Category | None:
    """The category a package names: its path ("mechanics/vehicles"), slug or name."""
    text = (text or "").strip()
    if not text:
        return None
    lookup = lookup if lookup is not None else _category_lookup()
    for key in (text.lower().strip("/"), slugify(text)):
        if key in lookup:
            return lookup[key]
    return None


def _latest_validated(package_ids: list[int]) -> dict[int, PackageVersion]:
    latest: dict[int, PackageVersion] = {}
    versions = (
        PackageVersion.objects.filter(
            package_id__in=package_ids,
            validation_status=PackageVersion.ValidationStatus.PASSED,
            yanked_at__isnull=True,
        )
        .only(
            "package_id",
            "fmi_version",
            "model_name",
            "model_description",
            "generation_tool",
            "supports_co_simulation",
            "supports_model_exchange",
            "platforms",
            "certified",
            "created_at",
        )
        .order_by("package_id", "-created_at", "-id")
    )
    for version in versions:
        latest.setdefault(version.package_id, version)
    return latest


def _pricing(listings: list[Mapping[str, Any]], package_is_free: bool) -> dict[str, Any]:
    models = {row["pricing_model"] for row in listings}
    paid = [row for row in listings if row["price_amount"] > 0]
    cheapest = min(paid, key=lambda row: row["price_amount"]) if paid else None
    has_free = package_is_free or Listing.PricingModel.FREE in models
    return {
        "has_free": has_free,
        "has_paid": Listing.PricingModel.PAID in models,
        "has_subscription": Listing.PricingModel.SUBSCRIPTION in models,
        "has_trial": Listing.PricingModel.TRIAL in models,
        # Free packages sort first by price; paid ones by their cheapest SKU.
        "min_price_amount": 0 if has_free else (cheapest["price_amount"] if cheapest else None),
        "currency": cheapest["currency"] if cheapest else "",
    }


FACET_FIELDS = [
    "listed",
    "creator",
    "category",
    "latest_version",
    "title",
    "keywords",
    "variables",
    "summary",
    "body",
    "fmi_version",
    "supports_cs",
    "supports_me",
    "platform_linux",
    "platform_windows",
    "platform_macos",
    "certified",
    "validated",
    "has_free",
    "has_paid",
    "has_subscription",
    "has_trial",
    "min_price_amount",
    "currency",
    "indexed_at",
]


_DOCUMENT_WEIGHTS = (
    ("title", "A"),
    ("keywords", "B"),
    ("variables", "B"),
    ("summary", "C"),
    ("body", "D"),
)
_RANK_WEIGHTS = (("title", "A"), ("keywords", "B"), ("summary", "C"))


def _weighted_vector(
    weights: Iterable[tuple[str, str]], row: PackageSearch | None
) -> SearchVector | CombinedExpression | None:
    """The text columns' vectors with their weights, read from the table's own columns, or,
    given an unsaved ``row``, from its values (written by the INSERT itself)."""
    vector: SearchVector | CombinedExpression | None = None
    for column, weight in weights:
        source = column if row is None else Value(getattr(row, column) or "")
        part = SearchVector(source, weight=weight, config=SEARCH_CONFIG)
        vector = part if vector is None else vector + part
    return vector


def document_expression(
    row: PackageSearch | None = None,
) -> SearchVector | CombinedExpression | None:
    """The weighted document (A: name, B: tags, creator, category, variable names, C: summary,
    D: description), from the row's columns or, given ``row``, from its values."""
    return _weighted_vector(_DOCUMENT_WEIGHTS, row)


def rank_document_expression(
    row: PackageSearch | None = None,
) -> SearchVector | CombinedExpression | None:
    """The rank vector: the short fields relevance is about, with the document's weights."""
    return _weighted_vector(_RANK_WEIGHTS, row)


def index_packages(package_ids: Iterable[int], *, chunk_size: int = 500) -> int:
    """(Re)build the catalog rows of these packages; returns how many were written.

    Guarantees: the facets and text reflect the package, its newest validated version, its
    active listings, its creator and its tags as committed now; ratings, activity counters and
    ``featured`` are kept. A package that no longer exists loses its row.
    """
    ids = sorted({int(pk) for pk in package_ids})
    written = 0
    lookup = _category_lookup() if ids else {}
    for start in range(0, len(ids), chunk_size):
        written += _index_chunk(ids[start : start + chunk_size], lookup)
    if written:
        invalidate_facets()
    return written


# pg_advisory_xact_lock's first key: the catalog index's lock space (the second: the package).
_INDEX_LOCK_SPACE = 0x6361_7401


def _lock_packages(ids: list[int]) -> None:
    """Hold these packages' index locks until the transaction ends (PostgreSQL), taken in id order.

    Two transactions re-indexing one package (sibling versions validated at once) then run one
    after the other, and the second reads what the first committed: without it each wrote what
    it alone saw (a stale newest version), and the second's tag rows collided with the first's.
    Ids are folded into the lock's 32-bit key: two packages sharing a lock only wait for each
    other."""
    if not is_postgres():
        return  # SQLite runs one writer at a time
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, (id %% 2147483648)::int)"
            " FROM unnest(%s::bigint[]) AS id ORDER BY id",
            [_INDEX_LOCK_SPACE, ids],
        )


def _write_tags(tags_of: dict[int, dict[str, str]]) -> None:
    """Make the packages' tag rows exactly ``tags_of`` ({package: {slug: name}}) by writing only
    the difference; every insert is ``ON CONFLICT DO NOTHING``, so a row another transaction
    wrote first is no error."""
    wanted = {slug: name for tags in tags_of.values() for slug, name in tags.items()}
    tag_ids = dict(Tag.objects.filter(slug__in=wanted).values_list("slug", "pk"))
    if missing := [slug for slug in wanted if slug not in tag_ids]:
        Tag.objects.bulk_create(
            [Tag(slug=slug, name=wanted[slug]) for slug in missing], ignore_conflicts=True
        )
        tag_ids.update(Tag.objects.filter(slug__in=missing).values_list("slug", "pk"))
    pairs = {
        (package_id, tag_ids[slug])
        for package_id, tags in tags_of.items()
        for slug in tags
        if slug in tag_ids
    }
    existing = PackageTag.objects.filter(package_id__in=list(tags_of))
    stale = []
    for row_id, package_id, tag_id in existing.values_list("pk", "package_id", "tag_id"):
        if (package_id, tag_id) in pairs:
            pairs.discard((package_id, tag_id))
        else:
            stale.append(row_id)
    if stale:
        PackageTag.objects.filter(pk__in=stale).delete()
    if pairs:
        PackageTag.objects.bulk_create(
            [PackageTag(package_id=package_id, tag_id=tag_id) for package_id, tag_id in pairs],
            ignore_conflicts=True,
        )


@transaction.atomic
def _index_chunk(ids: list[int], lookup: dict[str, Category]) -> int:
    _lock_packages(ids)
    packages = list(
        Package.objects.filter(pk__in=ids)
        .select_related("owner")
        .only(
            "name",
            "summary",
            "description",
            "category",
            "tags",
            "is_free",
            "status",
            "owner__display_name",
            "owner__email",
        )
    )
    found = {package.pk for package in packages}
    PackageSearch.objects.filter(pk__in=[pk for pk in ids if pk not in found]).delete()
    if not packages:
        return 0
    creators = {
        creator.user_id: creator
        for creator in Creator.objects.filter(
            user_id__in={package.owner_id for package in packages}
        )
    }
    latest = _latest_validated(ids)
    names: dict[int, list[str]] = defaultdict(list)
    for version_id, name in Variable.objects.filter(
        version_id__in=[version.pk for version in latest.values()]
    ).values_list("version_id", "name"):
        names[version_id].append(name)
    listings: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for listing in Listing.objects.filter(package_id__in=ids, is_active=True).values(
        "package_id", "pricing_model", "price_amount", "currency"
    ):
        listings[listing["package_id"]].append(listing)
    tags_of = {
        package.pk: {
            slugify(str(tag))[:60]: str(tag)[:60] for tag in package.tags or () if slugify(str(tag))
        }
        for package in packages
    }
    _write_tags(tags_of)
    now = timezone.now()
    rows = []
    for package in packages:
        version = latest.get(package.pk)
        creator = creators.get(package.owner_id)
        category = resolve_category(package.category, lookup)
        creator_name = creator.display_name if creator else package.owner.get_full_name()
        keywords = [
            " ".join(tags_of[package.pk].values()),
            creator_name,
            category.name if category else package.category,
        ]
        body = [package.description]
        variables = ""
        facets = {}
        if version is not None:
            keywords.append(version.model_name)
            variables = "\n".join(variable_terms(names[version.pk]))
            body.append(version.model_description)
            facets = {
                "fmi_version": version.fmi_version,
                "supports_cs": version.supports_co_simulation,
                "supports_me": version.supports_model_exchange,
                "certified": version.certified,
                "validated": True,
                **_platform_flags(version.platforms),
            }
        rows.append(
            PackageSearch(
                package=package,
                creator=creator,
                category=category,
                latest_version=version,
                listed=package.status == Package.Status.LISTED,
                title=package.name[:255],
                keywords="\n".join(part for part in keywords if part),
                variables=variables,
                summary=package.summary,
                body="\n".join(part for part in body if part),
                indexed_at=now,
                **facets,
                **_pricing(listings[package.pk], package.is_free),
            )
        )
    vectors = []
    if is_postgres():
        # Computed by the upsert itself: an UPDATE afterwards wrote every row twice (two dead
        # tuples per re-index; a rebuild left the table half empty).
        for row in rows:
            row.document = document_expression(row)
            row.rank_document = rank_document_expression(row)
        vectors = ["document", "rank_document"]
    PackageSearch.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["package"],
        update_fields=[name for name in FACET_FIELDS if name != "package"] + vectors,
    )
    return len(rows)


def rebuild_index(
    *, chunk_size: int = 500, progress: Callable[[int, int], object] | None = None
) -> int:
    """Re-index every package (``manage.py rebuild_search_index``)."""
    ids = list(Package.objects.order_by("pk").values_list("pk", flat=True))
    done = 0
    lookup = _category_lookup()
    for start in range(0, len(ids), chunk_size):
        done += _index_chunk(ids[start : start + chunk_size], lookup)
        if progress:
            progress(done, len(ids))
    invalidate_facets()
    return done


def ensure_row(package_id: int) -> None:
    if not PackageSearch.objects.filter(pk=package_id).exists():
        index_packages([package_id])


# --- searching -------------------------------------------------------------------------------


@dataclass
class CatalogQuery:
    """What a catalog page asks for (parsed and validated by ``marketplace.forms``)."""

    q: str = ""
    category: Category | None = None
    tags: list[str] = field(default_factory=list)
    price: str = ""
    fmi: str = ""
    kind: str = ""
    platform: str = ""
    certified: bool = False
    min_rating: int = 0
    creator: Creator | None = None
    sort: str = ""
    page: int = 1

    @property
    def effective_sort(self) -> str:
        if self.sort in SORTS and (self.sort != "relevance" or self.q):
            return self.sort
        return "relevance" if self.q else "popular"

    @property
    def is_filtered(self) -> bool:
        return bool(
            self.q
            or self.category
            or self.tags
            or self.price
            or self.fmi
            or self.kind
            or self.platform
            or self.certified
            or self.min_rating
        )


@dataclass
class CatalogPage:
    results: list[PackageSearch] | list[CatalogCard]
    total: int
    capped: bool
    page: int
    page_size: int = PAGE_SIZE

    @property
    def num_pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.num_pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.page_size + 1 if self.results else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.page_size + len(self.results)


def listed_entries() -> QuerySet[PackageSearch]:
    """Catalog rows of listed packages, with what a result card shows (no big text columns)."""
    return (
        PackageSearch.objects.filter(package__status=Package.Status.LISTED)
        .select_related("package", "creator", "category")
        .defer(
            "keywords",
            "variables",
            "body",
            "document",
            "rank_document",
            "package__description",
            "package__license_text",
            "package__review_note",
        )
    )


# What a result card shows (``catalog/_results.html``): a search page reads only these columns.
CARD_FIELDS = (
    "title",
    "summary",
    "fmi_version",
    "supports_cs",
    "supports_me",
    "certified",
    "validated",
    "has_free",
    "has_paid",
    "has_subscription",
    "has_trial",
    "min_price_amount",
    "currency",
    "rating_count",
    "rating_avg",
    "package__slug",
    "package__summary",
    "package__owner_id",
    "creator__slug",
    "creator__display_name",
    "category__name",
    "category__path",
)


def card_entries() -> QuerySet[PackageSearch]:
    """``listed_entries`` narrowed to the columns of a result card."""
    return listed_entries().only(*CARD_FIELDS)


@dataclass(slots=True)
class CardPackage:
    slug: str
    summary: str
    owner_id: int


@dataclass(slots=True)
class CardCreator:
    slug: str
    display_name: str


@dataclass(slots=True)
class CardCategory:
    name: str
    path: str


@dataclass(slots=True)
class CatalogCard:
    """What a result card shows (``CARD_FIELDS``), read without the ORM: building the
    select_related query for 20 rows cost ~2.5 ms of Python, reading them ~0.3 ms."""

    pk: int
    title: str
    summary: str
    fmi_version: str
    supports_cs: bool
    supports_me: bool
    certified: bool
    validated: bool
    has_free: bool
    has_paid: bool
    has_subscription: bool
    has_trial: bool
    min_price_amount: int | None
    currency: str
    rating_count: int
    rating_avg: float
    package: CardPackage
    creator_id: int | None
    creator: CardCreator | None
    category_id: int | None
    category: CardCategory | None


def _card(row: Sequence[Any]) -> CatalogCard:
    """A result card from the ranked statement's card columns."""
    creator = CardCreator(row[20], row[21]) if row[19] is not None else None
    category = CardCategory(row[23], row[24]) if row[22] is not None else None
    # row[:16] are the card's first 16 fields (CARD_FIELDS): mypy cannot count a slice.
    return CatalogCard(*row[:16], CardPackage(*row[16:19]), row[19], creator, row[22], category)  # type: ignore[call-arg]


def _filtered(query: CatalogQuery) -> QuerySet[PackageSearch]:
    return _filtered_query(card_entries(), query)


# The catalog's filters as SQL conditions on the catalog row, written once for both paths: the
# ORM queries (browsing, sorted searches, counts; PostgreSQL and SQLite) take them as one RawSQL
# condition, the ranked statement (PostgreSQL) inlines them. Building them through the ORM cost
# ~1 ms of Python a search page. Columns are named by table, as the ORM names them.
_ROW = '"marketplace_packagesearch"'


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _filter_conditions(query: CatalogQuery) -> tuple[list[str], list[Any]]:
    """``query``'s filters (not its text) as SQL conditions on the catalog row alone, and their
    parameters."""
    conditions: list[str] = []
    params: list[Any] = []
    if query.category is not None:
        conditions.append(
            '"marketplace_packagesearch"."category_id" IN (SELECT "id" FROM "marketplace_category"'
            ' WHERE "id" = %s OR "path" LIKE %s ESCAPE \'\\\')'
        )
        params += [query.category.pk, _like_prefix(query.category.path + "/")]
    if query.creator is not None:
        conditions.append(f'{_ROW}."creator_id" = %s')
        params.append(query.creator.pk)
    for slug in query.tags:
        conditions.append(
            '"marketplace_packagesearch"."package_id" IN (SELECT pt."package_id"'
            ' FROM "marketplace_packagetag" pt'
            ' JOIN "marketplace_tag" t ON t."id" = pt."tag_id" WHERE t."slug" = %s)'
        )
        params.append(slug)
    if query.price in PRICE_MODELS:
        conditions.append(f'{_ROW}."has_{query.price}"')
    if query.fmi in FMI_VERSIONS:
        conditions.append(f'{_ROW}."fmi_version" = %s')
        params.append(query.fmi)
    if query.kind in KINDS:
        conditions.append(f'{_ROW}."supports_{query.kind}"')
    if query.platform in PLATFORMS:
        conditions.append(f'{_ROW}."platform_{query.platform}"')
    if query.certified:
        conditions.append(f'{_ROW}."certified"')
    if query.min_rating:
        conditions.append(f'{_ROW}."rating_avg" >= %s AND {_ROW}."rating_count" > 0')
        params.append(query.min_rating)
    return conditions, params


def _filtered_query(qs: QuerySet[PackageSearch], query: CatalogQuery) -> QuerySet[PackageSearch]:
    conditions, params = _filter_conditions(query)
    if not conditions:
        return qs
    where = " AND ".join(f"({condition})" for condition in conditions)
    # Our own constant conditions; every value is a parameter.
    return qs.filter(RawSQL(where, params, output_field=BooleanField()))  # noqa: S611


# "engine.speed": PostgreSQL's parser reads a dotted word as one host-name token, which the
# indexed "engine speed" never holds. A dot before a digit ("1.5") stays.
_NAME_DOT = re.compile(r"(?<=[0-9A-Za-z])\.(?=[A-Za-z])")
_TEXT_COLUMNS = ("title", "keywords", "variables", "summary", "body")


def _websearch_text(text: str) -> str:
    return _NAME_DOT.sub(" ", text)


def _contains_any_column(text: str) -> Q:
    condition = Q()
    for column in _TEXT_COLUMNS:
        condition |= Q(**{f"{column}__icontains": text})
    return condition


def _text_filter(qs: QuerySet[PackageSearch], text: str) -> QuerySet[PackageSearch]:
    """Match ``text``: the stored document on PostgreSQL, ``icontains`` on every word
    elsewhere. A word that is a variable name (``der(h)``, ``v_min``, ``engine.speed``) also
    matches as the phrase it was indexed as (``variable_terms``: "der h")."""
    if is_postgres():
        return qs.filter(
            document=SearchQuery(
                _websearch_text(text), search_type="websearch", config=SEARCH_CONFIG
            )
        )
    for word in text.split()[:8]:
        condition = _contains_any_column(word)
        phrase = " ".join(part for part in _NON_ALNUM.split(word) if part)
        if phrase and phrase != word:
            condition |= _contains_any_column(phrase)
        qs = qs.filter(condition)
    return qs


def _matching(query: CatalogQuery) -> QuerySet[PackageSearch]:
    """Listed packages matching the filters and the text: no select_related, no ordering."""
    qs = _filtered_query(
        PackageSearch.objects.filter(package__status=Package.Status.LISTED), query
    ).order_by()
    if query.q:
        qs = _text_filter(qs, query.q)
    return qs


def _filtered_count(query: CatalogQuery) -> int:
    """Matches, counted up to ``COUNT_CAP + 1`` (a bounded scan, however common the word)."""
    return _matching(query).values("pk")[: COUNT_CAP + 1].count()


# The matches straight from the GIN index (up to COUNT_CAP + 1: the capped count), each ranked
# by its small rank vector while the scan has the row in hand, the first RANK_CANDIDATES of them
# sorted, and one page of them read as cards: one statement, one round trip. The count comes
# through the LEFT JOIN even when the page is past the end (no card). A card is shown only if
# its package is listed now, whatever the catalog row says.
_RANKED_SQL = """
WITH matches (package_id, rank, popularity) AS MATERIALIZED (
    SELECT "marketplace_packagesearch"."package_id",
           ts_rank("marketplace_packagesearch"."rank_document",
                   websearch_to_tsquery(%s::regconfig, %s)),
           "marketplace_packagesearch"."popularity"
      FROM "marketplace_packagesearch"
     WHERE "marketplace_packagesearch"."listed"
       AND "marketplace_packagesearch"."document"
           @@ websearch_to_tsquery(%s::regconfig, %s){filters}
     LIMIT %s
)
SELECT counted.total, card.*
  FROM (SELECT count(*) AS total FROM matches) AS counted
  LEFT JOIN LATERAL (
      SELECT s.package_id, s.title, s.summary, s.fmi_version, s.supports_cs, s.supports_me,
             s.certified, s.validated, s.has_free, s.has_paid, s.has_subscription, s.has_trial,
             s.min_price_amount, s.currency, s.rating_count, s.rating_avg,
             p.slug, p.summary, p.owner_id, s.creator_id, c.slug, c.display_name,
             s.category_id, g.name, g.path,
             ranked.rank, ranked.popularity
        FROM (SELECT candidates.package_id, candidates.rank, candidates.popularity
                FROM (SELECT * FROM matches LIMIT %s) AS candidates
               ORDER BY candidates.rank DESC, candidates.popularity DESC, candidates.package_id
               LIMIT %s OFFSET %s) AS ranked
        JOIN marketplace_packagesearch s ON s.package_id = ranked.package_id
        JOIN registry_package p ON p.id = s.package_id
        LEFT JOIN marketplace_creator c ON c.id = s.creator_id
        LEFT JOIN marketplace_category g ON g.id = s.category_id
       WHERE p.status = %s
  ) AS card ON true
 ORDER BY card.rank DESC, card.popularity DESC, card.package_id
"""


def ranked_page_sql(query: CatalogQuery, page: int) -> tuple[str, list[Any]]:
    """The statement of a ranked search (PostgreSQL): rows of (capped count, card columns...),
    one row with the count alone when the page has no card."""
    conditions, filter_params = _filter_conditions(query)
    filters = "".join(f"\n       AND ({condition})" for condition in conditions)
    params = [
        SEARCH_CONFIG,
        _websearch_text(query.q),
        SEARCH_CONFIG,
        _websearch_text(query.q),
        *filter_params,
        COUNT_CAP + 1,
        RANK_CANDIDATES,
        PAGE_SIZE,
        (page - 1) * PAGE_SIZE,
        Package.Status.LISTED.value,
    ]
    return _RANKED_SQL.format(filters=filters), params


def _ranked_page(query: CatalogQuery, page: int) -> tuple[int, list[CatalogCard]]:
    with connection.cursor() as cursor:
        cursor.execute(*ranked_page_sql(query, page))
        rows = cursor.fetchall()
    return rows[0][0], [_card(row[1:]) for row in rows if row[1] is not None]


def _clamp_page(requested: int, total: int) -> int:
    return max(1, min(requested, max(1, math.ceil(total / PAGE_SIZE)), MAX_PAGE))


_ORDERINGS: dict[str, list[str | OrderBy]] = {
    "popular": [F("popularity").desc(), F("rating_avg").desc(), "package_id"],
    "trending": [F("trending_score").desc(), F("popularity").desc(), "package_id"],
    "newest": [F("package__listed_at").desc(), "-package_id"],
    "rating": [F("rating_avg").desc(), F("rating_count").desc(), "package_id"],
    "price": [F("min_price_amount").asc(nulls_last=True), "title", "package_id"],
    "name": ["title", "package_id"],
}


def search(query: CatalogQuery) -> CatalogPage:
    """One page of the catalog for ``query``, in one or two queries whatever the catalog's size.

    Ranked searches (PostgreSQL): one statement takes the first ``COUNT_CAP + 1`` matches
    straight from the GIN index (they are the capped count too), ranks only those candidates
    by the small rank vector (name A, tags/creator/category B, summary C; a match only in the
    description or the variable names ranks by popularity) and reads one page of them as
    cards. Ranking is the cost of full-text search (a word in most packages would rank them
    all), so a very common word is ranked among its first ``RANK_CANDIDATES`` matches; a
    specific query (fewer matches) has every match ranked. Browsing and sorted searches: a
    count capped at ``COUNT_CAP`` (a bounded scan), then the page.
    """
    sort = query.effective_sort
    if sort == "relevance" and query.q and is_postgres():
        page = max(1, min(query.page, MAX_PAGE))
        counted, results = _ranked_page(query, page)
        ranked = min(counted, RANK_CANDIDATES)
        if not results and page > 1 and (page - 1) * PAGE_SIZE >= ranked:
            page = _clamp_page(page, ranked)  # past the last page: show the last one
            counted, results = _ranked_page(query, page)
        total = min(counted, COUNT_CAP)
        return CatalogPage(results=results, total=total, capped=counted > COUNT_CAP, page=page)
    qs = _filtered(query)
    if query.q:
        qs = _text_filter(qs, query.q)
    ordering = _ORDERINGS["popular" if sort == "relevance" else sort]
    counted = _filtered_count(query)
    total = min(counted, COUNT_CAP)
    page = _clamp_page(query.page, total)
    offset = (page - 1) * PAGE_SIZE
    rows = list(qs.order_by(*ordering)[offset : offset + PAGE_SIZE]) if total else []
    return CatalogPage(results=rows, total=total, capped=counted > COUNT_CAP, page=page)


# --- facets, home sections -------------------------------------------------------------------

FACET_VERSION_KEY = "catalog:facets:version"


# Each process also keeps the facets it read for FACET_LOCAL_SECONDS: every catalog page shows
# them, and reading them from the cache (two round trips, unpickling the category tree) cost
# ~2.5 ms a page. Another process's invalidation shows here within that time.
_local_facets: dict[str, tuple[float, object]] = {}


def _facet_key(name: str) -> str:
    return f"catalog:facets:{cache.get_or_set(FACET_VERSION_KEY, 1)}:{name}"


_Facet = TypeVar("_Facet")


def _facet(name: str, build: Callable[[], _Facet]) -> _Facet:
    """``build()``'s value, cached. Both caches hold only what ``build`` returned: the casts
    say so to mypy (the cache is untyped)."""
    now = time.monotonic()
    held = _local_facets.get(name)
    if held is not None and held[0] > now:
        return cast(_Facet, held[1])
    value = cast(_Facet, cache.get_or_set(_facet_key(name), build, FACET_CACHE_SECONDS))
    _local_facets[name] = (now + settings.FACET_LOCAL_SECONDS, value)
    return value


def invalidate_facets() -> None:
    _local_facets.clear()
    try:
        cache.incr(FACET_VERSION_KEY)
    except ValueError:
        cache.set(FACET_VERSION_KEY, 2)


@dataclass
class CategoryNode:
    category: Category
    count: int
    children: list[CategoryNode] = field(default_factory=list)


def category_tree() -> list[CategoryNode]:
    """The category tree with listed-package counts (a node counts its subtree); cached."""

    def build() -> list[CategoryNode]:
        direct = dict(
            PackageSearch.objects.filter(
                package__status=Package.Status.LISTED, category__isnull=False
            )
            .values_list("category_id")
            .annotate(n=Count("pk"))
            .order_by()
        )
        categories = list(Category.objects.order_by("position", "name"))
        nodes = {c.pk: CategoryNode(c, 0) for c in categories}
        roots = []
        for category in categories:
            node = nodes[category.pk]
            if category.parent_id and category.parent_id in nodes:
                nodes[category.parent_id].children.append(node)
            else:
                roots.append(node)

        def total(node: CategoryNode) -> int:
            node.count = direct.get(node.category.pk, 0) + sum(map(total, node.children))
            return node.count

        for root in roots:
            total(root)
        return roots

    return _facet("categories", build)


def popular_tags(limit: int = 30) -> list[tuple[str, str, int]]:
    """(slug, name, listed packages) of the most used tags; cached."""

    def build() -> list[tuple[str, str, int]]:
        rows = (
            Tag.objects.filter(package_tags__package__status=Package.Status.LISTED)
            .annotate(n=Count("package_tags"))
            .order_by("-n", "slug")[:limit]
        )
        return [(tag.slug, tag.name, tag.n) for tag in rows]

    return _facet(f"tags:{limit}", build)


def featured(limit: int = 6) -> list[PackageSearch]:
    return list(listed_entries().filter(featured=True).order_by("-trending_score", "title")[:limit])


def trending(limit: int = 8) -> list[PackageSearch]:
    return list(
        listed_entries()
        .filter(trending_score__gt=0)
        .order_by("-trending_score", "-popularity", "package_id")[:limit]
    )


def newest(limit: int = 8) -> list[PackageSearch]:
    return list(listed_entries().order_by(F("package__listed_at").desc(), "-package_id")[:limit])


# --- wishlist --------------------------------------------------------------------------------


def toggle_wishlist(user: User, package: Package) -> bool:
    """Add the package to the user's wishlist, or remove it; returns whether it is on it now."""
    deleted, _ = WishlistItem.objects.filter(user=user, package=package).delete()
    if deleted:
        return False
    WishlistItem.objects.get_or_create(user=user, package=package)
    return True
