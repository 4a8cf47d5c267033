"""Calibration of survey weights to known register totals (pure: arrays in, arrays out).

Deville & Särndal (1992): find weights w_i = d_i·F(x_iᵀλ) closest to the design weights d_i
such that Σ w_i x_i = X (the register totals). ``linear`` is the GREG distance (F(u) = 1 + u,
one linear solve); ``raking`` the multiplicative one (F(u) = exp(u), Newton steps), which keeps
weights positive and, for categorical margins, equals iterative proportional fitting. X holds
one indicator column per margin category (drop none: the system is solved with a
least-squares step, so collinear margins such as two margins summing to the same total work).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Distance = Literal["linear", "raking"]


@dataclass(frozen=True)
class Calibrated:
    weights: np.ndarray
    iterations: int
    max_relative_error: float


def calibrate(x: np.ndarray, design_weights: np.ndarray, totals: np.ndarray,
              distance: Distance = "raking", tolerance: float = 1e-9,
              max_iterations: int = 100) -> Calibrated:
    """Calibrated weights reproducing ``totals`` = Σ w·x within ``tolerance`` (relative)."""
    x = np.asarray(x, dtype=float)
    d = np.asarray(design_weights, dtype=float)
    target = np.asarray(totals, dtype=float)
    lam = np.zeros(x.shape[1])
    for iteration in range(1, max_iterations + 1):
        u = x @ lam
        factor, slope = (1.0 + u, np.ones_like(u)) if distance == "linear" else \
            (np.exp(u), np.exp(u))
        weights = d * factor
        gap = target - x.T @ weights
        error = _relative(gap, target)
        if error <= tolerance:
            return Calibrated(weights, iteration - 1, error)
        jacobian = x.T @ (x * (d * slope)[:, None])
        step = np.linalg.lstsq(jacobian, gap, rcond=None)[0]
        lam = lam + step
    weights = d * ((1.0 + x @ lam) if distance == "linear" else np.exp(x @ lam))
    error = _relative(target - x.T @ weights, target)
    if error > 1e-6:
        raise ValueError(f"calibration did not converge (largest relative margin error "
                         f"{error:.2e} after {max_iterations} iterations); a margin category "
                         "may have no respondents")
    return Calibrated(weights, max_iterations, error)


def _relative(gap: np.ndarray, target: np.ndarray) -> float:
    return float(np.max(np.abs(gap) / np.maximum(np.abs(target), 1.0))) if len(gap) else 0.0
