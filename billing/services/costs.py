"""The credit consumption model (seed 001 §3, "Credit Consumption Model").

    subtotal = run rate of the model's size class
             + CPU seconds               x CREDIT_RATE_CPU_SECOND
             + peak memory GiB x wall s  x CREDIT_RATE_GB_SECOND
    gross    = subtotal x (1 + CREDIT_RATE_PREMIUM_SURCHARGE_BPS / 10000)   for premium models
    total    = ceil(gross x (1 - plan discount_bps / 10000))                integer credits

Arithmetic is exact (``Decimal``); only the final total is rounded, upwards. The cost is
monotonic in every resource, so the cost of a job's *limits* bounds the cost of any run within
them: that is the quote reserved before a job starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from typing import Any, Protocol

from django.conf import settings

from fmugateway.core.errors import DomainError

_BPS = Decimal(10_000)
_MIB_PER_GIB = Decimal(1024)


class ModelSizeClass(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


def model_size_class(size_bytes: int) -> ModelSizeClass:
    """The size class of an FMU archive of ``size_bytes`` (thresholds are settings)."""
    if size_bytes >= settings.CREDIT_SIZE_LARGE_BYTES:
        return ModelSizeClass.LARGE
    if size_bytes >= settings.CREDIT_SIZE_MEDIUM_BYTES:
        return ModelSizeClass.MEDIUM
    return ModelSizeClass.SMALL


@dataclass(frozen=True)
class ResourceUsage:
    """Resources of one run: measured usage, or (as ``JobLimits``) the most a job may use."""

    cpu_seconds: float = 0.0
    memory_mb: float = 0.0  # peak resident memory, MiB
    wall_seconds: float = 0.0

    def __post_init__(self) -> None:
        for name in ("cpu_seconds", "memory_mb", "wall_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, Decimal)) or isinstance(value, bool):
                raise TypeError(f"{name} must be a number")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite, non-negative number")

    @classmethod
    def coerce(cls, value: ResourceUsage | Mapping[str, Any]) -> ResourceUsage:
        """Accept an instance or a mapping (``peak_memory_mb`` is read as ``memory_mb``)."""
        if isinstance(value, ResourceUsage):
            return cls(value.cpu_seconds, value.memory_mb, value.wall_seconds)
        if isinstance(value, Mapping):
            memory = value.get("memory_mb", value.get("peak_memory_mb", 0))
            return cls(
                cpu_seconds=value.get("cpu_seconds", 0) or 0,
                memory_mb=memory or 0,
                wall_seconds=value.get("wall_seconds", 0) or 0,
            )
        raise TypeError(f"expected ResourceUsage or a mapping, got {type(value).__name__}")


JobLimits = ResourceUsage


class HasDiscount(Protocol):
    @property
    def discount_bps(self) -> int: ...


@dataclass(frozen=True)
class CostBreakdown:
    run: Decimal
    cpu: Decimal
    memory: Decimal
    premium_surcharge: Decimal
    discount: Decimal
    total: int

    def as_dict(self) -> dict[str, str | int]:
        return {
            key: (str(value) if isinstance(value, Decimal) else value)
            for key, value in asdict(self).items()
        }


def _run_rate(size_class: str) -> Decimal:
    rates = {
        ModelSizeClass.SMALL: settings.CREDIT_RATE_RUN_SMALL,
        ModelSizeClass.MEDIUM: settings.CREDIT_RATE_RUN_MEDIUM,
        ModelSizeClass.LARGE: settings.CREDIT_RATE_RUN_LARGE,
    }
    try:
        return Decimal(rates[ModelSizeClass(size_class)])
    except ValueError:
        raise DomainError(
            f"Unknown model size class {size_class!r}; use small, medium or large.",
            code="invalid_model_size_class",
        ) from None


def cost_breakdown(
    usage: ResourceUsage | Mapping[str, Any],
    plan: HasDiscount | int,
    model_size_class: str = ModelSizeClass.SMALL,
    premium: bool = False,
) -> CostBreakdown:
    """The itemised cost of ``usage``; ``plan`` is a plan (its ``discount_bps``) or the bps."""
    usage = ResourceUsage.coerce(usage)
    discount_bps = Decimal(plan if isinstance(plan, int) else plan.discount_bps)
    run = _run_rate(model_size_class)
    cpu = Decimal(str(usage.cpu_seconds)) * Decimal(settings.CREDIT_RATE_CPU_SECOND)
    gib_seconds = Decimal(str(usage.memory_mb)) / _MIB_PER_GIB * Decimal(str(usage.wall_seconds))
    memory = gib_seconds * Decimal(settings.CREDIT_RATE_GB_SECOND)
    subtotal = run + cpu + memory
    surcharge = (
        subtotal * Decimal(settings.CREDIT_RATE_PREMIUM_SURCHARGE_BPS) / _BPS
        if premium
        else Decimal(0)
    )
    gross = subtotal + surcharge
    discount = gross * discount_bps / _BPS
    total = int((gross - discount).to_integral_value(rounding=ROUND_CEILING))
    return CostBreakdown(
        run=run,
        cpu=cpu,
        memory=memory,
        premium_surcharge=surcharge,
        discount=discount,
        total=max(total, 0),
    )


def job_cost(
    usage: ResourceUsage | Mapping[str, Any],
    plan: HasDiscount | int,
    model_size_class: str = ModelSizeClass.SMALL,
    premium: bool = False,
) -> int:
    """Integer credits for one run that used ``usage`` on ``plan``."""
    return cost_breakdown(usage, plan, model_size_class, premium).total
