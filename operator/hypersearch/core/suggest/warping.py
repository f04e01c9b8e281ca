"""The output warping of GP-UCB: a monotone map of objective values to roughly standard normal
ones, and back.

Why apart from the model: the GP assumes Gaussian values, objectives rarely are, and the way back
(for the predictions recorded in objective units) has its own edge cases. Standardising, then
Yeo-Johnson (as HEBO does), or a rank transform; values that cannot be warped fall back to the
identity. This module must not know about the GP, trials or the search space.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata
from sklearn.preprocessing import PowerTransformer

from hypersearch.core.suggest.encoding import Array

Warp = Literal["yeo-johnson", "rank", "none"]


@dataclass(frozen=True)
class Warping:
    """A monotone map of values to roughly standard normal ones, and back."""

    kind: Warp
    mean: float
    scale: float
    power: PowerTransformer | None
    sorted_y: Array
    sorted_z: Array

    @staticmethod
    def fit(y: Array, kind: Warp) -> tuple[Warping, Array]:
        mean, scale = float(np.mean(y)), float(np.std(y))
        if scale <= 0:
            return Warping("none", mean, 1.0, None, y, y), np.zeros_like(y)
        z = (y - mean) / scale
        power: PowerTransformer | None = None
        if kind == "yeo-johnson":
            power = PowerTransformer(method="yeo-johnson", standardize=True)
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                # Extreme values can overflow the power fit; the fallback below handles it.
                warnings.simplefilter("ignore", RuntimeWarning)
                warped = power.fit_transform(z[:, None])[:, 0]
            if np.all(np.isfinite(warped)) and np.std(warped) > 0:
                z = warped
            else:
                kind, power = "none", None
        elif kind == "rank":
            z = ndtri((rankdata(y) - 0.5) / len(y))
            z = z / np.std(z)
        order = np.argsort(z, kind="stable")
        return Warping(kind, mean, scale, power, y[order], z[order]), z

    def inverse(self, z: Array) -> Array:
        """Back to objective units (rank warping interpolates, extending the end slopes)."""
        if self.kind == "rank":
            ys, zs = self.sorted_y, self.sorted_z
            out = np.interp(z, zs, ys)
            if len(zs) >= 2 and zs[-1] > zs[0]:
                lo_slope = (ys[1] - ys[0]) / max(zs[1] - zs[0], 1e-12)
                hi_slope = (ys[-1] - ys[-2]) / max(zs[-1] - zs[-2], 1e-12)
                out = np.where(z < zs[0], ys[0] + (z - zs[0]) * lo_slope, out)
                out = np.where(z > zs[-1], ys[-1] + (z - zs[-1]) * hi_slope, out)
            return np.asarray(out, dtype=float)
        u = np.asarray(z, dtype=float)
        if self.power is not None:
            u = self._power_inverse(u)
        return u * self.scale + self.mean

    def _power_inverse(self, z: Array) -> Array:
        """Yeo-Johnson's inverse inside the observed warped values, continued linearly outside
        them with the slope of the secant over the outer tenth of the values. With a negative
        lambda the inverse is only defined up to a bound that can sit just above the best value
        seen (0.5 standard deviations on Hartmann-6 values), so a prediction better than every
        observation (as UCB's usually is) came back NaN and the suggestion was recorded without
        one; the edge's own slope, near that pole, is too steep to extrapolate with."""
        assert self.power is not None
        power = self.power

        def exact(v: Array) -> Array:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                out: Array = power.inverse_transform(v[:, None])[:, 0]
            return out

        u = exact(z)
        zs = self.sorted_z
        k = max(len(zs) // 10, 1)
        if len(zs) > k and zs[-1] > zs[0]:
            ends = np.array([zs[0], zs[k], zs[-1 - k], zs[-1]])
            at = exact(ends)
            lo_slope = (at[1] - at[0]) / max(ends[1] - ends[0], 1e-12)
            hi_slope = (at[3] - at[2]) / max(ends[3] - ends[2], 1e-12)
            u = np.where(z < ends[0], at[0] + (z - ends[0]) * lo_slope, u)
            u = np.where(z > ends[3], at[3] + (z - ends[3]) * hi_slope, u)
        return u
