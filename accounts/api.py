from __future__ import annotations

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.generics import RetrieveUpdateAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from accounts.models import Creator, Membership, Organisation, OrganisationInvitation
from accounts.serializers import (
    AddMemberSerializer,
    CreatorApplySerializer,
    CreatorPrivateSerializer,
    CreatorSerializer,
    MembershipSerializer,
    MeSerializer,
    OrganisationCreateSerializer,
    OrganisationInvitationSerializer,
    OrganisationMembersSerializer,
    OrganisationSerializer,
)
from accounts.services import organisations
from accounts.services.creators import apply_as_creator
from fmugateway.core.audit import record
from fmugateway.core.scopes import public


@extend_schema(tags=["accounts"])
class MeView(RetrieveUpdateAPIView):
    """The authenticated user's own profile."""

    required_scopes = {"GET": "read", "PATCH": "account"}
    serializer_class = MeSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        return self.request.user

    def perform_update(self, serializer):
        before = {"display_name": serializer.instance.display_name}
        user = serializer.save()
        record(
            "accounts.profile.updated",
            actor=user,
            target=user,
            before=before,
            after={"display_name": user.display_name},
        )


@extend_schema(
    tags=["marketplace"], request=CreatorApplySerializer, responses={201: CreatorPrivateSerializer}
)
class CreatorApplyView(APIView):
    required_scopes = {"POST": "publish"}

    def post(self, request: AuthenticatedRequest) -> Response:
        form = CreatorApplySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        creator = apply_as_creator(request.user, **form.validated_data)
        return Response(CreatorPrivateSerializer(creator).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["marketplace"], responses=CreatorPrivateSerializer)
class CreatorMeView(APIView):
    """Your creator profile (404 until you apply)."""

    required_scopes = {"GET": "read"}
    error_statuses = {404}

    def get(self, request: Request) -> Response:
        creator = get_object_or_404(Creator, user=request.user)
        return Response(CreatorPrivateSerializer(creator).data)


@extend_schema(tags=["marketplace"], responses=CreatorSerializer)
class CreatorDetailView(APIView):
    """An approved creator's public profile (your own at any status)."""

    required_scopes = {"GET": public("read")}

    def get(self, request: Request, slug: str) -> Response:
        visible = Q(status=Creator.Status.APPROVED)
        if request.user.is_authenticated:
            visible |= Q(user=request.user)
        creator = get_object_or_404(Creator.objects.filter(visible), slug=slug)
        return Response(CreatorSerializer(creator).data)


def my_organisation(request: Request, slug: str) -> Organisation:
    """Members see their organisations; to anyone else they do not exist (404)."""
    return get_object_or_404(
        Organisation.objects.for_user(request.user).select_related("owner"), slug=slug
    )


@extend_schema(tags=["marketplace"])
class OrganisationListView(generics.ListAPIView):
    """Your organisations; POST ``{"name", "slug"?}`` creates one with you as owner and admin
    (409 ``slug_taken``)."""

    serializer_class = OrganisationSerializer
    required_scopes = {"GET": "read", "POST": "licenses"}

    def get_queryset(self):
        return Organisation.objects.for_user(self.request.user).select_related("owner")

    @extend_schema(request=OrganisationCreateSerializer, responses={201: OrganisationSerializer})
    def post(self, request: AuthenticatedRequest) -> Response:
        form = OrganisationCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        organisation = organisations.create_organisation(
            request.user, name=form.validated_data["name"], slug=form.validated_data.get("slug")
        )
        return Response(OrganisationSerializer(organisation).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["marketplace"])
class OrganisationMembersView(APIView):
    """Members of one of your organisations (admins also see the open ``invitations``). Admins
    POST ``{"email", "role"?}``: an existing account becomes a member (201); any other address
    is invited by email (202, an invitation its owner takes by signing up and confirming it).
    403 ``not_org_admin``, 409 ``already_member`` / ``already_invited``."""

    required_scopes = {"GET": "read", "POST": "licenses"}

    @extend_schema(responses=OrganisationMembersSerializer)
    def get(self, request: AuthenticatedRequest, slug: str) -> Response:
        organisation = my_organisation(request, slug)
        body: dict[str, QuerySet[Membership] | QuerySet[OrganisationInvitation]] = {
            "results": Membership.objects.filter(organisation=organisation).select_related("user")
        }
        if organisations.is_admin(organisation, request.user):
            body["invitations"] = OrganisationInvitation.objects.open().filter(
                organisation=organisation
            )
        return Response(OrganisationMembersSerializer(body).data)

    @extend_schema(
        request=AddMemberSerializer,
        responses={201: MembershipSerializer, 202: OrganisationInvitationSerializer},
    )
    def post(self, request: AuthenticatedRequest, slug: str) -> Response:
        organisation = my_organisation(request, slug)
        form = AddMemberSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        added = organisations.add_member(
            organisation,
            form.validated_data["email"],
            role=form.validated_data.get("role"),
            actor=request.user,
        )
        if isinstance(added, OrganisationInvitation):
            return Response(
                OrganisationInvitationSerializer(added).data, status=status.HTTP_202_ACCEPTED
            )
        return Response(MembershipSerializer(added).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["marketplace"], responses={204: None})
class OrganisationInvitationView(APIView):
    """DELETE: an admin withdraws an open invitation."""

    required_scopes = {"DELETE": "licenses"}

    def delete(self, request: AuthenticatedRequest, slug: str, invitation_id: int) -> Response:
        organisation = my_organisation(request, slug)
        organisations.cancel_invitation(organisation, invitation_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["marketplace"], responses={204: None})
class OrganisationMemberView(APIView):
    """DELETE: an admin removes a member, or a member removes themselves (leaves)."""

    required_scopes = {"DELETE": "licenses"}

    def delete(self, request: AuthenticatedRequest, slug: str, member_id: int) -> Response:
        organisation = my_organisation(request, slug)
        organisations.remove_member(organisation, member_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["marketplace"], request=None, responses={204: None})
class OrganisationLeaveView(APIView):
    """Leave the organisation; its licenses stop entitling you at once."""

    required_scopes = {"POST": "licenses"}

    def post(self, request: AuthenticatedRequest, slug: str) -> Response:
        organisations.leave(my_organisation(request, slug), request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
