from django import forms

from registry.models import Package
from registry.pages import category_choices


class PackageForm(forms.ModelForm):
    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. mechanics, thermal")

    class Meta:
        model = Package
        fields = ["name", "summary", "description", "category", "tags", "license_text", "is_free"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 8}),
            "license_text": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and self.instance.pk:
            self.initial["tags"] = ", ".join(self.instance.tags)
        choices = category_choices()
        if choices is not None:
            current = self.instance.category if self.instance else ""
            if current and current not in {value for value, _ in choices}:
                # Written before the tree offered a choice: kept until the creator picks one.
                choices = [*choices, (current, f"{current} (not in the catalog's categories)")]
            self.fields["category"] = forms.ChoiceField(
                choices=[("", "— none —"), *choices],
                required=False,
                help_text="Where buyers browsing the catalog find it.",
            )

    def clean_tags(self) -> list[str]:
        raw = self.cleaned_data.get("tags") or ""
        return sorted({tag.strip().lower()[:50] for tag in raw.split(",") if tag.strip()})[:20]


class VersionUploadForm(forms.Form):
    file = forms.FileField(label="FMU file (.fmu)")
    version = forms.CharField(max_length=64, help_text="Semantic version, e.g. 1.0.0")
    changelog = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    reference_csv = forms.FileField(
        required=False,
        label="Reference results (CSV, optional)",
        help_text="First column time, then one column per output; used as a test vector.",
    )
    rtol = forms.FloatField(required=False, min_value=0, max_value=1, label="Relative tolerance")
    atol = forms.FloatField(required=False, min_value=0, label="Absolute tolerance")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
