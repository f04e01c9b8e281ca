"""The GP-UCB model of one ``suggest`` call: fitted to the finished trials, with GP-BUCB's
hallucinated observations at running and chosen points, and the UCB choice of the next point.

Fitting (``fit_model``): values warped (``warping.Warping``), the GP's prior mean shifted to a low
quantile of them, a Matern GP fitted (``gp.fit``; categorical or per-category length scales), and
with early stopping a fidelity column (``with_fidelity``, FABOLAS/BOCA). Choosing (``Model.next``):
UCB_t (or GP-UCB-PE's exploration) plus any category rule, maximised by ``acquisition.maximise``,
skipping points near a running trial and every point already tried.

Why apart from ``gp_ucb``: the suggester decides which trial gets a Sobol, interleaved or model
point; this module is what the model says. It reads the suggester's settings through
``ModelSettings`` so it does not import the suggester. It must not know about trials' phases,
goals or time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import numpy as np
from scipy.spatial.distance import cdist

from hypersearch.core.params import Params
from hypersearch.core.space import Space
from hypersearch.core.suggest import conditioning, gp
from hypersearch.core.suggest.acquisition import LOCAL_STARTS, maximise
from hypersearch.core.suggest.base import Key, Outcome, Suggestion, all_points, key_of
from hypersearch.core.suggest.categories import (
    CategorySplit,
    category_combos,
    combo_bonus,
    count_bonus,
    least_tried_bonus,
    value_counts,
)
from hypersearch.core.suggest.encoding import Array, Encoding
from hypersearch.core.suggest.improvement import (
    log_expected_improvement,
    log_probability_of_improvement,
    pareto_front,
)
from hypersearch.core.suggest.random import ENUMERATE_LIMIT
from hypersearch.core.suggest.thompson import restricted, sampled_combination
from hypersearch.core.suggest.warping import Warp, Warping
from hypersearch.core.trials import Prediction

PendingStrategy = Literal["bucb", "pe", "liar", "ignore"]

SEPARATION = 0.02
"""Candidates closer than this (Euclidean, in features) to a pending point are skipped: its answer
is coming, and GP-BUCB alone barely moves a confident model's choice off a running trial."""
MACE_POOL = 64
"""Best candidates of each acquisition the MACE choice compares (``acquisition="mace"``)."""
SKIP_LIMIT = 256
"""Ranked candidates scanned for an untried point before listing the finite space's leftovers."""


class ModelSettings(Protocol):
    """What the model reads of the suggester's settings (``gp_ucb.GPUCBSuggester`` documents
    them)."""

    warp: Warp
    pending: PendingStrategy
    restarts: int
    ftol: float
    prior_quantile: float | None
    categories: Literal["hamming", "onehot"]
    enumerate_categories: bool
    observed_cap: int | None
    pending_cap: int | None
    category_bonus: float
    category_every: int
    bonus_per: Literal["value", "combo"]
    split: bool
    combo_choice: Literal["ucb", "thompson"]
    combo_every: int
    tried_gap: float
    input_warp: bool
    acquisition: Literal["ucb", "ei", "mace"]
    noisy: bool

    def beta_t(self, t: int, dim: int) -> float: ...

    def in_endgame(self, t: int) -> bool: ...

    def choice_beta(self, t: int, dim: int) -> float: ...

    def separation(self, t: int) -> float: ...


def fit_model(
    settings: ModelSettings,
    encoding: Encoding,
    usable: Sequence[Outcome],
    pending: Sequence[Params],
    *,
    rng: np.random.Generator,
    t: int,
) -> Model:
    """The model of the ``usable`` outcomes, with the running trials' points hallucinated."""
    x = encoding.encode_many([o.params for o in usable])
    finished = x
    y = np.array([float(o.value) for o in usable if o.value is not None])
    multi = any(o.fidelity < 1.0 or o.curve for o in usable)
    if multi:
        x, y = with_fidelity(x, y, usable)
    warping, z = Warping.fit(y, settings.warp)
    # The GP's prior mean is 0; shifting the values puts it at the chosen quantile.
    quantile = settings.prior_quantile
    shift = 0.0 if quantile is None else float(np.quantile(z, quantile))
    groups = encoding.groups if settings.categories == "hamming" else None
    if multi and groups is not None:
        groups = (*groups, max(groups, default=-1) + 1)  # the fidelity column's own scale
    lift: CategorySplit | None = None
    if settings.split and encoding.categorical_blocks:
        if multi:
            raise ValueError("split=1 and the fidelity model (early stopping) do not combine")
        lift = CategorySplit.of(encoding, groups or tuple(range(encoding.dim)))
        groups = lift.groups
    # Every point up to the cap (conditioning.OBSERVED_CAP unless set), else a subset.
    keep = conditioning.observed_subset(x, z, rng, settings.observed_cap)
    post = gp.fit(
        x[keep],
        z[keep] - shift,
        rng,
        restarts=settings.restarts,
        ftol=settings.ftol,
        groups=groups,
        lift=lift,
        warped=encoding.numeric_columns if settings.input_warp and lift is None else (),
    )
    model = Model(settings, encoding, warping, post, z - shift, shift=shift, fidelity=multi)
    model.finished = finished
    model.add_running(pending, t)
    return model


def full_fidelity_bounds(
    suggester: ModelSettings,
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
        model = fit_model(suggester, encoding, usable, [], rng=rng, t=t)
        kappa = math.sqrt(suggester.beta_t(t, encoding.dim))
        out: list[float] = []
        for params in points:
            prediction = model.prediction(encoding.encode(params), kappa)
            out.append(math.inf if prediction is None else prediction.ucb)
    return out


def with_fidelity(x: Array, y: Array, usable: Sequence[Outcome]) -> tuple[Array, Array]:
    """The observations of a multi-fidelity model: each trial's point with a fidelity column (its
    value at ``Outcome.fidelity``), then a row per point of its ``curve``. Running trials and
    candidates are put at fidelity 1 (``Model.lift``): the GP is asked what a full trial there
    would reach, and a stopped trial informs it at the fidelity it reached (FABOLAS, Klein et al.
    2017; BOCA, Kandasamy et al. 2017: the fidelity is one more input of the kernel)."""
    rows = [np.append(xi, o.fidelity) for xi, o in zip(x, usable, strict=True)]
    values = list(y)
    for xi, o in zip(x, usable, strict=True):
        for level, value in o.curve:
            rows.append(np.append(xi, level))
            values.append(value)
    return np.array(rows), np.array(values, dtype=float)


class Model:
    """The fitted GP of one ``suggest`` call, updated with each pending and chosen point."""

    def __init__(
        self,
        owner: ModelSettings,
        encoding: Encoding,
        warping: Warping,
        post: gp.Posterior,
        z: Array,
        *,
        shift: float = 0.0,
        fidelity: bool = False,
    ) -> None:
        self.owner = owner
        self.fidelity = fidelity
        """Whether the GP's inputs end with a fidelity column (``with_fidelity``)."""
        self.encoding = encoding
        self.warping = warping
        self.observed = post
        self.post = post
        self.z = z
        self.shift = shift
        """What was subtracted from the warped values before the fit (``gp_ucb.PRIOR_QUANTILE``)."""
        self.pending = np.zeros((0, encoding.dim))
        self.finished = np.zeros((0, encoding.dim))
        """The features of every finished point the model was fitted to (all, not a subset)."""
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
        kappa = math.sqrt(owner.choice_beta(t, enc.dim))
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
        other = owner.acquisition != "ucb" and not explore and not owner.in_endgame(t)
        if self._thompson(t) and combos is not None and self._full(combos):
            combo = sampled_combination(
                enc,
                combos,
                anchors,
                lambda xs: gp.mean(observed, self.lift(xs)),
                post,
                self.lift,
                rng,
            )
            acq = restricted(acq, enc, combo)
        if other:
            xs = self._improvement_candidates(ucb, anchors, rng, combos)
        else:
            xs, _ = maximise(acq, enc, anchors, rng, combos)
        if len(self.pending):
            gaps = np.min(cdist(xs, self.pending), axis=1)
            apart = owner.separation(t)
            if np.any(gaps >= apart):
                xs = xs[gaps >= apart]
        best: Array | None = None
        space = enc.space
        near = self._near_tried(owner.tried_gap)
        # Snapped candidates repeat (a corner gathers many): look at each distinct one once.
        _, first = np.unique(xs, axis=0, return_index=True)
        for x in xs[np.sort(first)][:SKIP_LIMIT]:
            if key_of(space, enc.decode(x)) not in tried and not near(x):
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
        return Suggestion(params, self.prediction(enc.encode(params), kappa))

    def _improvement_candidates(
        self,
        ucb: Callable[[Array], Array],
        anchors: Array,
        rng: np.random.Generator,
        combos: Array | None,
    ) -> Array:
        """Candidates best first under log EI (``acquisition="ei"``), or HEBO's MACE choice
        (``"mace"``): the Pareto front of UCB, log EI and log PI over the best candidates of
        each, one of it at random first, then the rest of it, then the UCB order."""
        enc, observed, post = self.encoding, self.observed, self.post
        best = float(np.max(gp.mean(observed, self.lift(self.finished))))

        def moments(xs: Array) -> tuple[Array, Array]:
            lifted = self.lift(xs)
            return gp.mean(observed, lifted), gp.predict(post, lifted)[1]

        def log_ei(xs: Array) -> Array:
            return log_expected_improvement(*moments(xs), best)

        if self.owner.acquisition == "ei":
            return maximise(log_ei, enc, anchors, rng, combos)[0]

        def log_pi(xs: Array) -> Array:
            return log_probability_of_improvement(*moments(xs), best)

        acquisitions = (ucb, log_ei, log_pi)
        ranked = [maximise(f, enc, anchors, rng, combos)[0] for f in acquisitions]
        pool = np.unique(np.vstack([r[:MACE_POOL] for r in ranked]), axis=0)
        front = pareto_front(np.column_stack([f(pool) for f in acquisitions]))
        front = front[rng.permutation(len(front))]
        return np.vstack([pool[front], ranked[0]])

    def _near_tried(self, gap: float) -> Callable[[Array], bool]:
        """Whether a candidate is within ``gap`` of a finished or running point: that point
        again, by a rounding error (``gp_ucb.TRIED_GAP``). Asked of the best candidates only,
        one at a time, so a search of thousands of points pays for one or two distances."""
        if gap <= 0:
            return lambda _x: False
        rows = self.pending if self.owner.noisy else np.vstack([self.finished, self.pending])
        if not len(rows):
            return lambda _x: False

        def near(x: Array) -> bool:
            return bool(np.min(np.sum((rows - x) ** 2, axis=1)) < gap * gap)

        return near

    def _thompson(self, t: int) -> bool:
        """Whether trial ``t``'s combination of categories is drawn by Thompson sampling."""
        owner = self.owner
        return owner.combo_choice == "thompson" and t % max(owner.combo_every, 1) == 0

    def _full(self, combos: Array) -> bool:
        """Whether ``combos`` lists every combination of categories (not single-value steps)."""
        return len(combos) == math.prod(w for _, w in self.encoding.categorical_blocks)

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

    def prediction(self, x: Array, kappa: float) -> Prediction | None:
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
