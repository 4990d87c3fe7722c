"""Every API operation declares what it needs, and no credential gets past it without that.

Walks every operation routed under ``/api/v1/`` (``fmugateway.core.routes``): a request with a
key holding every scope but the one declared is refused 403 ``insufficient_scope`` before the
view looks anything up; a key holding just that scope gets past the check; anonymous callers
get 401 where a credential is needed; a ``read``-only key cannot change anything.
"""

from __future__ import annotations

import pytest
from django.urls import path
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from accounts.factories import UserFactory
from billing.factories import make_api_key
from billing.models import AccountPlan
from fmugateway.core.routes import api_operations
from fmugateway.core.scopes import SCOPES, Requirement, ScopeRequired, requirement

pytestmark = pytest.mark.django_db

OPERATIONS = api_operations()
# Unsafe methods that only read: a price quote and a signed download link for a file the caller
# may already download. Anything else a read-only key can call changes nothing.
READS_BY_POST = {
    "POST /api/v1/billing/quote",
    "POST /api/v1/packages/<slug:slug>/versions/<str:version>/download-url",
}


def _id(operation) -> str:
    return str(operation)


@pytest.fixture
def caller(db):
    user = UserFactory()
    # Hundreds of requests in a test: lift the plan's per-minute limit for this account.
    AccountPlan.objects.create(user=user, plan="free", rate_limit_per_minute_override=1_000_000)
    return user


def _key_client(user, scopes) -> APIClient:
    _, secret = make_api_key(user, scopes=sorted(scopes), name=",".join(sorted(scopes)))
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    return client


def _call(client: APIClient, operation):
    return getattr(client, operation.method.lower())(operation.path, {}, format="json")


def _refused_for_scope(response) -> bool:
    return response.status_code == 403 and response.json().get("code") == "insufficient_scope"


@pytest.mark.parametrize("operation", OPERATIONS, ids=_id)
def test_every_operation_declares_what_it_needs(operation):
    assert ScopeRequired in operation.view.permission_classes, (
        f"{operation}: permission_classes must keep ScopeRequired"
    )
    declared = requirement(operation.view, operation.method)
    assert isinstance(declared, Requirement), f"{operation} declares no scope (required_scopes)"


def test_scoped_operations_are_refused_without_their_scope(caller):
    clients = {scope: _key_client(caller, set(SCOPES) - {scope}) for scope in SCOPES}
    holders = {scope: _key_client(caller, {scope}) for scope in SCOPES}
    let_through, over_refused = [], []
    for operation in OPERATIONS:
        needed = requirement(operation.view, operation.method)
        if needed is None or needed.scope is None:
            continue
        if not _refused_for_scope(_call(clients[needed.scope], operation)):
            let_through.append(str(operation))
        answer = _call(holders[needed.scope], operation)
        if _refused_for_scope(answer) or answer.status_code == 401:
            over_refused.append(f"{operation}: {answer.status_code}")
    assert not let_through, f"a key without the declared scope got through: {let_through}"
    assert not over_refused, f"a key holding the declared scope was refused: {over_refused}"


def test_a_read_only_key_cannot_change_anything(caller):
    reader = _key_client(caller, {"read"})
    changed = []
    for operation in OPERATIONS:
        needed = requirement(operation.view, operation.method)
        if operation.method == "GET" or str(operation) in READS_BY_POST:
            continue
        if needed.scope is None:
            continue  # open to anyone, with or without a key (license checks, DMCA notices)
        if not _refused_for_scope(_call(reader, operation)):
            changed.append(str(operation))
    assert not changed, f"a read-only key may call: {changed}"
    declared_reads = {
        str(op)
        for op in OPERATIONS
        if op.method != "GET" and requirement(op.view, op.method).scope == "read"
    }
    assert declared_reads == READS_BY_POST


def test_anonymous_callers_get_401_with_a_challenge_where_a_credential_is_needed(db):
    anonymous = APIClient()
    wrong = []
    for operation in OPERATIONS:
        needed = requirement(operation.view, operation.method)
        response = _call(anonymous, operation)
        if needed.anonymous:
            if response.status_code in (401, 403):
                wrong.append(f"{operation}: {response.status_code} for a public operation")
        elif response.status_code != 401 or "WWW-Authenticate" not in response:
            wrong.append(f"{operation}: {response.status_code}")
        elif response.json()["code"] != "not_authenticated":
            wrong.append(f"{operation}: {response.json()['code']}")
    assert not wrong, wrong


def test_browser_sessions_hold_every_scope(caller):
    session = APIClient()
    session.force_login(caller)
    refused = [str(op) for op in OPERATIONS if _refused_for_scope(_call(session, op))]
    assert not refused


def test_a_token_carries_its_keys_scopes(caller):
    key_client = _key_client(caller, {"read"})
    token = key_client.post("/api/v1/auth/token", {}, format="json").json()["access_token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert client.get("/api/v1/jobs").status_code == 200
    refused = client.post("/api/v1/jobs", {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert "run" in refused.json()["detail"]


def test_an_undeclared_view_is_refused_not_open():
    class Forgotten(APIView):
        def post(self, request):
            raise AssertionError("must not run")

    request = APIRequestFactory().post("/api/v1/forgotten")
    force_authenticate(request, UserFactory())
    response = Forgotten.as_view()(request)

    assert response.status_code == 403
    assert response.data["code"] == "scope_undeclared"


class _Forgotten(APIView):
    def get(self, request):
        raise AssertionError("must not run")


urlpatterns = [path("api/v1/forgotten", _Forgotten.as_view())]


@pytest.mark.urls(__name__)
def test_the_system_check_names_an_undeclared_operation():
    from fmugateway.core.checks import every_api_operation_declares_its_scope

    errors = every_api_operation_declares_its_scope(None)

    assert [error.id for error in errors] == ["fmugateway.E010"]
    assert "GET /api/v1/forgotten" in errors[0].msg


def test_the_readme_lists_every_operations_scope():
    from fmugateway.core.management.commands.api_scopes import scopes_table
    from fmugateway.testing import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- api-scopes:start -->\n", "\n<!-- api-scopes:end -->"
    documented = readme.split(start, 1)[1].split(end, 1)[0]

    assert documented == scopes_table(), "run manage.py api_scopes and paste it into README.md"
