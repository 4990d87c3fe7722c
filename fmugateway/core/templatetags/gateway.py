import json

from django import template

from fmugateway.core.markdown import render_markdown

register = template.Library()


@register.filter
def markdown(text: str):
    return render_markdown(text)


@register.filter
def filesize(size: float | None) -> str:
    if size is None:
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@register.filter
def split_words(text: str) -> list[str]:
    return text.split()


@register.filter
def as_json(value, indent: int | None = 2) -> str:
    """Readable JSON of stored settings (``true``/``null``, double quotes), not Python's repr;
    ``|as_json:0`` for one line. Autoescaping still applies where it is shown."""
    return json.dumps(value, indent=indent or None, ensure_ascii=False, default=str)


@register.filter
def significant(value, digits: int = 3) -> str:
    """A measured number to ``digits`` significant digits (``0.0001234567890123`` →
    ``0.000123``, ``1.5e-07`` → ``1.5e-7``); ``None`` is "–",
    anything not a number is shown as it is."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    text = f"{value:.{int(digits)}g}"
    mantissa, sep, exponent = text.partition("e")
    if sep:
        sign = "-" if exponent.startswith("-") else ""
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text
