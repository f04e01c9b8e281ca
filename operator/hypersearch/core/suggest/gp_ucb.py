"""Bayesian optimisation: GP-UCB with a theory-shaped beta schedule, aware of pending trials.

One suggestion, given finished points with values (to maximise) and pending points:

1. The first ``initial_points`` trials of a search (and any while fewer than 2 values are known)
   are the search's scrambled Sobol points, like ``QuasiRandomSuggester``, with their categorical
   values from a balanced covering design (``categories.balanced_categories``): every value of a
   categorical within its first k points, then pairs of values not yet seen.
2. Values are warped to look Gaussian (Yeo-Johnson after standardising, as HEBO does; failed trials
   and NaN/inf values never reach the model: they are excluded, and their points only count as
   tried) and a GP is fitted (``gp.fit``: Matern 5/2, a length scale per numeric dimension and one
   per categorical parameter, shared by its one-hot columns, so that categories are compared by a
   Hamming distance (``gp.GroupedMatern``); a noise term; MAP hyperparameters) whose prior mean is
   a low quantile of the values (``PRIOR_QUANTILE``), so the unknown is expected to be poor rather
   than average.
3. Pending points enter as hallucinated observations equal to the posterior mean (GP-BUCB,
   Desautels, Krause & Burdick 2014, JMLR 15): the mean is unchanged, the variance around running
   trials shrinks, so a batch or an asynchronous queue does not pile onto one point. Each point of
   a batch is added the same way before the next is chosen.
   ``pending="pe"`` (GP-UCB-PE, Contal et al. 2013: of every K running trials one by UCB, the
   others by pure exploration) was measured and lost to GP-BUCB at 10 running trials
   and at 50 (docs/algorithms.md, round 8), so it is a setting, not the default.
4. The next point maximises UCB_t(x) = mu(x) + sqrt(beta_t) sigma(x) with the continuous-domain
   schedule of Srinivas, Krause, Kakade & Seeger 2010 ("Gaussian process optimization in the bandit
   setting", Theorem 2, in the form of Brochu, Cora & de Freitas 2010, eq. 9):
   beta_t = s * 2 log(t^(d/2 + 2) pi^2 / (3 delta)), with delta = 0.1 and t counting trials
   created. The theory's constants are conservative: Srinivas et al. scaled beta down by a factor 5
   in their experiments; our benchmark (docs/algorithms.md) preferred a factor 20, s = 0.05.
   A fixed ``beta`` setting replaces the schedule.
5. The acquisition is maximised over snapped points only (integers at their values, one category at
   a time): random candidates plus perturbations of the best observed points, then a few rounds of
   shrinking perturbations around the best candidates (a vectorised local search that moves
   integers and categories as well as floats); before and after the local rounds each of the best
   candidates is scored under every combination of categories (``CATEGORY_COMBOS``), so pairs of
   categories never measured compete at the continuous positions that look best. A point already
   measured or running (after snapping, so a corner of the box or an integer plateau counts as one
   point) is never asked again: the best untried candidate is taken instead. The objective is taken
   as deterministic, so a repeat would only spend a trial re-measuring a known value. When a finite
   space has no untried point left the suggester returns fewer points.

Settings for the benchmark only (docs/algorithms.md, round 10; measured, none adopted as the
default): ``category_bonus``/``bonus_per`` add a count bonus for rarely tried
categories to the acquisition, ``category_every`` interleaves trials on the least tried ones
(``interleave``: uniform points in the rarest combination), ``split`` gives the GP length
scales per (category, numeric parameter) pair.

The prediction recorded for a suggestion is in objective (maximised) units: the warped mean, UCB
and +-1 std mapped back through the inverse warp. Stateless and deterministic given its arguments.
This module must not know about trials' phases, goals or time.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.spatial.distance import cdist
from scipy.special import ndtri
from scipy.stats import rankdata
from sklearn.preprocessing import PowerTransformer

from hypersearch.core.params import Params
from hypersearch.core.space import Space
from hypersearch.core.suggest import conditioning, gp
from hypersearch.core.suggest.base import (
    Key,
    Outcome,
    Suggestion,
    all_points,
    finite_size,
    key_of,
    tried_keys,
)
from hypersearch.core.suggest.categories import (
    CategorySplit,
    balanced_categories,
    best_categories,
    category_combos,
    combo_bonus,
    count_bonus,
    least_tried_bonus,
    move_to_best,
    rarest_combination,
    value_counts,
)
from hypersearch.core.suggest.encoding import Array, Encoding
from hypersearch.core.suggest.random import (
    ENUMERATE_LIMIT,
    RandomSuggester,
    sobol_points,
)
from hypersearch.core.trials import Prediction

Warp = Literal["yeo-johnson", "rank", "none"]
PendingStrategy = Literal["bucb", "pe", "liar", "ignore"]

DELTA = 0.1
RANDOM_CANDIDATES = 512
LOCAL_STARTS = 5
LOCAL_SAMPLES = 32
LOCAL_ROUNDS = (0.1, 0.04, 0.015, 0.005)
"""Perturbation scales (in unit-cube widths) of the local search rounds."""
SEPARATION = 0.02
"""Candidates closer than this (Euclidean, in features) to a pending point are skipped: its answer
is coming, and GP-BUCB alone barely moves a confident model's choice off a running trial."""
SKIP_LIMIT = 256
"""Ranked candidates scanned for an untried point before listing the finite space's leftovers."""


@dataclass(frozen=True)
class _Warping:
    """A monotone map of values to roughly standard normal ones, and back."""

    kind: Warp
    mean: float
    scale: float
    power: PowerTransformer | None
    sorted_y: Array
    sorted_z: Array

    @staticmethod
    def fit(y: Array, kind: Warp) -> tuple[_Warping, Array]:
        mean, scale = float(np.mean(y)), float(np.std(y))
        if scale <= 0:
            return _Warping("none", mean, 1.0, None, y, y), np.zeros_like(y)
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
        return _Warping(kind, mean, scale, power, y[order], z[order]), z

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


PRIOR_QUANTILE = 0.1
"""The GP's prior mean, as a quantile of the warped values: where the model knows nothing it
expects a poor value (the 10th percentile), not an average one (De Ath, Fieldsend & Everson
2020; the measurement is in docs/algorithms.md, round 7)."""

BETA_SCALE = 0.05
"""Factor on Srinivas et al.'s beta_t; the measured choice is in docs/algorithms.md."""


def beta(t: int, dim: int, scale: float = BETA_SCALE, delta: float = DELTA) -> float:
    """Srinivas et al. 2010 (Theorem 2 shape, Brochu et al. 2010 eq. 9), scaled by ``scale``."""
    t = max(t, 1)
    return scale * 2.0 * math.log(t ** (dim / 2 + 2) * math.pi**2 / (3 * delta))


class GPUCBSuggester:
    """GP-UCB (see the module docstring); the settings exist for the benchmark's comparisons."""

    def __init__(
        self,
        seed: int,
        *,
        initial_points: int = 5,
        warp: Warp = "yeo-johnson",
        pending: PendingStrategy = "bucb",
        beta_scale: float = BETA_SCALE,
        delta: float = DELTA,
        fixed_beta: float | None = None,
        restarts: int = 1,
        ftol: float = gp.FTOL,
        prior_quantile: float | None = PRIOR_QUANTILE,
        categories: Literal["hamming", "onehot"] = "hamming",
        balanced: bool = True,
        enumerate_categories: bool = True,
        observed_cap: int | None = None,
        pending_cap: int | None = None,
        category_bonus: float = 0.0,
        category_every: int = 0,
        bonus_per: Literal["value", "combo"] = "value",
        split: bool = False,
        interleave: int = 0,
    ) -> None:
        self.seed = seed % 2**64
        self.initial_points = initial_points
        self.warp: Warp = warp
        self.pending: PendingStrategy = pending
        self.beta_scale = beta_scale
        self.delta = delta
        self.fixed_beta = fixed_beta
        self.restarts = restarts
        self.ftol = ftol
        self.prior_quantile = prior_quantile
        self.categories = categories
        self.balanced = balanced
        self.enumerate_categories = enumerate_categories
        self.observed_cap = observed_cap
        """Most finished points the posterior uses (None: conditioning.OBSERVED_CAP)."""
        self.pending_cap = pending_cap
        """Most running trials hallucinated (None: conditioning.PENDING_CAP)."""
        self.category_bonus = category_bonus
        """Scale of the count bonus for rarely tried categories (``categories.count_bonus``)."""
        self.category_every = category_every
        """Every this many trials (0: never), one restricted to the least tried categories."""
        self.bonus_per = bonus_per
        """What the count bonus counts: points per categorical value, or per combination."""
        self.split = split
        """Length scales per (category, numeric parameter) pair (``categories.CategorySplit``)."""
        self.interleave = interleave
        """Every this many trials (0: never), a uniform point in the rarest combination."""

    def beta_t(self, t: int, dim: int) -> float:
        """The UCB's beta at trial ``t``: the fixed setting, else the scaled schedule."""
        return self.fixed_beta or beta(t, dim, self.beta_scale, self.delta)

    def suggest(
        self,
        space: Space,
        history: Sequence[Outcome],
        pending: Sequence[Params],
        n: int,
        rng: np.random.Generator,
    ) -> list[Suggestion]:
        if n <= 0:
            return []
        with gp.one_blas_thread():
            return self._suggest(space, history, pending, n, rng)

    def _suggest(
        self,
        space: Space,
        history: Sequence[Outcome],
        pending: Sequence[Params],
        n: int,
        rng: np.random.Generator,
    ) -> list[Suggestion]:
        encoding = Encoding(space)
        finite = space.is_finite()
        # Each point's key once: it validates the point, which dominates at thousands of trials.
        keys = [key_of(space, o.params) for o in history]
        tried = {k for k in keys if k is not None} | tried_keys(space, [], pending)
        size = finite_size(space)
        usable = [o for o, k in zip(history, keys, strict=True) if o.usable and k is not None]
        created = len(history) + len(pending)
        out: list[Suggestion] = []
        model: _Model | None = None
        for i in range(n):
            t = created + i
            if size is not None and len(tried) >= size:
                break
            if self._interleaved(encoding, t, usable):
                busy = [*pending, *(s.params for s in out)]
                drawn = self._fresh(encoding, history, busy, tried, rng)
                rows = encoding.encode_many(
                    [*(o.params for o, k in zip(history, keys, strict=True) if k), *busy]
                )
                drawn = rarest_combination(encoding, rows, drawn, rng)
                if key_of(space, drawn) in tried:
                    drawn = self._fresh(encoding, history, busy, tried, rng)
                out.append(Suggestion(drawn))
            elif t < self.initial_points or len(usable) < 2:
                busy = [*pending, *(s.params for s in out)]
                point = self._initial(encoding, history, busy, t, tried=tried, rng=rng)
                if point is None:
                    break
                out.append(Suggestion(point))
            else:
                if model is None:
                    model = self._model(encoding, usable, [*pending], rng, t + 1)
                    model.count_categories(history, pending)
                # GP-UCB-PE (Contal et al. 2013): of a batch of K, one point by UCB and K - 1
                # by pure exploration; asynchronously, with K = the running trials + this one,
                # every K-th trial created is the UCB one (stateless: t decides).
                explore = self.pending == "pe" and t % (len(pending) + i + 1) != 0
                suggestion = model.next(t + 1, tried, size, rng, explore=explore)
                if suggestion is None and not finite:  # every candidate was a tried point
                    busy = [*pending, *(s.params for s in out)]
                    suggestion = Suggestion(self._fresh(encoding, history, busy, tried, rng))
                if suggestion is None:
                    break
                out.append(suggestion)
            key = key_of(space, out[-1].params)
            if key is not None:
                tried.add(key)
            if model is not None and i < n - 1:  # the last point needs no hallucination
                model.add_pending(out[-1].params)
        return out

    def _interleaved(self, encoding: Encoding, t: int, usable: Sequence[Outcome]) -> bool:
        """Whether trial ``t`` is an interleaved one (``interleave``; categorical spaces only)."""
        k = self.interleave
        return bool(
            k
            and encoding.categorical_blocks
            and t >= self.initial_points
            and len(usable) >= 2
            and (t + 1) % k == 0
        )

    def _initial(
        self,
        encoding: Encoding,
        history: Sequence[Outcome],
        busy: Sequence[Params],
        t: int,
        *,
        tried: set[Key],
        rng: np.random.Generator,
    ) -> Params | None:
        """Sobol point ``t`` of this search, or an untried random point when it was tried."""
        point = encoding.decode(sobol_points(encoding, self.seed, t, 1)[0])
        if self.balanced:
            point = balanced_categories(encoding.space, point, self.seed, t)
        if key_of(encoding.space, point) not in tried:
            return point
        if encoding.space.is_finite():
            extra = RandomSuggester().suggest(encoding.space, history, busy, 1, rng)
            return extra[0].params if extra else None
        return self._fresh(encoding, history, busy, tried, rng)

    @staticmethod
    def _fresh(
        encoding: Encoding,
        history: Sequence[Outcome],
        busy: Sequence[Params],
        tried: set[Key],
        rng: np.random.Generator,
    ) -> Params:
        """An untried uniform point of a space with a float parameter (a repeat has measure zero,
        so the loop ends at once unless the space is all but exhausted at its snapped points)."""
        while True:
            (drawn,) = RandomSuggester().suggest(encoding.space, history, busy, 1, rng)
            if key_of(encoding.space, drawn.params) not in tried:
                return drawn.params

    def _model(
        self,
        encoding: Encoding,
        usable: Sequence[Outcome],
        pending: Sequence[Params],
        rng: np.random.Generator,
        t: int,
    ) -> _Model:
        x = encoding.encode_many([o.params for o in usable])
        y = np.array([float(o.value) for o in usable if o.value is not None])
        multi = any(o.fidelity < 1.0 or o.curve for o in usable)
        if multi:
            x, y = _with_fidelity(x, y, usable)
        warping, z = _Warping.fit(y, self.warp)
        # The GP's prior mean is 0; shifting the values puts it at the chosen quantile.
        shift = 0.0 if self.prior_quantile is None else float(np.quantile(z, self.prior_quantile))
        groups = encoding.groups if self.categories == "hamming" else None
        if multi and groups is not None:
            groups = (*groups, max(groups, default=-1) + 1)  # the fidelity column's own scale
        lift: CategorySplit | None = None
        if self.split and encoding.categorical_blocks:
            if multi:
                raise ValueError("split=1 and the fidelity model (early stopping) do not combine")
            lift = CategorySplit.of(encoding, groups or tuple(range(encoding.dim)))
            groups = lift.groups
        # Every point up to the cap (conditioning.OBSERVED_CAP unless set), else a subset.
        keep = conditioning.observed_subset(x, z, rng, self.observed_cap)
        post = gp.fit(
            x[keep],
            z[keep] - shift,
            rng,
            restarts=self.restarts,
            ftol=self.ftol,
            groups=groups,
            lift=lift,
        )
        model = _Model(self, encoding, warping, post, z - shift, shift=shift, fidelity=multi)
        model.add_running(pending, t)
        return model


def full_fidelity_bounds(
    suggester: GPUCBSuggester,
    space: Space,
    history: Sequence[Outcome],
    points: Sequence[Params],
    rng: np.random.Generator,
) -> list[float] | None:
    """UCB_t at fidelity 1 of each of ``points`` (objective units to maximise) under the model
    ``suggest`` would fit to ``history``; None when there is no model yet (fewer than 2 usable
    values). What an early-stopping rule may ask before stopping a trial: could a full trial
    there still reach the incumbent, by the search's own model?"""
    encoding = Encoding(space)
    usable = [o for o in history if o.usable and key_of(space, o.params) is not None]
    if len(usable) < 2:
        return None
    t = len({key_of(space, o.params) for o in history}) + 1
    with gp.one_blas_thread():
        model = suggester._model(encoding, usable, [], rng, t)
        kappa = math.sqrt(suggester.beta_t(t, encoding.dim))
        out: list[float] = []
        for params in points:
            prediction = model._prediction(encoding.encode(params), kappa)
            out.append(math.inf if prediction is None else prediction.ucb)
    return out


def _with_fidelity(x: Array, y: Array, usable: Sequence[Outcome]) -> tuple[Array, Array]:
    """The observations of a multi-fidelity model: each trial's point with a fidelity column (its
    value at ``Outcome.fidelity``), then a row per point of its ``curve``. Running trials and
    candidates are put at fidelity 1 (``_Model.lift``): the GP is asked what a full trial there
    would reach, and a stopped trial informs it at the fidelity it reached (FABOLAS, Klein et al.
    2017; BOCA, Kandasamy et al. 2017: the fidelity is one more input of the kernel)."""
    rows = [np.append(xi, o.fidelity) for xi, o in zip(x, usable, strict=True)]
    values = list(y)
    for xi, o in zip(x, usable, strict=True):
        for level, value in o.curve:
            rows.append(np.append(xi, level))
            values.append(value)
    return np.array(rows), np.array(values, dtype=float)


class _Model:
    """The fitted GP of one ``suggest`` call, updated with each pending and chosen point."""

    def __init__(
        self,
        owner: GPUCBSuggester,
        encoding: Encoding,
        warping: _Warping,
        post: gp.Posterior,
        z: Array,
        *,
        shift: float = 0.0,
        fidelity: bool = False,
    ) -> None:
        self.owner = owner
        self.fidelity = fidelity
        """Whether the GP's inputs end with a fidelity column (``_with_fidelity``)."""
        self.encoding = encoding
        self.warping = warping
        self.observed = post
        self.post = post
        self.z = z
        self.shift = shift
        """What was subtracted from the warped values before the fit (see PRIOR_QUANTILE)."""
        self.pending = np.zeros((0, encoding.dim))
        self.counts: Array | None = None
        """Points tried per categorical value (``categories.value_counts``), when a category
        rule is on and the space has a categorical."""
        self.tried_rows: Array | None = None
        """The features of those points (for the per-combination bonus)."""

    def count_categories(self, history: Sequence[Outcome], pending: Sequence[Params]) -> None:
        """Count every finished, failed and running point per categorical value, for the
        category rules (``category_bonus``, ``category_every``); nothing to do without them."""
        owner, enc = self.owner, self.encoding
        if not enc.categorical_blocks or not (owner.category_bonus or owner.category_every):
            return
        space = enc.space
        points = [o.params for o in history if key_of(space, o.params) is not None]
        rows = enc.encode_many([*points, *pending]) if points or pending else None
        self.tried_rows = rows if rows is not None else np.zeros((0, enc.dim))
        self.counts = value_counts(enc, self.tried_rows)

    def lift(self, xs: Array) -> Array:
        """Feature rows as the GP's inputs: at fidelity 1 (a full trial) when it models one."""
        if not self.fidelity:
            return xs
        return np.hstack([xs, np.ones((len(xs), 1))])

    def add_running(self, pending: Sequence[Params], t: int) -> None:
        """Hallucinate observations at the running trials' points, all at once (GP-BUCB: the
        posterior mean there, so adding them one by one would give the same values); above
        ``conditioning.PENDING_CAP`` only at those with the highest UCB_t."""
        if self.owner.pending == "ignore" or not pending:
            return
        xs = self.lift(self.encoding.encode_many(list(pending)))
        self.pending = np.vstack([self.pending, xs[:, : self.encoding.dim]])
        mu = gp.mean(self.post, xs)
        cap = self.owner.pending_cap
        if len(xs) > (conditioning.PENDING_CAP if cap is None else cap):
            kappa = math.sqrt(self.owner.beta_t(t, self.encoding.dim))
            keep = conditioning.pending_subset(mu + kappa * gp.predict(self.post, xs)[1], cap)
            xs, mu = xs[keep], mu[keep]
        self._hallucinate(xs, mu)

    def add_pending(self, params: Params) -> None:
        """Hallucinate an observation at a pending point (GP-BUCB: the posterior mean)."""
        x = self.encoding.encode(params)[None, :]
        if self.counts is not None and self.tried_rows is not None:
            self.counts = self.counts + value_counts(self.encoding, x)
            self.tried_rows = np.vstack([self.tried_rows, x])
        if self.owner.pending == "ignore":
            return
        self.pending = np.vstack([self.pending, x])
        lifted = self.lift(x)
        self._hallucinate(lifted, gp.mean(self.post, lifted))

    def _hallucinate(self, xs: Array, mu: Array) -> None:
        # GP-BUCB hallucinates the posterior mean; the constant liar the worst value seen.
        y = mu if self.owner.pending != "liar" else np.full(len(xs), np.min(self.z))
        self.post = gp.condition(self.post, xs, y)

    def next(
        self,
        t: int,
        tried: set[Key],
        size: int | None,
        rng: np.random.Generator,
        *,
        explore: bool = False,
    ) -> Suggestion | None:
        """The untried point that maximises UCB_t, with its prediction; None when no candidate
        is untried (and, in a finite space, no point is left).

        ``explore``: GP-UCB-PE's pure-exploration step instead (Contal, Buffoni, Robicquet &
        Vayatis 2013, "Parallel Gaussian process optimization with upper confidence bound and
        pure exploration", Algorithm 1): the point of largest posterior variance given the
        running and already chosen points, within the relevant region where UCB_t is at least
        the best lower bound mu - sqrt(beta_t) sigma of the observed points (outside it a
        candidate scores below every inside one, by how far UCB_t falls short)."""
        enc = self.encoding
        owner = self.owner
        kappa = math.sqrt(owner.beta_t(t, enc.dim))
        observed, post = self.observed, self.post

        def ucb(xs: Array) -> Array:
            # The mean comes from the real observations (equal to the hallucinated one under
            # GP-BUCB, and not dragged down by a constant liar's lie); the variance from all.
            xs = self.lift(xs)
            if self.owner.pending == "liar":
                m2, s2 = gp.predict(post, xs)
                return m2 + kappa * s2
            return gp.mean(observed, xs) + kappa * gp.predict(post, xs)[1]

        acq: Callable[[Array], Array] = ucb
        if explore:
            m0, s0 = gp.predict(observed, observed.x)
            floor = float(np.max(m0 - kappa * s0))

            def acq(xs: Array) -> Array:
                bound = ucb(xs)
                spread = gp.predict(post, self.lift(xs))[1]
                return np.where(bound >= floor, spread, bound - floor - 10.0)

        acq = self._with_category_rule(acq, t)
        anchors = observed.x[np.argsort(-observed.y)[:LOCAL_STARTS], : enc.dim]
        combos = category_combos(enc) if owner.enumerate_categories else None
        xs, _ = _maximise(acq, enc, anchors, rng, combos)
        if len(self.pending):
            gaps = np.min(cdist(xs, self.pending), axis=1)
            if np.any(gaps >= SEPARATION):
                xs = xs[gaps >= SEPARATION]
        best: Array | None = None
        space = enc.space
        # Snapped candidates repeat (a corner gathers many): look at each distinct one once.
        _, first = np.unique(xs, axis=0, return_index=True)
        for x in xs[np.sort(first)][:SKIP_LIMIT]:
            if key_of(space, enc.decode(x)) not in tried:
                best = x
                break
        if best is None and size is not None and size <= ENUMERATE_LIMIT:
            left = [p for p in all_points(space) if key_of(space, p) not in tried]
            if left:
                feats = enc.encode_many(left)
                best = feats[int(np.argmax(acq(feats)))]
        if best is None:
            return None
        params = enc.decode(best)
        return Suggestion(params, self._prediction(enc.encode(params), kappa))

    def _with_category_rule(
        self, acq: Callable[[Array], Array], t: int
    ) -> Callable[[Array], Array]:
        """``acq`` plus the category rule in force at trial ``t``: every ``category_every``-th
        trial restricted to the least tried categories, else the count bonus (if any)."""
        owner, counts = self.owner, self.counts
        if counts is None:
            return acq
        if owner.category_every and t % owner.category_every == 0:
            rule = least_tried_bonus(self.encoding, counts)
        elif owner.category_bonus and owner.bonus_per == "combo" and self.tried_rows is not None:
            rule = combo_bonus(self.encoding, self.tried_rows, t, owner.category_bonus)
        elif owner.category_bonus:
            rule = count_bonus(self.encoding, counts, t, owner.category_bonus)
        else:
            return acq

        def ruled(xs: Array) -> Array:
            return acq(xs) + rule(xs)

        return ruled

    def _prediction(self, x: Array, kappa: float) -> Prediction | None:
        """Mean, std and UCB at ``x`` in objective units (through the inverse warp)."""
        row = self.lift(x[None, :])
        mean = float(gp.predict(self.observed, row)[0][0])
        std = float(gp.predict(self.post, row)[1][0])
        z = np.array([mean, mean + kappa * std, mean + std, mean - std]) + self.shift
        m, u, hi, lo = self.warping.inverse(z)
        values = (float(m), float((hi - lo) / 2), float(u))
        if not all(math.isfinite(v) for v in values):
            return None
        return Prediction(mean=values[0], std=abs(values[1]), ucb=values[2])


def _maximise(
    acq: Callable[[Array], Array],
    enc: Encoding,
    anchors: Array,
    rng: np.random.Generator,
    combos: Array | None = None,
) -> tuple[Array, Array]:
    """Candidates sorted by acquisition, best first (snapped feature rows, their scores).

    With ``combos`` (``categories.category_combos``), the best starts are tried with every
    combination of categories before and after the local search, so the categorical part of the
    maximiser is exact rather than left to the random re-draws of ``_perturb``, and combinations
    never tried are scored at the continuous positions that look best."""
    d = enc.dim
    pools = [rng.random((RANDOM_CANDIDATES, d))]
    for anchor in anchors:
        pools.append(_perturb(enc, np.repeat(anchor[None, :], LOCAL_SAMPLES, 0), 0.1, rng))
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
        trial = enc.snap(_perturb(enc, np.repeat(starts, LOCAL_SAMPLES, 0), sigma, rng))
        trial_scores = np.asarray(acq(trial), dtype=float)
        found_x.append(trial)
        found_s.append(trial_scores)
        starts, start_scores = move_to_best(starts, start_scores, trial, trial_scores)
    if combos is not None:
        best_categories(acq, enc, starts, start_scores, combos, found_x, found_s)
    all_x, all_s = np.vstack(found_x), np.concatenate(found_s)
    order = np.argsort(-all_s, kind="stable")
    return all_x[order], all_s[order]


def _perturb(enc: Encoding, xs: Array, sigma: float, rng: np.random.Generator) -> Array:
    """Gaussian steps in ordinal columns; each one-hot block re-drawn with probability 1/d."""
    out = xs + rng.normal(0.0, sigma, xs.shape)
    for start, width in enc.categorical_blocks:
        out[:, start : start + width] = xs[:, start : start + width]
        flip = rng.random(len(xs)) < 1.0 / max(len(enc.space.params), 1)
        out[flip, start : start + width] = rng.random((int(flip.sum()), width))
    return out
