from django.urls import path

from accounts import api

urlpatterns = [
    path("me", api.MeView.as_view(), name="api-me"),
    path("creators/apply", api.CreatorApplyView.as_view(), name="api-creator-apply"),
    path("creators/me", api.CreatorMeView.as_view(), name="api-creator-me"),
    path("creators/<slug:slug>", api.CreatorDetailView.as_view(), name="api-creator-detail"),
    path("orgs", api.OrganisationListView.as_view(), name="api-org-list"),
    path("orgs/<slug:slug>/members", api.OrganisationMembersView.as_view(), name="api-org-members"),
    path(
        "orgs/<slug:slug>/members/<int:member_id>",
        api.OrganisationMemberView.as_view(),
        name="api-org-member",
    ),
    path("orgs/<slug:slug>/leave", api.OrganisationLeaveView.as_view(), name="api-org-leave"),
    path(
        "orgs/<slug:slug>/invitations/<int:invitation_id>",
        api.OrganisationInvitationView.as_view(),
        name="api-org-invitation",
    ),
]
