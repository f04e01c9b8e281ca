"""Which points the GP conditions on when a search is large (issue 14: 10,000 trials, 500 at once).

An exact GP costs O(n^3) to condition on n points and O(n^2) per candidate to predict, and GP-BUCB
adds every running trial as a point, so a search of thousands of trials would take minutes per
suggestion. Above ``OBSERVED_CAP`` finished points the posterior is conditioned on a subset of
``OBSERVED_CAP`` of them, and above ``PENDING_CAP`` running trials only that many are hallucinated
(a subset-of-data approximation, Rasmussen & Williams 2006, section 8.3.3, chosen for where the
acquisition is decided rather than at random):

- observed: the best ``BEST_SHARE`` by value (the UCB maximum is almost always near them, and
  the model must be exact there), the nearest ``NEAR_SHARE`` to the incumbent (its neighbourhood,
  for the local rounds), and a seeded uniform sample of the rest (the rest of the space, so the
  variance far from the best points stays honest);
- pending: those with the highest UCB under the observed posterior, i.e. where the next point
  would otherwise go; the others are still tried points (never suggested again) and still keep
  candidates at a distance (``model.SEPARATION``).

Below the caps nothing changes: every point is used. The hyperparameters are fitted on at most
``gp.FIT_CAP`` of the kept points, as before. Pure and deterministic (the sample comes from the
suggestion's generator).
"""

from __future__ import annotations

import numpy as np

from hypersearch.core.suggest.encoding import Array

Indices = np.ndarray[tuple[int], np.dtype[np.intp]]

OBSERVED_CAP = 500
"""Most finished points the posterior is conditioned on (measured: docs/algorithms.md, "Large
searches")."""
PENDING_CAP = 100
"""Most running trials hallucinated as observations (GP-BUCB)."""
BEST_SHARE = 0.3
NEAR_SHARE = 0.2


def observed_subset(
    x: Array, z: Array, rng: np.random.Generator, cap: int | None = None
) -> Indices:
    """Sorted row indices of the points to condition on: all of them up to ``cap`` (default
    OBSERVED_CAP), else the best, the incumbent's nearest neighbours and a seeded sample of the
    rest, ``cap`` in all."""
    cap = OBSERVED_CAP if cap is None else cap
    n = len(z)
    if n <= cap:
        return np.arange(n)
    order = np.argsort(-z, kind="stable")
    keep = np.zeros(n, dtype=bool)
    keep[order[: int(cap * BEST_SHARE)]] = True
    distance = np.linalg.norm(x - x[order[0]], axis=1)
    by_distance = np.argsort(distance, kind="stable")
    keep[by_distance[~keep[by_distance]][: int(cap * NEAR_SHARE)]] = True
    rest = np.flatnonzero(~keep)
    keep[rng.choice(rest, cap - int(keep.sum()), replace=False)] = True
    return np.flatnonzero(keep)


def pending_subset(scores: Array, cap: int | None = None) -> Indices:
    """Sorted indices of the ``cap`` (default PENDING_CAP) pending points with the highest
    ``scores`` (all of them up to the cap)."""
    cap = PENDING_CAP if cap is None else cap
    if len(scores) <= cap:
        return np.arange(len(scores))
    return np.sort(np.argsort(-scores, kind="stable")[:cap])
