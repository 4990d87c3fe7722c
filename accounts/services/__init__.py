"""Account verbs: sign-up with email verification."""

from __future__ import annotations

from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import User
from accounts.signals import email_verified
from fmugateway.core.audit import record
from fmugateway.core.errors import ConflictError, DomainError


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    """Like a password-reset token, but also void once the account is active."""

    key_salt = "accounts.EmailVerificationTokenGenerator"

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        return f"{super()._make_hash_value(user, timestamp)}{user.is_active}"


verification_tokens = EmailVerificationTokenGenerator()


@transaction.atomic
def sign_up(*, email: str, password: str, display_name: str = "") -> User:
    """Create an inactive account; it can log in once its email address is verified."""
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ConflictError("An account with this email already exists.", code="email_taken")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email, password, display_name=display_name.strip()[:150], is_active=False
            )
    except IntegrityError:
        raise ConflictError(
            "An account with this email already exists.", code="email_taken"
        ) from None
    record("accounts.user.signed_up", actor=None, target=user, after={"email": email})
    return user


def verification_link(user: User, base_url: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = verification_tokens.make_token(user)
    return base_url.rstrip("/") + reverse("signup-verify", kwargs={"uidb64": uid, "token": token})


def send_verification_email(user: User, base_url: str) -> None:
    link = verification_link(user, base_url)
    body = render_to_string("registration/verify_email.txt", {"user": user, "link": link})
    send_mail("Confirm your FMU Gateway account", body, None, [user.email])


@transaction.atomic
def verify_email(uidb64: str, token: str) -> User:
    """Activate the account the link was made for; refused when forged, expired or used."""
    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
    except (TypeError, ValueError, UnicodeDecodeError):
        pk = None
    user = User.objects.select_for_update().filter(pk=pk).first() if pk else None
    if user is None or not verification_tokens.check_token(user, token):
        raise DomainError(
            "This confirmation link is invalid or has expired.", code="invalid_verification"
        )
    user.is_active = True
    user.save(update_fields=["is_active"])
    record("accounts.user.verified", actor=user, target=user)
    email_verified.send(sender=User, user=user)
    return user
