"""The site has an icon of its own: linked from every storefront page and answered at the
/favicon.ico browsers ask for, from our static files (CSP: img-src 'self')."""

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.urls import reverse


def test_the_icon_is_a_static_svg():
    path = finders.find("favicon.svg")

    assert path is not None
    with open(path, encoding="utf-8") as file:
        assert file.read().lstrip().startswith('<svg xmlns="http://www.w3.org/2000/svg"')


def test_favicon_ico_redirects_to_the_static_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"] == static("favicon.svg")
    assert "max-age=86400" in response["Cache-Control"]
    assert client.head("/favicon.ico").status_code == 302
    assert client.post("/favicon.ico").status_code == 405


@pytest.mark.django_db
def test_pages_link_the_icon(client):
    html = client.get(reverse("home")).content.decode()

    assert f'<link rel="icon" href="{static("favicon.svg")}" type="image/svg+xml">' in html
