from rest_framework import serializers

from accounts.models import User


class MeSerializer(serializers.ModelSerializer):
    is_moderator = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "display_name", "is_staff", "is_moderator", "date_joined"]
        read_only_fields = ["id", "email", "is_staff", "date_joined"]
