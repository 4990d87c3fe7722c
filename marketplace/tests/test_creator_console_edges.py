"""The creator console as a new creator finds it: where to apply to sell, categories from the
catalog's tree, and sums in the currency the creator sells in."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.factories import UserFactory
from catalog.models import Category
from catalog.services import search
from marketplace.factories import CreatorFactory, ListingFactory
from registry.factories import PackageFactory
from registry.models import Package

pytestmark = pytest.mark.django_db
APPLY = "/console/payouts/#apply"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_apply_form_is_linked_from_the_console_account_menu_and_footer():
    # Given a signed-in user who is not a seller yet
    client = logged_in(UserFactory())

    # then the console, the account menu and every page's footer lead to the apply form
    console = client.get("/console/").content.decode()
    assert f'href="{APPLY}"' in console and "Apply to become a seller" in console
    account = client.get("/account/").content.decode()
    assert f'<a href="{APPLY}">Sell your models</a>' in account
    assert f'href="{APPLY}"' in client.get("/catalog/").content.decode()
    # ...and the form is where they lead
    payouts = client.get("/console/payouts/").content.decode()
    assert 'id="apply"' in payouts and 'name="display_name"' in payouts


def test_a_package_listings_page_says_how_to_sell_paid_licenses():
    user = UserFactory()
    package = PackageFactory(owner=user)

    html = logged_in(user).get(f"/console/packages/{package.slug}/listings/").content.decode()

    assert f'href="{APPLY}"' in html and "apply to become a seller" in html


def test_an_approved_seller_is_not_asked_to_apply():
    creator = CreatorFactory()

    html = logged_in(creator.user).get("/console/").content.decode()

    assert "Apply to become a seller" not in html


def test_a_package_category_is_a_choice_from_the_tree():
    # Given a category tree
    mechanics = Category.objects.create(name="Mechanics", slug="mechanics")
    Category.objects.create(name="Vehicles", slug="vehicles", parent=mechanics)
    search.invalidate_facets()
    user = CreatorFactory().user
    client = logged_in(user)

    # the new-package form offers its nodes, by path, labelled with their ancestors
    form = client.get("/console/packages/new/").content.decode()
    assert '<select name="category"' in form
    assert '<option value="mechanics/vehicles">Mechanics › Vehicles</option>' in form

    # a node of the tree is taken, and the package is filed under it
    fields = {"name": "Car", "summary": "A car.", "description": "", "tags": "", "license_text": ""}
    created = client.post("/console/packages/new/", {**fields, "category": "mechanics/vehicles"})
    assert created.status_code == 302
    car = Package.objects.get(name="Car")
    assert car.category == "mechanics/vehicles"
    search.index_packages([car.pk])
    assert search.resolve_category(car.category).name == "Vehicles"
    # free text is refused with the field's error
    refused = client.post("/console/packages/new/", {**fields, "name": "Bus", "category": "cars"})
    assert refused.status_code == 200 and not Package.objects.filter(name="Bus").exists()
    assert "Select a valid choice" in refused.content.decode()


def test_an_old_free_text_category_stays_selectable_when_editing():
    Category.objects.create(name="Mechanics", slug="mechanics")
    search.invalidate_facets()
    user = CreatorFactory().user
    package = PackageFactory(owner=user, category="Old stuff")

    html = logged_in(user).get(f"/console/packages/{package.slug}/").content.decode()

    assert '<option value="Old stuff" selected>' in html


def test_console_sums_are_in_the_currency_the_creator_sells_in():
    # Given a seller whose only listing is priced in US dollars, before any sale
    creator = CreatorFactory()
    ListingFactory(package=PackageFactory(owner=creator.user), currency="USD", price_amount=2500)
    client = logged_in(creator.user)

    # then the console and the sales page show $0.00, not a fixed €0.00
    for url in ["/console/", "/console/sales/"]:
        html = client.get(url).content.decode()
        assert "$0.00" in html and "€0.00" not in html, url


def test_zero_balances_read_as_sums_not_as_free():
    from catalog.templatetags.storefront import money, money_total

    assert money(0, "USD") == "Free"  # a price
    assert money_total(0, "USD") == "$0.00"  # a balance
    assert money_total(-1250, "EUR") == "−€12.50"
