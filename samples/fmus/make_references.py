"""Compute the reference results of the sample FMUs from closed-form solutions.

The references must not come from the FMUs themselves (a test comparing an FMU with its
own output could never fail), so every model is solved analytically here with numpy,
using the start values and the default experiment of its model.json. Run it after
changing a model and commit the output:

    .venv/bin/python samples/fmus/make_references.py
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def bouncing_ball(
    t: np.ndarray, h: float, v: float, g: float, e: float, v_min: float
) -> dict[str, np.ndarray]:
    """Piecewise parabolic flights; at impact v -> -e*v, and the ball rests once the
    rebound speed is below v_min (values at an impact time are those after it)."""
    if g >= 0:
        raise ValueError("the closed form assumes gravity pointing down (g < 0)")
    # flights as (start time, start height, start velocity, acceleration)
    flights: list[tuple[float, float, float, float]] = []
    t0 = float(t[0])
    resting = False
    if h <= 0 and v <= 0:  # a ball starting on the ground bounces at once
        h, v = 0.0, -e * v
        resting = v < v_min
    while not resting and t0 <= t[-1]:
        flights.append((t0, h, v, g))
        # time to impact: h + v*tau + g/2*tau^2 = 0, positive root for g < 0
        tau = (-v - math.sqrt(v * v - 2.0 * g * h)) / g
        t0, h, v = t0 + tau, 0.0, -e * (v + g * tau)
        resting = v < v_min
    if resting:
        flights.append((t0, 0.0, 0.0, 0.0))
    starts = np.array([f[0] for f in flights])
    index = np.searchsorted(starts, t, side="right") - 1
    tau = t - starts[index]
    h0, v0, a = (np.array([f[i] for f in flights])[index] for i in (1, 2, 3))
    return {"h": h0 + v0 * tau + 0.5 * a * tau**2, "v": v0 + a * tau}


def mass_spring_damper(
    t: np.ndarray, x: float, v: float, F: float, m: float, k: float, c: float
) -> dict[str, np.ndarray]:
    """Underdamped m*x'' + c*x' + k*x = F with constant F."""
    omega_n = math.sqrt(k / m)
    zeta = c / (2.0 * math.sqrt(k * m))
    if not 0 <= zeta < 1:
        raise ValueError("the closed form assumes an underdamped oscillator")
    sigma, omega_d = zeta * omega_n, omega_n * math.sqrt(1.0 - zeta**2)
    x_eq = F / k
    a0, b0 = x - x_eq, (v + sigma * (x - x_eq)) / omega_d
    decay, cos, sin = np.exp(-sigma * t), np.cos(omega_d * t), np.sin(omega_d * t)
    xs = x_eq + decay * (a0 * cos + b0 * sin)
    vs = decay * ((b0 * omega_d - sigma * a0) * cos - (a0 * omega_d + sigma * b0) * sin)
    return {"x": xs, "v": vs, "a": (F - k * xs - c * vs) / m}


def pi_controller(
    t: np.ndarray, setpoint: float, measurement: float, integral: float, kp: float, ki: float
) -> dict[str, np.ndarray]:
    """Constant inputs: the error is constant and the integrator a ramp."""
    error = setpoint - measurement
    return {"u": kp * error + ki * (integral + error * t), "error": np.full_like(t, error)}


MODELS: dict[str, Callable[..., dict[str, np.ndarray]]] = {
    "bouncing_ball": bouncing_ball,
    "mass_spring_damper": mass_spring_damper,
    "pi_controller": pi_controller,
}


def start_values(model: dict) -> dict[str, float]:
    return {v["name"]: v["start"] for v in model["variables"] if "start" in v}


def time_grid(experiment: dict) -> np.ndarray:
    start, stop, step = experiment["startTime"], experiment["stopTime"], experiment["stepSize"]
    n = round((stop - start) / step)
    return start + step * np.arange(n + 1)


def write_csv(path: Path, t: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    lines = [",".join(["time", *columns])]
    for i, ti in enumerate(t):
        row = [ti, *(c[i] for c in columns.values())]
        lines.append(",".join(f"{value + 0.0:.15g}" for value in row))  # + 0.0: no "-0"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def compute(slug: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Time grid and reference columns of one model, from its model.json."""
    model = json.loads((HERE / slug / "model.json").read_text(encoding="utf-8"))
    t = time_grid(model["defaultExperiment"])
    values = start_values(model)
    solve = MODELS[slug]
    parameters = list(inspect.signature(solve).parameters)[1:]  # all but t
    return t, solve(t, **{name: values[name] for name in parameters})


def main() -> None:
    for slug in MODELS:
        t, columns = compute(slug)
        write_csv(HERE / slug / "reference.csv", t, columns)
        print(f"wrote {slug}/reference.csv ({len(t)} rows)")


if __name__ == "__main__":
    main()
