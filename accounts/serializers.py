from __future__ import annotations

from rest_framework import serializers

from accounts.models import Creator, Membership, Organisation, OrganisationInvitation, User
from fmugateway.core.fields import BlankAsNullURLField


class MeSerializer(serializers.ModelSerializer):
    is_moderator = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "display_name", "is_staff", "is_moderator", "date_joined"]
        read_only_fields = ["id", "email", "is_staff", "date_joined"]


class CreatorApplySerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=150)
    slug = serializers.SlugField(max_length=80)
    bio = serializers.CharField(required=False, allow_blank=True, default="")
    website = serializers.URLField(required=False, allow_blank=True, default="")
    support_email = serializers.EmailField()


class CreatorSerializer(serializers.ModelSerializer):
    website = BlankAsNullURLField(read_only=True)

    class Meta:
        model = Creator
        fields = ["slug", "display_name", "bio", "website", "support_email", "created_at"]
        read_only_fields = fields


class CreatorPrivateSerializer(serializers.ModelSerializer):
    """What the creator sees of their own profile."""

    website = BlankAsNullURLField(read_only=True)

    class Meta:
        model = Creator
        fields = [
            "slug",
            "display_name",
            "bio",
            "website",
            "support_email",
            "status",
            "review_note",
            "applied_at",
            "reviewed_at",
            "stripe_account_id",
            "charges_enabled",
            "payouts_enabled",
            "details_submitted",
            "created_at",
        ]
        read_only_fields = fields


class OrganisationSerializer(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()

    class Meta:
        model = Organisation
        fields = ["id", "name", "slug", "owner", "created_at"]
        read_only_fields = fields

    def get_owner(self, organisation: Organisation) -> str:
        return organisation.owner.email


class OrganisationInvitationSerializer(serializers.ModelSerializer):
    pending = serializers.SerializerMethodField()

    class Meta:
        model = OrganisationInvitation
        fields = ["id", "email", "role", "pending", "created_at"]
        read_only_fields = fields

    def get_pending(self, invitation: OrganisationInvitation) -> bool:
        return invitation.accepted_at is None and invitation.cancelled_at is None


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "role", "created_at"]
        read_only_fields = fields


class OrganisationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    slug = serializers.CharField(
        required=False, allow_blank=True, help_text="Made into a slug; from the name if omitted."
    )


class AddMemberSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(
        choices=Membership.Role.choices,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="member unless given.",
    )


class OrganisationMembersSerializer(serializers.Serializer):
    results = MembershipSerializer(many=True)
    invitations = OrganisationInvitationSerializer(
        many=True, required=False, help_text="Open invitations; shown to admins only."
    )
