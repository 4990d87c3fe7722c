"""Forms of the storefront pages: they parse and validate; services decide."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.text import slugify

from fmugateway.core.scopes import Scope
from marketplace.models import Category, Listing, ReviewReport
from marketplace.services import catalog


class _SharedFields(dict):
    """A form's fields handed to each instance as they are: Django deep-copies them per form
    (a tenth of a catalog page's time) so that one form can change its own; these never do."""

    def __deepcopy__(self, memo):
        return self


class CatalogFilterForm(forms.Form):
    """The catalog's query string. Unknown or bad values are dropped, never an error page."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    tag = forms.CharField(required=False, max_length=300)
    price = forms.ChoiceField(
        required=False, choices=[("", "Any price"), *catalog.PRICE_MODELS.items()]
    )
    fmi = forms.ChoiceField(
        required=False,
        choices=[("", "Any FMI version"), *((v, f"FMI {v}") for v in catalog.FMI_VERSIONS)],
        label="FMI version",
    )
    kind = forms.ChoiceField(
        required=False, choices=[("", "Any interface"), *catalog.KINDS.items()], label="Interface"
    )
    platform = forms.ChoiceField(
        required=False, choices=[("", "Any platform"), *catalog.PLATFORMS.items()]
    )
    certified = forms.BooleanField(required=False, label="Certified only")
    rating = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=0,  # type: ignore[arg-type]  # any value goes; the stubs say a string
        choices=[("", "Any rating"), ("4", "4★ and up"), ("3", "3★ and up"), ("2", "2★ and up")],
        label="Rating",
    )
    sort = forms.ChoiceField(required=False, choices=list(catalog.SORTS.items()))
    page = forms.IntegerField(required=False, min_value=1, max_value=catalog.MAX_PAGE)

    def to_query(self, *, category: Category | None = None, creator=None) -> catalog.CatalogQuery:
        self.is_valid()
        data = {
            name: self.cleaned_data.get(name) for name in self.fields if name in self.cleaned_data
        }
        tags = [slugify(t)[:60] for t in (data.get("tag") or "").split(",") if slugify(t)][:5]
        return catalog.CatalogQuery(
            q=" ".join((data.get("q") or "").split())[:200],
            category=category,
            creator=creator,
            tags=tags,
            price=data.get("price") or "",
            fmi=data.get("fmi") or "",
            kind=data.get("kind") or "",
            platform=data.get("platform") or "",
            certified=bool(data.get("certified")),
            min_rating=data.get("rating") or 0,
            sort=data.get("sort") or "",
            page=data.get("page") or 1,
        )


CatalogFilterForm.base_fields = _SharedFields(CatalogFilterForm.base_fields)


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        coerce=int,
        choices=[(n, f"{n} star{'s' if n > 1 else ''}") for n in range(5, 0, -1)],
        widget=forms.RadioSelect,
    )
    title = forms.CharField(max_length=200)
    body = forms.CharField(
        label="Your review",
        required=False,
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    pros = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    cons = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class ReportForm(forms.Form):
    reason = forms.ChoiceField(choices=ReviewReport.Reason.choices)
    details = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class ResponseForm(forms.Form):
    text = forms.CharField(
        label="Public answer",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ListingForm(forms.ModelForm):
    """A creator's SKU. Prices are typed in major units (12.50) and stored in minor units."""

    price = forms.DecimalField(
        required=False, min_value=0, decimal_places=2, max_digits=12, label="Price"
    )

    class Meta:
        model = Listing
        fields = [
            "name",
            "description",
            "kind",
            "pricing_model",
            "currency",
            "billing_interval",
            "trial_days",
            "trial_runs",
            "run_quota",
            "max_activations",
            "seats",
            "validity_days",
            "license_template",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "license_template": forms.Textarea(attrs={"rows": 5}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and self.instance.pk:
            self.initial["price"] = self.instance.price_amount / 100

    def listing_fields(self) -> dict:
        data = dict(self.cleaned_data)
        price = data.pop("price", None) or Decimal(0)
        data["price_amount"] = int((price * 100).to_integral_value())
        data["currency"] = (data.get("currency") or "EUR").upper()
        return data


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=["read", "run"],
    )


class CouponForm(forms.Form):
    code = forms.CharField(max_length=40, required=False, label="Coupon code")
