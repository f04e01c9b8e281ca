"""Thompson sampling over the combinations of categorical values: which combination the next
GP-UCB point is chosen in (a setting, ``combo_choice="thompson"``; docs/algorithms.md, round 11).

Why: on a space where a categorical decides which continuous parameters matter (the benchmark's
``conditional_pipeline``), UCB compares combinations by their best mean plus a bonus at a fixed
multiple of sigma, and a combination with a few poor points at random positions never earns a
trial again. A joint posterior sample over many continuous positions in every combination, its
best value per combination deciding the combination (Thompson 1933; for the categorical part of
a mixed space as in CoCaBO's bandit, Ru et al. 2020, here with the GP's own posterior), sends a
trial to each combination in proportion to the chance that its best point beats the others'.
The continuous part is then UCB's, restricted to that combination. Pure and deterministic given
its rng.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hypersearch.core.suggest import gp
from hypersearch.core.suggest.categories import combo_index, with_categories
from hypersearch.core.suggest.encoding import Array, Encoding

SAMPLE_POINTS = 512
"""About this many points in the joint sample, split evenly over the combinations (at least 8
uniform positions each, plus the anchors): its eigendecomposition is O(points^3)."""
EXCLUDED = 1e3
"""What a candidate outside the drawn combination loses from its acquisition."""


def sampled_combination(  # noqa: PLR0917
    enc: Encoding,
    combos: Array,
    anchors: Array,
    mean: Callable[[Array], Array],
    post: gp.Posterior,
    lift: Callable[[Array], Array],
    rng: np.random.Generator,
) -> int:
    """The combination (``combo_index`` of its row) whose best value in one joint posterior
    sample, over uniform positions and the ``anchors`` in every combination, is the
    highest. ``mean`` gives the posterior mean of feature rows, ``post`` (with any hallucinated
    running trials) the covariance, ``lift`` the GP's inputs from feature rows."""
    positions = max(8, SAMPLE_POINTS // len(combos) - len(anchors))
    starts = np.vstack([rng.random((positions, enc.dim)), anchors])
    xs = enc.snap(with_categories(enc, starts, combos))
    inputs = lift(xs)
    cov = gp.covariance(post, inputs)
    cov = (cov + cov.T) / 2
    values, vectors = np.linalg.eigh(cov)
    draw = mean(xs) + vectors @ (np.sqrt(np.maximum(values, 0.0)) * rng.standard_normal(len(xs)))
    index = combo_index(enc, xs)
    ids = np.unique(index)
    best = [float(np.max(draw[index == k])) for k in ids]
    return int(ids[int(np.argmax(best))])


def restricted(
    acq: Callable[[Array], Array], enc: Encoding, combo: int
) -> Callable[[Array], Array]:
    """``acq`` with every candidate outside combination ``combo`` pushed below all inside it."""

    def inside(xs: Array) -> Array:
        scores = acq(xs)
        return np.where(combo_index(enc, xs) == combo, scores, scores - EXCLUDED)

    return inside
