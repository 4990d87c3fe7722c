"""Forms of the storefront pages: they parse and validate; services decide."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from marketplace.models import Listing
from marketplace.services.listings import EDITABLE


class ListingForm(forms.ModelForm):
    """A creator's SKU. Prices are typed in major units (12.50) and stored in minor units."""

    price = forms.DecimalField(
        required=False, min_value=0, decimal_places=2, max_digits=12, label="Price"
    )

    class Meta:
        model = Listing
        # The price is entered in major units (``price``); the share and the switch are the API's.
        fields = [
            name
            for name in EDITABLE
            if name not in ("price_amount", "revenue_share_bps", "is_active")
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


class CouponForm(forms.Form):
    code = forms.CharField(max_length=40, required=False, label="Coupon code")
