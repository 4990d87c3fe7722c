"""The registry's download-url endpoint honours download licenses, never execute-only ones."""

import pytest

from marketplace.tests.fixtures import buy, client_for

pytestmark = pytest.mark.django_db


URL = "/api/v1/packages/ball/versions/1.0.0/download-url"


def test_download_licensee_gets_a_download_link(user, download_listing, version):
    buy(user, download_listing)

    response = client_for(user).post(URL)

    assert response.status_code == 201, response.json()
    assert response.json()["sha256"] == version.sha256


def test_execute_only_licensee_is_refused_the_file(user, execute_listing, version):
    buy(user, execute_listing)

    response = client_for(user).post(URL)

    assert response.status_code == 403
    assert response.json()["code"] == "download_forbidden"


def test_refunded_buyer_loses_the_download(user, download_listing, version):
    from marketplace import services

    order = buy(user, download_listing).order
    services.refund_order(order, reason="requested_by_customer")

    assert client_for(user).post(URL).status_code == 403
