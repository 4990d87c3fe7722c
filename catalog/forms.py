"""Forms of the catalog pages (search filters, reviews): they parse and validate."""

from __future__ import annotations

from django import forms
from django.utils.text import slugify

from catalog.models import Category, ReviewReport
from catalog.services import search


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
        required=False, choices=[("", "Any price"), *search.PRICE_MODELS.items()]
    )
    fmi = forms.ChoiceField(
        required=False,
        choices=[("", "Any FMI version"), *((v, f"FMI {v}") for v in search.FMI_VERSIONS)],
        label="FMI version",
    )
    kind = forms.ChoiceField(
        required=False, choices=[("", "Any interface"), *search.KINDS.items()], label="Interface"
    )
    platform = forms.ChoiceField(
        required=False, choices=[("", "Any platform"), *search.PLATFORMS.items()]
    )
    certified = forms.BooleanField(required=False, label="Certified only")
    rating = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=0,  # type: ignore[arg-type]  # any value goes; the stubs say a string
        choices=[("", "Any rating"), ("4", "4★ and up"), ("3", "3★ and up"), ("2", "2★ and up")],
        label="Rating",
    )
    sort = forms.ChoiceField(required=False, choices=list(search.SORTS.items()))
    page = forms.IntegerField(required=False, min_value=1, max_value=search.MAX_PAGE)

    def to_query(self, *, category: Category | None = None, creator=None) -> search.CatalogQuery:
        self.is_valid()
        data = {
            name: self.cleaned_data.get(name) for name in self.fields if name in self.cleaned_data
        }
        tags = [slugify(t)[:60] for t in (data.get("tag") or "").split(",") if slugify(t)][:5]
        return search.CatalogQuery(
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
