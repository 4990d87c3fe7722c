"""Catalog search and filters: the stored search document, facets, sorts and the index upkeep."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from catalog.models import AnalyticsEvent, Category, PackageSearch, PackageTag
from catalog.services import analytics, search
from catalog.tasks import flush_analytics
from catalog.tests.catalog_helpers import published_version
from marketplace.factories import CreatorFactory, ListingFactory
from registry.factories import PackageFactory
from registry.models import Package, PackageVersion
from registry.tests.fixtures import upload_sample

pytestmark = pytest.mark.django_db


def listed(owner=None, **fields) -> Package:
    owner = owner or CreatorFactory().user
    return PackageFactory.create(owner=owner, status=Package.Status.LISTED, **fields)


def slugs(query: search.CatalogQuery) -> list[str]:
    return [entry.package.slug for entry in search.search(query).results]


@pytest.fixture
def sample_catalog(sample_fmus, artifacts_dir):
    """The three sample FMUs as listed packages with their real variables and tags."""
    creator = CreatorFactory(display_name="Acme Simulation")
    packages = {}
    for slug, title, tags in [
        ("bouncing_ball", "Bouncing Ball", ["mechanics", "hybrid", "state events"]),
        ("mass_spring_damper", "Mass-Spring-Damper", ["mechanics", "oscillator", "linear"]),
        ("pi_controller", "PI Controller", ["control", "controller", "linear"]),
    ]:
        package = PackageFactory(
            owner=creator.user,
            slug=slug.replace("_", "-"),
            name=title,
            summary="",
            description="A sample model.",
            tags=tags,
            status=Package.Status.LISTED,
        )
        version = upload_sample(package, sample_fmus[(slug, "2.0")], with_vector=False)
        PackageVersion.objects.filter(pk=version.pk).update(validation_status="passed")
        packages[slug] = package
    search.index_packages([p.pk for p in packages.values()])
    return packages


def test_search_matches_the_name(sample_catalog):
    assert slugs(search.CatalogQuery(q="bouncing ball"))[0] == "bouncing-ball"
    assert slugs(search.CatalogQuery(q="controller")) == ["pi-controller"]


def test_search_matches_tags(sample_catalog):
    assert slugs(search.CatalogQuery(q="oscillator")) == ["mass-spring-damper"]
    assert set(slugs(search.CatalogQuery(q="mechanics"))) == {
        "bouncing-ball",
        "mass-spring-damper",
    }


def test_search_matches_variable_names(sample_catalog):
    # "setpoint" and "kp" are variable names of the PI controller only (not in its name/tags).
    assert slugs(search.CatalogQuery(q="setpoint")) == ["pi-controller"]
    assert slugs(search.CatalogQuery(q="kp")) == ["pi-controller"]
    # v_min is split into searchable words; der(x) too.
    assert slugs(search.CatalogQuery(q="v_min")) == ["bouncing-ball"]


def test_search_matches_the_creator(sample_catalog):
    assert len(slugs(search.CatalogQuery(q="acme"))) == 3


def test_search_ranks_name_matches_above_description_matches():
    ranked_high = listed(name="Thermal tank", summary="", description="")
    published_version(ranked_high)
    ranked_low = listed(name="Heat exchanger", description="Couples to any thermal network.")
    published_version(ranked_low)

    assert slugs(search.CatalogQuery(q="thermal")) == [ranked_high.slug, ranked_low.slug]


def test_variable_only_match():
    engine = listed(name="Engine", description="Combustion engine.")
    published_version(engine, variables=("engine.coolantTemperature", "der(omega)"))
    listed(name="Gearbox")

    assert slugs(search.CatalogQuery(q="coolant temperature")) == [engine.slug]
    assert slugs(search.CatalogQuery(q="omega")) == [engine.slug]


def test_ranking_reads_a_small_vector_and_tags_outrank_variable_names():
    # Given a package whose tag is "valve" and one with only a variable named "valve"
    tagged = listed(name="Actuator", description="", tags=["valve"])
    published_version(tagged)
    variable = listed(name="Plant", description="")
    published_version(variable, variables=("valve.opening",))

    # then both match, the tag ranks first, and the rank vector holds no variable name
    assert slugs(search.CatalogQuery(q="valve")) == [tagged.slug, variable.slug]
    row = PackageSearch.objects.get(pk=variable.pk)
    assert "valve" in row.variables and "valve" not in row.keywords
    assert "'valv'" not in str(row.rank_document) and "'plant':1A" in str(row.rank_document)


def test_ranked_candidates_do_not_move_between_requests():
    """The ranked page is taken from the first matches a scan finds; PostgreSQL's synchronized
    scans would start large scans mid-table, giving each request other candidates (pages that
    repeat or skip results). Every connection turns them off."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronize_seqscans")
        assert cursor.fetchone()[0] == "off"


def test_drafts_and_unlisted_packages_are_never_found():
    owner = CreatorFactory().user
    draft = PackageFactory(owner=owner, name="Secret turbine", status=Package.Status.DRAFT)
    gone = PackageFactory(owner=owner, name="Old turbine", status=Package.Status.UNLISTED)
    published_version(draft)
    published_version(gone)
    shown = listed(name="Wind turbine")

    assert slugs(search.CatalogQuery(q="turbine")) == [shown.slug]
    assert shown.slug in slugs(search.CatalogQuery())
    assert draft.slug not in slugs(search.CatalogQuery())


def test_review_transitions_show_and_hide_a_package_in_searches(moderator):
    from registry import services as registry

    owner = CreatorFactory().user
    package = PackageFactory(owner=owner, name="Tidal turbine", status=Package.Status.DRAFT)
    published_version(package)
    assert slugs(search.CatalogQuery(q="turbine")) == []

    registry.submit_for_review(package, owner)
    assert slugs(search.CatalogQuery(q="turbine")) == []
    # Approving is an UPDATE (no post_save): the registry's signal re-indexes the row.
    registry.approve_package(package, moderator)
    assert slugs(search.CatalogQuery(q="turbine")) == [package.slug]
    assert search.search(search.CatalogQuery(q="turbine")).total == 1

    Package.objects.filter(pk=package.pk).update(status=Package.Status.UNLISTED)
    # Even a row not re-indexed yet never shows an unlisted package's card.
    assert slugs(search.CatalogQuery(q="turbine")) == []


def test_filters_combine_when_browsing_and_when_ranking_a_search():
    mechanics = Category.objects.create(name="Mechanics", slug="mechanics")
    vehicles = Category.objects.create(name="Vehicles", slug="vehicles", parent=mechanics)
    thermal = Category.objects.create(name="Thermal", slug="thermal")
    # "_" is a LIKE wildcard: the subtree of heat_pumps must not take in heatxpumps/...
    heat_pumps = Category.objects.create(name="Heat pumps", slug="heat_pumps", parent=thermal)
    lookalike = Category.objects.create(name="Lookalike", slug="heatxpumps", parent=thermal)
    Category.objects.create(name="Lookalike child", slug="inner", parent=lookalike)
    maker = CreatorFactory()
    a = listed(name="Car A", category="mechanics/vehicles", tags=["car", "ev"], summary="gizmo")
    published_version(a, fmi="3.0", cs=True, me=True, platforms=["x86_64-linux"], certified=True)
    b = listed(owner=maker.user, name="Car B", category="Vehicles", tags=["car"], summary="gizmo")
    published_version(b, fmi="2.0", cs=True, platforms=["win64"])
    c = listed(name="Pump C", category="thermal", tags=["ev"], is_free=False, summary="gizmo")
    published_version(c, fmi="3.0", me=True, cs=False, platforms=["linux64", "darwin64"])
    ListingFactory(package=c, pricing_model="trial", price_amount=0, trial_days=7)
    ListingFactory(package=b, price_amount=1000)
    d = listed(owner=maker.user, name="Spring D", category="mechanics", is_free=True)
    d.summary = "gizmo"
    d.save()
    published_version(d, fmi="2.0")
    e = listed(name="Heat pump E", category="thermal/heat_pumps", summary="gizmo")
    f = listed(name="Lookalike F", category="thermal/heatxpumps/inner", summary="gizmo")
    PackageSearch.objects.filter(pk=a.pk).update(rating_avg=4.5, rating_count=3)

    cases = [
        ({}, {a, b, c, d, e, f}),
        ({"category": mechanics}, {a, b, d}),
        ({"category": vehicles}, {a, b}),
        ({"category": thermal}, {c, e, f}),
        ({"category": heat_pumps}, {e}),
        ({"creator": maker}, {b, d}),
        ({"fmi": "3.0"}, {a, c}),
        ({"fmi": "3.0", "kind": "cs"}, {a}),
        ({"kind": "me"}, {a, c}),
        ({"platform": "windows"}, {b}),
        ({"platform": "macos"}, {c}),
        ({"certified": True}, {a}),
        ({"tags": ["car"]}, {a, b}),
        ({"tags": ["car", "ev"]}, {a}),
        ({"price": "trial"}, {c}),
        ({"price": "paid"}, {b}),
        ({"min_rating": 4}, {a}),
        ({"category": mechanics, "fmi": "2.0", "price": "paid"}, {b}),
        ({"category": thermal, "tags": ["car"]}, set()),
    ]
    for filters, expected in cases:
        want = {package.slug for package in expected}
        # Browsing (ORM) and a ranked search (one SQL statement) apply the same filters.
        assert set(slugs(search.CatalogQuery(**filters))) == want, filters
        assert set(slugs(search.CatalogQuery(q="gizmo", **filters))) == want, filters
    linux = set(slugs(search.CatalogQuery(platform="linux")))
    assert {a.slug, c.slug, d.slug} <= linux and b.slug not in linux
    assert d.slug in slugs(search.CatalogQuery(price="free"))
    assert set(slugs(search.CatalogQuery(q="car", tags=["ev"]))) == {a.slug}


def test_rating_filter_and_sorts():
    low, high, none = listed(name="Low"), listed(name="High"), listed(name="Unrated")
    PackageSearch.objects.filter(pk=low.pk).update(rating_avg=2.5, rating_count=2)
    PackageSearch.objects.filter(pk=high.pk).update(rating_avg=4.5, rating_count=10)

    assert slugs(search.CatalogQuery(min_rating=4)) == [high.slug]
    assert slugs(search.CatalogQuery(sort="rating"))[:2] == [high.slug, low.slug]
    assert slugs(search.CatalogQuery(sort="name")) == [high.slug, low.slug, none.slug]


def test_pages_are_bounded_and_counted():
    for i in range(search.PAGE_SIZE + 5):
        listed(name=f"Pump {i:02d}")

    first = search.search(search.CatalogQuery(q="pump", sort="name"))
    second = search.search(search.CatalogQuery(q="pump", sort="name", page=2))

    assert first.total == search.PAGE_SIZE + 5 and not first.capped
    assert len(first.results) == search.PAGE_SIZE and first.has_next
    assert [e.title for e in second.results] == [f"Pump {i:02d}" for i in range(20, 25)]


def test_ranked_results_page_through_every_match_and_a_page_past_the_end_shows_the_last(
    django_assert_max_num_queries,
):
    for i in range(search.PAGE_SIZE + 5):
        listed(name=f"Pump {i:02d}")
    listed(name="Valve")

    with django_assert_max_num_queries(2):
        first = search.search(search.CatalogQuery(q="pump"))
    second = search.search(search.CatalogQuery(q="pump", page=2))
    beyond = search.search(search.CatalogQuery(q="pump", page=9))

    assert first.total == search.PAGE_SIZE + 5 and not first.capped
    assert len(first.results) == search.PAGE_SIZE and len(second.results) == 5
    found = {e.title for e in first.results} | {e.title for e in second.results}
    assert found == {f"Pump {i:02d}" for i in range(search.PAGE_SIZE + 5)}
    assert beyond.page == 2 and [e.title for e in beyond.results] == [
        e.title for e in second.results
    ]


def test_index_follows_versions_listings_and_tags():
    package = listed(name="Valve", tags=["fluids"], is_free=False)
    assert PackageSearch.objects.get(pk=package.pk).fmi_version == ""
    version = published_version(package, fmi="3.0")
    assert PackageSearch.objects.get(pk=package.pk).fmi_version == "3.0"

    version.yanked_at = version.created_at
    version.save()  # a yank is a save: the catalog forgets the version
    assert PackageSearch.objects.get(pk=package.pk).latest_version is None

    ListingFactory(package=package, price_amount=2500)
    row = PackageSearch.objects.get(pk=package.pk)
    assert row.has_paid and row.min_price_amount == 2500
    assert set(PackageTag.objects.filter(package=package).values_list("tag__slug", flat=True)) == {
        "fluids"
    }


def test_reindexing_writes_each_row_once_with_the_vectors_of_its_columns():
    package = listed(name="Heat pump", summary="A reversible heat pump", tags=["thermal"])
    published_version(package, variables=("T_evaporator", "compressor.speed"))

    def row_writes() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n_tup_ins + n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = %s",
                [PackageSearch._meta.db_table],
            )
            return cursor.fetchone()[0]

    before = row_writes()
    search.index_packages([package.pk])

    # One row version per re-index (the upsert computes the vectors; no UPDATE after it)
    assert row_writes() - before == 1
    # And the stored vectors are those the table's own columns give
    row = PackageSearch.objects.annotate(
        expected=search.document_expression(), expected_rank=search.rank_document_expression()
    ).get(pk=package.pk)
    assert row.document == row.expected and row.rank_document == row.expected_rank
    assert "'evapor':" in row.document and "'pump':" in row.rank_document


def test_rebuild_search_index_recreates_rows():
    package = listed(name="Compressor")
    published_version(package, variables=("pressure_ratio",))
    PackageSearch.objects.all().delete()

    call_command("rebuild_search_index", verbosity=0)

    assert slugs(search.CatalogQuery(q="pressure ratio")) == [package.slug]


def test_fallback_search_without_postgres(monkeypatch):
    engine = listed(name="Engine")
    published_version(engine, variables=("coolantTemperature",))
    listed(name="Gearbox")
    monkeypatch.setattr(search, "is_postgres", lambda: False)

    assert slugs(search.CatalogQuery(q="coolant")) == [engine.slug]
    assert slugs(search.CatalogQuery(q="ENGINE")) == [engine.slug]


@pytest.mark.redis
def test_catalog_page_records_searches_including_zero_results(client):
    listed(name="Heat pump")
    analytics.drain()  # whatever earlier tests left in the buffer
    AnalyticsEvent.objects.all().delete()

    client.get("/catalog/?q=heat")
    client.get("/catalog/?q=nothingmatchesthis")

    # Buffered in Redis after the responses, written by beat's flush
    assert not AnalyticsEvent.objects.filter(kind="search.query").exists()
    assert flush_analytics() == 2
    events = {e.query: e.result_count for e in AnalyticsEvent.objects.filter(kind="search.query")}
    assert events == {"heat": 1, "nothingmatchesthis": 0}
    assert flush_analytics() == 0


def test_searches_are_written_at_once_without_the_buffer_or_when_redis_fails(
    client, settings, monkeypatch
):
    import redis

    listed(name="Heat pump")
    settings.ANALYTICS_FLUSH_SECONDS = 0
    client.get("/catalog/?q=heat")
    assert AnalyticsEvent.objects.filter(query="heat").count() == 1

    settings.ANALYTICS_FLUSH_SECONDS = 10
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(analytics, "_buffer", lambda: dead)  # Redis down: nothing is lost
    assert client.get("/catalog/?q=pump").status_code == 200
    assert AnalyticsEvent.objects.filter(query="pump").count() == 1


@pytest.mark.redis
def test_buffered_events_of_a_deleted_package_keep_their_other_fields(client):
    package = listed(name="Short lived")
    analytics.drain()
    AnalyticsEvent.objects.all().delete()
    client.get(f"/packages/{package.slug}/")
    PackageSearch.objects.filter(pk=package.pk).delete()
    package.delete()

    assert analytics.drain() == 1
    [event] = AnalyticsEvent.objects.filter(kind="package.view")
    assert event.package_id is None and event.created_at is not None


def test_catalog_page_filters_and_escapes(client):
    listed(name="<b>Bold</b> pump", tags=["fluids"])

    html = client.get("/catalog/?q=pump&tag=fluids&fmi=bogus&page=999").content.decode()

    assert "&lt;b&gt;Bold&lt;/b&gt; pump" in html
    assert "<b>Bold</b>" not in html


def test_catalog_filters_keep_the_chosen_values_with_their_labels(client):
    listed(name="Pump")

    html = client.get("/catalog/?q=pump&price=paid&kind=me&rating=4&certified=on").content.decode()

    assert '<label for="f-price">Price</label><select name="price" id="f-price">' in html
    assert '<option value="paid" selected>One-time purchase</option>' in html
    assert '<option value="me" selected>Model Exchange</option>' in html
    assert '<option value="4" selected>4★ and up</option>' in html
    assert '<option value="" selected>Any platform</option>' in html
    assert 'name="certified" id="f-certified" checked' in html


def test_cards_facets_and_tag_pills_escape_hostile_text_and_link_right(client):
    hostile = '"><script>alert(1)</script>'
    Category.objects.create(name=f"Cat {hostile}", slug="evil")
    creator = CreatorFactory(display_name=f"Maker {hostile}")
    package = listed(
        owner=creator.user,
        name=f"Pump {hostile}",
        summary=f"Moves water {hostile}",
        category="evil",
        tags=[f"tag {hostile}", "fluids"],
        is_free=False,
    )
    published_version(package, fmi="3.0", cs=True, me=True, certified=True)
    ListingFactory(package=package, price_amount=4900, currency="EUR")
    search.invalidate_facets()

    html = client.get("/catalog/?q=pump&tag=fluids&page=2").content.decode()

    assert "<script>" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5  # title, summary, by, cat, tag
    card = html[html.index('<article class="package-card">') : html.index("</article>")]
    assert f'<a href="/packages/{package.slug}/">Pump &quot;&gt;&lt;script&gt;' in card
    assert '<a href="/catalog/c/evil/">Cat &quot;&gt;' in card
    assert '<span class="badge ok">Certified</span>' in card
    assert '<span class="badge">FMI 3.0</span>' in card
    assert '<span class="badge">CS</span> <span class="badge">ME</span>' in card
    assert "from €49.00" in card
    # Category links keep the search and filters, never the page.
    assert '<a href="/catalog/c/evil/?q=pump&amp;tag=fluids">Cat &quot;' in html
    # Tag pills toggle: the selected tag removes itself, another tag is added to the filter.
    assert '<a class="badge info" href="?q=pump" aria-pressed="true">fluids' in html
    other = PackageTag.objects.exclude(tag__slug="fluids").get(package=package).tag
    assert f'href="?q=pump&amp;tag=fluids,{other.slug}">tag &quot;&gt;&lt;script&gt;' in html


def test_category_tree_marks_the_current_category_and_hides_empty_ones(client):
    parent = Category.objects.create(name="Mechanics", slug="mechanics")
    Category.objects.create(name="Vehicles", slug="vehicles", parent=parent)
    Category.objects.create(name="Empty", slug="empty")
    listed(name="Car", category="mechanics/vehicles")
    search.invalidate_facets()

    html = client.get("/catalog/c/mechanics/vehicles/?price=free").content.decode()

    tree = html[html.index("<h2>Categories</h2>") :]
    link = '<a href="/catalog/c/mechanics/?price=free">Mechanics</a>'
    assert f'{link} <span class="count">1</span>' in tree
    assert (
        '<a href="/catalog/c/mechanics/vehicles/?price=free" aria-current="true">Vehicles</a>'
        in tree
    )
    assert ">Empty<" not in tree


def test_query_links_keep_the_other_parameters_and_drop_the_page(rf):
    from django.template import Context, Template

    request = rf.get("/catalog/?q=heat+pump&page=3&tag=a&tag=b&sort=name&x=%22%3E")
    rendered = Template(
        "{% load storefront %}{% query_with sort='rating' %}|{% query_with page=4 %}|"
        "{% query_with q=None new='v w' %}|{% hidden_inputs 'page' 'tag' %}|"
        "{% sort_options sorts 'name' '' %}"
    ).render(Context({"request": request, "sorts": search.SORTS}))
    with_sort, paged, without_q, hidden, options = rendered.split("|")

    assert with_sort == "?q=heat+pump&amp;tag=a&amp;tag=b&amp;sort=rating&amp;x=%22%3E"
    assert paged == "?q=heat+pump&amp;page=4&amp;tag=a&amp;tag=b&amp;sort=name&amp;x=%22%3E"
    assert without_q == "?tag=a&amp;tag=b&amp;sort=name&amp;x=%22%3E&amp;new=v+w"
    assert hidden == (
        '<input type="hidden" name="q" value="heat pump">'
        '<input type="hidden" name="sort" value="name">'
        '<input type="hidden" name="x" value="&quot;&gt;">'
    )
    assert 'value="relevance"' not in options  # no text search: nothing to rank by
    assert '<option value="name" selected>Name</option>' in options


def test_active_filters_and_pager_link_to_the_same_search_without_one_filter(client):
    for i in range(search.PAGE_SIZE * 2 + 1):
        package = listed(name=f"Pump {i}", tags=["fluids", "hydraulic"])
        published_version(package, fmi="2.0", me=True)

    html = client.get("/catalog/?q=pump&tag=fluids,hydraulic&fmi=2.0&kind=me&page=2").content
    html = html.decode()

    filters = html[html.index('class="active-filters"') : html.index('class="package-grid"')]
    query = "q=pump&amp;tag=fluids%2Chydraulic&amp;fmi=2.0&amp;kind=me"
    assert f'<a href="?{query.removeprefix("q=pump&amp;")}" aria-label="Remove ' in filters
    one_tag = query.replace("fluids%2C", "")
    assert f'<a href="?{one_tag}" aria-label="Remove tag fluids">#fluids</a>' in filters
    assert f'<a href="?{query.replace("&amp;fmi=2.0", "")}">FMI 2.0</a>' in filters
    assert f'<a href="?{query.replace("&amp;kind=me", "")}">ME</a>' in filters
    pager = html[html.index('<nav class="pager"') :]
    assert f'<a href="?{query}&amp;page=1" rel="prev">' in pager
    assert f'<a href="?{query}&amp;page=3" rel="next">' in pager
    assert "Page 2 of 3</span>" in pager
    assert '&amp;page=3" rel="next"' in pager
