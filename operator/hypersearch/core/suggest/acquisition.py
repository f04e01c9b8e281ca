"""The acquisition maximiser of GP-UCB: candidates over snapped points of the unit cube, best first.

Random candidates plus perturbations of anchor points (the best observed), then a few rounds of
shrinking perturbations around the best candidates: a vectorised local search that moves integers
and categories as well as floats, since every candidate is snapped (integers at their values, one
category at a time). Optionally the best starts are scored under every combination of categories
before and after the local rounds (``categories.best_categories``).

Why apart from the model: it only needs an acquisition function of feature rows, so it knows
nothing of the GP, pending trials or the suggester's settings. This module must not know about
trials, values or which points were tried (the caller skips those).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hypersearch.core.suggest.categories import best_categories, move_to_best
from hypersearch.core.suggest.encoding import Array, Encoding

RANDOM_CANDIDATES = 512
"""Uniform candidates drawn per maximisation."""
LOCAL_STARTS = 5
"""Best candidates the local rounds start from (and, as anchors, best observed points)."""
LOCAL_SAMPLES = 32
"""Perturbations of each start (or anchor) per round."""
LOCAL_ROUNDS = (0.1, 0.04, 0.015, 0.005)
"""Perturbation scales (in unit-cube widths) of the local search rounds."""


def maximise(
    acq: Callable[[Array], Array],
    enc: Encoding,
    anchors: Array,
    rng: np.random.Generator,
    combos: Array | None = None,
) -> tuple[Array, Array]:
    """Candidates sorted by acquisition, best first (snapped feature rows, their scores).

    With ``combos`` (``categories.category_combos``), the best starts are tried with every
    combination of categories before and after the local search, so the categorical part of the
    maximiser is exact rather than left to the random re-draws of ``perturb``, and combinations
    never tried are scored at the continuous positions that look best."""
    d = enc.dim
    pools = [rng.random((RANDOM_CANDIDATES, d))]
    for anchor in anchors:
        pools.append(perturb(enc, np.repeat(anchor[None, :], LOCAL_SAMPLES, 0), 0.1, rng))
    xs = enc.snap(np.vstack(pools))
    scores = np.asarray(acq(xs), dtype=float)
    order = np.argsort(-scores, kind="stable")
    starts = xs[order[:LOCAL_STARTS]]
    start_scores = scores[order[:LOCAL_STARTS]]
    found_x, found_s = [xs], [scores]
    if combos is not None:
        starts, start_scores = best_categories(
            acq, enc, starts, start_scores, combos, found_x, found_s
        )
    for sigma in LOCAL_ROUNDS:
        trial = enc.snap(perturb(enc, np.repeat(starts, LOCAL_SAMPLES, 0), sigma, rng))
        trial_scores = np.asarray(acq(trial), dtype=float)
        found_x.append(trial)
        found_s.append(trial_scores)
        starts, start_scores = move_to_best(starts, start_scores, trial, trial_scores)
    if combos is not None:
        best_categories(acq, enc, starts, start_scores, combos, found_x, found_s)
    all_x, all_s = np.vstack(found_x), np.concatenate(found_s)
    order = np.argsort(-all_s, kind="stable")
    return all_x[order], all_s[order]


def perturb(enc: Encoding, xs: Array, sigma: float, rng: np.random.Generator) -> Array:
    """Gaussian steps in ordinal columns; each one-hot block re-drawn with probability 1/d."""
    out = xs + rng.normal(0.0, sigma, xs.shape)
    for start, width in enc.categorical_blocks:
        out[:, start : start + width] = xs[:, start : start + width]
        flip = rng.random(len(xs)) < 1.0 / max(len(enc.space.params), 1)
        out[flip, start : start + width] = rng.random((int(flip.sum()), width))
    return out
