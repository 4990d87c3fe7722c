"""Template helpers of the storefront: money, stars, query strings, and the pieces a catalog
page repeats (result cards, the category tree, tag pills, filter and sort options, active
filters, the pager), written here in Python: through the template engine they were most of a
search page's time (a card ~0.5 ms, the tree ~6 ms)."""

from __future__ import annotations

import functools
import html
from urllib.parse import quote, urlencode

from django import template
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.safestring import SafeString

register = template.Library()

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


@register.filter
def money(amount, currency: str = "EUR") -> str:
    """Minor units to a price: ``4900, "EUR"`` → "€49.00"; 0 → "Free"."""
    if amount is None:
        return ""
    if int(amount) == 0:
        return "Free"
    return money_total(amount, currency)


@register.filter
def money_total(amount, currency: str = "EUR") -> str:
    """Minor units to a sum (a balance, earnings): ``0, "USD"`` → "$0.00", never "Free"."""
    if amount is None:
        return ""
    amount = int(amount)
    currency = (currency or "EUR").upper()
    value = f"{abs(amount) / 100:,.2f}"
    symbol = SYMBOLS.get(currency)
    sign = "−" if amount < 0 else ""
    return f"{sign}{symbol}{value}" if symbol else f"{sign}{value} {currency}"


def _stars_html(rating, count=None) -> str:
    rating = float(rating or 0)
    full = int(rating + 0.25)
    label = f"Rated {rating:.1f} out of 5" if rating else "Not rated yet"
    if count is not None:
        label += f" ({count} review{'s' if count != 1 else ''})"
    return (
        f'<span class="stars" role="img" aria-label="{_e(label)}"><span aria-hidden="true">'
        f'{"★" * full}<span class="off">{"★" * (5 - full)}</span></span></span>'
    )


@register.simple_tag
def stars(rating, count=None) -> SafeString:
    """Five stars filled to the rating, with a text alternative for screen readers."""
    return SafeString(_stars_html(rating, count))


def _query_with(query, changes: dict) -> str:
    """``query`` (a QueryDict) as a query string with ``changes`` applied: a key keeps its place
    with its new value, None/"" removes it, a new key goes last; ``page`` is dropped unless
    changed. Built from pairs: ``QueryDict.copy()`` deep-copies, and a catalog page builds
    dozens of these links."""
    if "page" not in changes:
        changes = {**changes, "page": None}
    pairs = []
    for key, values in query.lists():
        if key in changes:
            value = changes[key]
            if value not in (None, ""):
                pairs.append((key, str(value)))
        else:
            pairs.extend((key, value) for value in values)
    pairs.extend(
        (key, str(value))
        for key, value in changes.items()
        if key not in query and value not in (None, "")
    )
    return "?" + urlencode(pairs)


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current query string with some parameters changed (None/"" removes them);
    changing anything but ``page`` starts again at page 1."""
    return _query_with(context["request"].GET, changes)


def _toggled(selected: list[str], slug: str) -> str:
    return ",".join([t for t in selected if t != slug] if slug in selected else [*selected, slug])


@register.simple_tag(takes_context=True)
def active_filters(context, query) -> SafeString:
    """The active filters of a catalog query (``CatalogQuery``), each a link that removes it."""
    params = context["request"].GET
    chips = []

    def chip(changes: dict, text: str, label: str = "") -> None:
        aria = f' aria-label="{_e(label)}"' if label else ""
        chips.append(f'<a href="{_e(_query_with(params, changes))}"{aria}>{_e(text)}</a>')

    if query.q:
        chip({"q": None}, f"“{query.q}”", f"Remove search {query.q}")
    for slug in query.tags:
        chip({"tag": _toggled(query.tags, slug)}, f"#{slug}", f"Remove tag {slug}")
    if query.price:
        chip({"price": None}, query.price.capitalize())
    if query.fmi:
        chip({"fmi": None}, f"FMI {query.fmi}")
    if query.kind:
        chip({"kind": None}, query.kind.upper())
    if query.platform:
        chip({"platform": None}, query.platform.capitalize())
    if query.certified:
        chip({"certified": None}, "Certified")
    if query.min_rating:
        chip({"rating": None}, f"{query.min_rating}★ and up")
    return SafeString("\n  ".join(chips))


@register.simple_tag(takes_context=True)
def pager(context, page) -> SafeString:
    """Previous / current / next links of a ``CatalogPage`` with more than one page."""
    if page.num_pages <= 1:
        return SafeString("")
    params = context["request"].GET
    links = []
    if page.has_previous:
        url = _e(_query_with(params, {"page": page.page - 1}))
        links.append(f'<a href="{url}" rel="prev">← Previous</a>')
    more = "+" if page.capped else ""
    links.append(
        f'<span class="current" aria-current="page">Page {page.page:d} of {page.num_pages:d}'
        f"{more}</span>"
    )
    if page.has_next:
        url = _e(_query_with(params, {"page": page.page + 1}))
        links.append(f'<a href="{url}" rel="next">Next →</a>')
    body = "\n  ".join(links)
    return SafeString(f'<nav class="pager" aria-label="Pages">\n  {body}\n</nav>')


@register.simple_tag(takes_context=True)
def hidden_inputs(context, *skip) -> SafeString:
    """The current query's parameters (but ``skip``'s) as hidden inputs, for a form that
    changes one of them."""
    return SafeString(
        "".join(
            f'<input type="hidden" name="{_e(key)}" value="{_e(value)}">'
            for key, value in context["request"].GET.items()
            if key not in skip
        )
    )


def _options(choices, current: str) -> str:
    """``<option>``s of (value, label) pairs, the one whose value is ``current`` selected."""
    return "".join(
        f'<option value="{_e(value)}"{" selected" if str(value) == current else ""}>'
        f"{_e(label)}</option>"
        for value, label in choices
    )


@register.simple_tag
def sort_options(sorts: dict, current: str, searching: bool) -> SafeString:
    """The sort ``<option>``s, "relevance" only for a text search."""
    return SafeString(
        _options(
            ((key, label) for key, label in sorts.items() if key != "relevance" or searching),
            current,
        )
    )


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.simple_tag
def filter_select(bound_field) -> SafeString:
    """A filter's ``<select>``, written here rather than through the widget templates: those
    render a template per option, the largest share of a catalog page's time."""
    current = bound_field.value()
    options = _options(bound_field.field.choices, "" if current is None else str(current))
    return SafeString(
        f'<select name="{_e(bound_field.html_name)}" id="{_e(bound_field.id_for_label)}">'
        f"{options}</select>"
    )


@functools.lru_cache(maxsize=128)
def _route(name: str, prefix: str, urlconf) -> str:
    return reverse(name, urlconf=urlconf)


@register.simple_tag
def route(name: str) -> str:
    """``{% url name %}`` for a route without arguments, resolved once per process: the site's
    header and footer link a dozen of them on every page."""
    return _route(name, get_script_prefix(), get_urlconf())


# --- repeated pieces of catalog pages --------------------------------------------------------

_SLOT = "0slot0"
_URL_SAFE = "!$&'()*+,;=/~:@"  # what ``reverse`` leaves unquoted


@functools.lru_cache(maxsize=64)
def _url_shape(name: str, kwarg: str, prefix: str, urlconf) -> tuple[str, str]:
    before, _, after = reverse(name, kwargs={kwarg: _SLOT}, urlconf=urlconf).partition(_SLOT)
    return before, after


def url_builder(name: str, kwarg: str):
    """A function ``value -> reverse(name, kwargs={kwarg: value})`` for a one-argument route
    that resolves the pattern once: a page of cards reverses ~60 URLs."""
    before, after = _url_shape(name, kwarg, get_script_prefix(), get_urlconf())
    return lambda value: before + quote(str(value), safe=_URL_SAFE) + after


def _e(value) -> str:
    """HTML-escape a value, as Django's ``escape`` does (without its lazy-string wrapper,
    which costs more than the escaping on these hot paths)."""
    return html.escape(str(value), quote=True)


# The builders below return ``SafeString`` of constant markup around values that all went
# through ``_e`` (or are our own safe pieces such as ``stars``); tests feed them hostile text.

_NOT_FOR_SALE = '<span class="muted small">Not for sale</span>'
_CURRENT = ' aria-current="true"'
_PRESSED = ' aria-pressed="true"'


def _price(entry) -> str:
    if entry.has_free:
        return "Free"
    if entry.min_price_amount:
        amount = _e(money(entry.min_price_amount, entry.currency))
        if entry.has_subscription and not entry.has_paid:
            return f"{amount}/mo"
        return f"from {amount}"
    if entry.has_trial:
        return "Trial"
    return _NOT_FOR_SALE


def _badges(entry) -> str:
    badges = []
    if entry.certified:
        badges.append('<span class="badge ok">Certified</span>')
    elif entry.validated:
        badges.append('<span class="badge ok">Validated</span>')
    if entry.fmi_version:
        badges.append(f'<span class="badge">FMI {_e(entry.fmi_version)}</span>')
    if entry.supports_cs:
        badges.append('<span class="badge">CS</span>')
    if entry.supports_me:
        badges.append('<span class="badge">ME</span>')
    if entry.has_trial:
        badges.append('<span class="badge info">Trial</span>')
    return " ".join(badges)


def _shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class _CardLinks:
    """The three routes a card links to, each resolved once per grid."""

    def __init__(self):
        self.package = url_builder("package-detail", "slug")
        self.creator = url_builder("creator-profile", "slug")
        self.category = url_builder("catalog-category", "path")


def _card(entry, links: _CardLinks) -> str:
    if entry.creator_id:
        creator = entry.creator
        by = f'<a href="{_e(links.creator(creator.slug))}">{_e(creator.display_name)}</a>'
    else:
        by = "a creator"
    if entry.category_id:
        category = entry.category
        by += f' · <a href="{_e(links.category(category.path))}">{_e(category.name)}</a>'
    if entry.rating_count:
        count = f'<span class="muted small">({entry.rating_count:d})</span>'
        rating = f"{_stars_html(entry.rating_avg)} {count}"
    else:
        rating = '<span class="muted small">No reviews yet</span>'
    summary = _shorten(entry.summary or entry.package.summary, 150)
    url = links.package(entry.package.slug)
    return (
        '<article class="package-card">\n'
        f'  <h3><a href="{_e(url)}">{_e(entry.title)}</a></h3>\n'
        f'  <p class="by">by {by}</p>\n'
        f'  <div class="badges">{_badges(entry)}</div>\n'
        f'  <p class="summary">{_e(summary)}</p>\n'
        f'  <div class="meta">\n    <span>{rating}</span>\n'
        f'    <span class="price">{_price(entry)}</span>\n  </div>\n'
        "</article>"
    )


@register.simple_tag
def package_grid(entries, id=None) -> SafeString:
    """Catalog entries (``PackageSearch`` rows or ``CatalogCard``) as a list of result cards."""
    links = _CardLinks()
    attrs = f' id="{_e(id)}"' if id else ""
    items = "".join(f"<li>{_card(entry, links)}</li>" for entry in entries)
    return SafeString(f'<ul class="package-grid"{attrs}>{items}</ul>')


@register.simple_tag(takes_context=True)
def category_tree(context, nodes, current=None) -> SafeString:
    """The facet's category tree: each category with its count, linked with the current
    filters kept (and the page dropped); empty categories are left out unless current."""
    suffix = _e(query_with(context, page=None))
    current_pk = current.pk if current is not None else None
    category_url = url_builder("catalog-category", "path")

    def branch(level) -> str:
        items = []
        for node in level:
            category = node.category
            is_current = category.pk == current_pk
            if not (node.count or is_current):
                continue
            url = _e(category_url(category.path))
            mark = _CURRENT if is_current else ""
            items.append(
                f'  <li><a href="{url}{suffix}"{mark}>'
                f'{_e(category.name)}</a> <span class="count">{node.count:d}</span>'
                f"{branch(node.children) if node.children else ''}</li>\n"
            )
        return "<ul>\n" + "".join(items) + "</ul>"

    return SafeString(branch(nodes))


@register.simple_tag(takes_context=True)
def tag_pills(context, tags, selected) -> SafeString:
    """Popular tags as toggles: each link adds its tag to the ``tag`` filter or removes it."""
    base = _query_with(context["request"].GET, {"tag": None})[1:]
    pills = []
    for slug, name, count in tags:
        is_selected = slug in selected
        chosen = _toggled(selected, slug)
        tag = f"tag={quote(chosen, safe=',')}" if chosen else ""
        query = _e("&".join(part for part in (base, tag) if part))
        css, mark = (" info", _PRESSED) if is_selected else ("", "")
        pills.append(
            f'<a class="badge{css}" href="?{query}"{mark}>'
            f'{_e(name)} <span class="count">{count:d}</span></a>'
        )
    return SafeString('<div class="pill-row">' + "".join(pills) + "</div>")
