"""Sign-up with email verification, and the profile page. Log-in, log-out, password change and
reset are Django's own views (``accounts.urls``) with this project's templates."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts import services
from accounts.forms import ProfileForm, SignUpForm
from fmugateway.core.errors import DomainError


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
