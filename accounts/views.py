"""Sign-up with email verification, and the profile page. Log-in, log-out, password change and
reset are Django's own views (``accounts.urls``) with this project's templates; the reset form
is limited per client IP and per address (``accounts.lockout``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts import lockout, services
from accounts.forms import ProfileForm, SignUpForm
from fmugateway.core.errors import DomainError
from fmugateway.core.middleware import client_ip


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("account")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.sign_up(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                display_name=form.cleaned_data["display_name"],
            )
        except DomainError as exc:
            form.add_error("email", exc.detail)
        else:
            services.send_verification_email(user, request.build_absolute_uri("/"))
            return render(request, "registration/signup_done.html", {"email": user.email})
    return render(request, "registration/signup.html", {"form": form})


def signup_verify(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    try:
        user = services.verify_email(uidb64, token)
    except DomainError as exc:
        return render(
            request, "registration/verify_failed.html", {"detail": exc.detail}, status=400
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, "Your email address is confirmed. Welcome to FMU Gateway!")
    return redirect("account")


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved.")
        return redirect("profile")
    return render(request, "registration/profile.html", {"form": form})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form, limited per client IP and per address (429 page over a limit).

    Counted for every valid address, with or without an account, so the answer reveals nothing.
    """

    def form_valid(self, form):
        refusal = lockout.count_password_reset(client_ip(self.request), form.cleaned_data["email"])
        if refusal is not None:
            return lockout.too_many_attempts_page(
                self.request,
                retry_at=refusal.retry_at,
                heading="Too many password reset requests",
                message=(
                    "We have received too many reset requests from your network."
                    if refusal.scope == "ip"
                    else "We have received too many reset requests for this address. If it "
                    "belongs to an account, a link is already on its way: check your inbox "
                    "and your spam folder."
                ),
            )
        return super().form_valid(form)
