"""Template helpers of the storefront: money, stars, query strings."""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join

register = template.Library()

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


@register.filter
def money(amount, currency: str = "EUR") -> str:
    """Minor units to a price: ``4900, "EUR"`` → "€49.00"; 0 → "Free"."""
    if amount is None:
        return ""
    amount = int(amount)
    if amount == 0:
        return "Free"
    currency = (currency or "EUR").upper()
    value = f"{amount / 100:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{value}" if symbol else f"{value} {currency}"


@register.simple_tag
def stars(rating, count=None):
    """Five stars filled to the rating, with a text alternative for screen readers."""
    rating = float(rating or 0)
    full = int(rating + 0.25)
    label = f"Rated {rating:.1f} out of 5" if rating else "Not rated yet"
    if count is not None:
        label += f" ({count} review{'s' if count != 1 else ''})"
    return format_html(
        '<span class="stars" role="img" aria-label="{}"><span aria-hidden="true">{}'
        '<span class="off">{}</span></span></span>',
        label,
        "★" * full,
        "★" * (5 - full),
    )


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current query string with some parameters changed (None/"" removes them);
    changing anything but ``page`` starts again at page 1."""
    request = context["request"]
    params = request.GET.copy()
    if "page" not in changes:
        params.pop("page", None)
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = str(value)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag(takes_context=True)
def tag_toggle(context, slug: str) -> str:
    """The query string with ``slug`` added to or removed from the ``tag`` filter."""
    request = context["request"]
    params = request.GET.copy()
    params.pop("page", None)
    tags = [t for t in params.get("tag", "").split(",") if t]
    tags = [t for t in tags if t != slug] if slug in tags else [*tags, slug]
    if tags:
        params["tag"] = ",".join(tags)
    else:
        params.pop("tag", None)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.simple_tag
def filter_select(bound_field):
    """A filter's ``<select>``, written here rather than through the widget templates: those
    render a template per option, the largest share of a catalog page's time."""
    current = bound_field.value()
    current = "" if current is None else str(current)
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (value, " selected" if str(value) == current else "", label)
            for value, label in bound_field.field.choices
        ),
    )
    return format_html(
        '<select name="{}" id="{}">{}</select>',
        bound_field.html_name,
        bound_field.id_for_label,
        options,
    )
