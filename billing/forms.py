"""Forms of the account's billing pages."""

from __future__ import annotations

from django import forms

from fmugateway.core.scopes import Scope


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=["read", "run"],
    )
