"""Server-side plots of results (matplotlib, Agg backend, imported on first use only)."""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from fmugateway.core.errors import DomainError

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
MAX_VARIABLES = 12
DEFAULT_VARIABLES = 6
# Rows drawn in a server-rendered plot (800 px wide): more are reduced to the minimum and maximum
# per bucket (results.display_rows), the same picture at this size.
PLOT_POINTS = 10_000
_lock = threading.Lock()  # pyplot's state is global; web servers may use threads


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot

    return pyplot


def choose_variables(available: Sequence[str], requested: str | Sequence[str] | None) -> list[str]:
    """The requested variables (comma-separated or a list), or the first few; 400 if unknown."""
    if isinstance(requested, str):
        requested = [part.strip() for part in requested.split(",") if part.strip()]
    if not requested:
        return list(available[:DEFAULT_VARIABLES])
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise DomainError(
            f"Not in the results: {', '.join(unknown[:5])}.",
            code="unknown_variable",
            fields={"variables": [{"code": "unknown_variable", "detail": ", ".join(unknown)}]},
        )
    if len(requested) > MAX_VARIABLES:
        raise DomainError(
            f"At most {MAX_VARIABLES} variables per plot.",
            code="too_many_variables",
            fields={"variables": [{"code": "too_many_variables", "detail": "Choose fewer."}]},
        )
    return list(dict.fromkeys(requested))


def check_format(fmt: str | None) -> str:
    fmt = (fmt or "png").lower()
    if fmt not in FORMATS:
        raise DomainError(
            "Plots are PNG or SVG.",
            code="invalid_format",
            fields={"fmt": [{"code": "invalid_choice", "detail": "png or svg"}]},
        )
    return fmt


def _label(name: str, unit: str | None) -> str:
    return f"{name} [{unit}]" if unit else name


def render_time_series(
    x: np.ndarray,
    series: Mapping[str, np.ndarray],
    units: Mapping[str, str],
    *,
    fmt: str = "png",
    title: str = "",
    x_label: str = "time [s]",
) -> bytes:
    """One panel per unit (variables sharing a unit share an axis); units label the axes."""
    groups: dict[str, list[str]] = {}
    for name in series:
        groups.setdefault(units.get(name, "") or "", []).append(name)
    with _lock:
        plt = _pyplot()
        fig, axes = plt.subplots(
            len(groups) or 1,
            1,
            sharex=True,
            figsize=(8, 2.4 * max(1, len(groups)) + 0.6),
            squeeze=False,
        )
        try:
            for axis, (unit, names) in zip(axes[:, 0], groups.items(), strict=False):
                for name in names:
                    axis.plot(x, np.asarray(series[name], dtype=np.float64), label=name)
                axis.set_ylabel(unit if unit else "value")
                axis.grid(True, alpha=0.3)
                axis.legend(loc="best", fontsize="small")
            axes[-1, 0].set_xlabel(x_label)
            if title:
                fig.suptitle(title)
            fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=100)
        finally:
            plt.close(fig)
    return buffer.getvalue()


def render_points(
    x: Sequence[float],
    series: Mapping[str, Sequence[float | None]],
    units: Mapping[str, str],
    *,
    x_label: str,
    fmt: str = "png",
    title: str = "",
) -> bytes:
    """A sweep summary: one marker line per output against the swept parameter or run."""
    xs = np.asarray(x, dtype=np.float64)
    data = {
        name: np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
        for name, values in series.items()
    }
    order = np.argsort(xs, kind="stable")
    with _lock:
        plt = _pyplot()
        fig, axes = plt.subplots(
            len(data) or 1,
            1,
            sharex=True,
            figsize=(8, 2.2 * max(1, len(data)) + 0.6),
            squeeze=False,
        )
        try:
            for axis, (name, values) in zip(axes[:, 0], data.items(), strict=False):
                axis.plot(xs[order], values[order], marker="o", markersize=3, linewidth=1)
                axis.set_ylabel(_label(name, units.get(name)))
                axis.grid(True, alpha=0.3)
            axes[-1, 0].set_xlabel(x_label)
            if title:
                fig.suptitle(title)
            fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=100)
        finally:
            plt.close(fig)
    return buffer.getvalue()


LINE_STYLES = ("-", "--", ":", "-.")


def render_runs(
    runs: Sequence[tuple[str, np.ndarray, Mapping[str, np.ndarray]]],
    units: Mapping[str, str],
    *,
    fmt: str = "png",
    title: str = "",
    x_label: str = "time [s]",
) -> bytes:
    """Several runs overlaid, each (label, time, variable -> values): one panel per unit, a
    colour per variable and a line style per run, so "B: x" lies on top of "A: x"."""
    names = list(dict.fromkeys(name for _, _, series in runs for name in series))
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(units.get(name, "") or "", []).append(name)
    with _lock:
        plt = _pyplot()
        fig, axes = plt.subplots(
            len(groups) or 1,
            1,
            sharex=True,
            figsize=(8, 2.6 * max(1, len(groups)) + 0.6),
            squeeze=False,
        )
        try:
            for axis, (unit, members) in zip(axes[:, 0], groups.items(), strict=False):
                for name in members:
                    colour = f"C{names.index(name) % 10}"
                    for index, (label, x, series) in enumerate(runs):
                        if name not in series:
                            continue
                        axis.plot(
                            x,
                            np.asarray(series[name], dtype=np.float64),
                            color=colour,
                            linestyle=LINE_STYLES[index % len(LINE_STYLES)],
                            label=f"{label}: {name}",
                        )
                axis.set_ylabel(unit if unit else "value")
                axis.grid(True, alpha=0.3)
                axis.legend(loc="best", fontsize="small")
            axes[-1, 0].set_xlabel(x_label)
            if title:
                fig.suptitle(title)
            fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=100)
        finally:
            plt.close(fig)
    return buffer.getvalue()
