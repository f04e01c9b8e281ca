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
   point) is never asked again, nor a point within ``TRIED_GAP`` (1e-4 of the cube) of one: the
   best untried candidate is taken instead. The objective is taken as deterministic, so a repeat
   would only spend a trial re-measuring a known value; declared noisy (``noisy``, the spec's
   ``objective.noisy``), only running points are excluded, and a finished one whose UCB is
   highest is measured again (the GP's noise term then averages its values). When a finite
   space has no untried point left the suggester returns fewer points.
6. The endgame: when the search's budget (``horizon``, its maxTrials) is known, its last
   ``ENDGAME`` share of trials (the spec's ``refineLast``, default 0.2) refine instead of explore:
   beta_t is scaled by ``ENDGAME_BETA`` (a tenth) and a candidate may sit next to a running trial
   (``SEPARATION`` scaled by ``ENDGAME_SEPARATION``), so a batch of final trials packs around the
   best region where the usual 0.02 distance from running trials would have pushed it away.
   Only the final best counts once the budget is spent (the simple regret), so exploration there
   buys nothing; at 10 trials at once the final bests were better than without it on 23 of 33
   untied seeds kept apart (docs/algorithms.md, round 12).

Settings for the benchmark only (docs/algorithms.md, round 10; measured, none adopted as the
default): ``category_bonus``/``bonus_per`` add a count bonus for rarely tried
categories to the acquisition, ``category_every`` interleaves trials on the least tried ones
(``interleave``: uniform points in the rarest combination), ``split`` gives the GP length
scales per (category, numeric parameter) pair. Round 11 (likewise measured, not the default):
``combo_choice="thompson"`` draws the combination of categories of a model trial from a joint
posterior sample (``thompson``; ``combo_every`` mixes it with UCB), ``batch_split`` switches on
``split`` with the combination bonus from that many running trials. Round 13 (HEBO's ingredients,
measured, not the default): ``input_warp`` bends each numeric column by a fitted Kumaraswamy CDF
(``input_warp``), ``acquisition="ei"`` maximises log expected improvement and ``"mace"`` takes a
random point of the Pareto front of UCB, EI and PI (``improvement``), outside the endgame.

The prediction recorded for a suggestion is in objective (maximised) units: the warped mean, UCB
and +-1 std mapped back through the inverse warp. Stateless and deterministic given its arguments.

This module holds the suggester, its settings and the beta schedule, and decides which trial gets
a Sobol, interleaved or model point; the model (steps 2-4 and the fidelity column) is in
``model``, the output warping in ``warping``, the maximiser of step 5 in ``acquisition``.
This module must not know about trials' phases, goals or time.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from hypersearch.core.params import Params
from hypersearch.core.space import Space
from hypersearch.core.suggest import gp
from hypersearch.core.suggest.base import (
    Key,
    Outcome,
    Suggestion,
    finite_size,
    key_of,
    tried_keys,
)
from hypersearch.core.suggest.categories import balanced_categories, rarest_combination
from hypersearch.core.suggest.encoding import Encoding
from hypersearch.core.suggest.model import SEPARATION, Model, PendingStrategy, fit_model
from hypersearch.core.suggest.random import RandomSuggester, sobol_points
from hypersearch.core.suggest.warping import Warp

DELTA = 0.1
"""The schedule's confidence parameter (Srinivas et al.'s delta)."""

PRIOR_QUANTILE = 0.1
"""The GP's prior mean, as a quantile of the warped values: where the model knows nothing it
expects a poor value (the 10th percentile), not an average one (De Ath, Fieldsend & Everson
2020; the measurement is in docs/algorithms.md, round 7)."""

BETA_SCALE = 0.05
"""Factor on Srinivas et al.'s beta_t; the measured choice is in docs/algorithms.md."""

ENDGAME = 0.2
"""Share of a search's budget (``horizon``), counted from its end, spent refining: those trials
are chosen with ``ENDGAME_BETA`` times beta_t and ``ENDGAME_SEPARATION`` times the distance kept
from running trials. Only the final best counts once the budget is spent, so exploring then
buys nothing (docs/algorithms.md, round 12)."""
ENDGAME_BETA = 0.1
ENDGAME_SEPARATION = 0.0

TRIED_GAP = 1e-4
"""A candidate closer than this (Euclidean, in unit-cube features) to a finished or running
point is that point again, re-measured by a rounding error: skipped like an exact repeat. The
endgame packs trials together, and without it placed some 1e-5 apart on a plateau (53 such trials
in 20 runs at 10 at once, none of which changed a final best)."""


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
        combo_choice: Literal["ucb", "thompson"] = "ucb",
        batch_split: int = 0,
        combo_every: int = 1,
        horizon: int | None = None,
        endgame: float = ENDGAME,
        endgame_beta: float = ENDGAME_BETA,
        endgame_separation: float = ENDGAME_SEPARATION,
        tried_gap: float = TRIED_GAP,
        input_warp: bool = False,
        acquisition: Literal["ucb", "ei", "mace"] = "ucb",
        noisy: bool = False,
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
        self.combo_choice: Literal["ucb", "thompson"] = combo_choice
        """How the model point's combination of categories is chosen: with the rest by UCB, or
        by a posterior sample's best value per combination (``thompson``)."""
        self.combo_every = combo_every
        """With ``thompson``, on every this many-th trial (the others choose by UCB alone)."""
        self.batch_split = batch_split
        """From this many running trials beside a suggestion (0: never), the model is fitted with
        ``split`` and the per-combination bonus (``category_bonus=2``, ``bonus_per=combo``)."""
        self.horizon = horizon
        """The search's budget in trials (its ``maxTrials``), when it has one."""
        self.endgame = endgame
        """The share of ``horizon``'s trials, counted from its end, that refine (``ENDGAME``;
        0: none)."""
        self.endgame_beta = endgame_beta
        """Factor on beta_t in the endgame."""
        self.endgame_separation = endgame_separation
        """Factor on ``model.SEPARATION`` in the endgame: refining may pack points next to a
        running trial (never on a tried point)."""
        self.tried_gap = tried_gap
        """Candidates closer than this (in features) to a finished or running point count as
        that point (``TRIED_GAP``)."""
        self.noisy = noisy
        """The objective is noisy (the spec's ``objective.noisy``): a model trial may measure a
        finished point again; only running points are never repeated."""
        self.input_warp = input_warp
        """Whether the GP bends each numeric column by a fitted Kumaraswamy CDF (``input_warp``)."""
        self.acquisition: Literal["ucb", "ei", "mace"] = acquisition
        """What a model trial outside the endgame maximises: UCB_t, log expected improvement,
        or HEBO's MACE choice (``improvement``)."""

    def beta_t(self, t: int, dim: int) -> float:
        """The UCB's beta at trial ``t``: the fixed setting, else the scaled schedule."""
        return self.fixed_beta or beta(t, dim, self.beta_scale, self.delta)

    def in_endgame(self, t: int) -> bool:
        """Whether trial ``t`` (1-based) is one of the last ``endgame`` share of ``horizon``."""
        if not self.horizon or self.endgame <= 0:
            return False
        return t > self.horizon - max(1, round(self.endgame * self.horizon))

    def choice_beta(self, t: int, dim: int) -> float:
        """The beta trial ``t`` (1-based) is chosen with: ``beta_t``, scaled down in the endgame."""
        value = self.beta_t(t, dim)
        return value * self.endgame_beta if self.in_endgame(t) else value

    def separation(self, t: int) -> float:
        """How far (in features) trial ``t``'s point must be from every running trial's."""
        return SEPARATION * (self.endgame_separation if self.in_endgame(t) else 1.0)

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
        # What a model trial may not ask for: every tried point, or with a noisy objective
        # only the running ones (a finished point may be measured again).
        blocked = tried_keys(space, [], pending) if self.noisy else tried
        size = finite_size(space)
        usable = [o for o, k in zip(history, keys, strict=True) if o.usable and k is not None]
        created = len(history) + len(pending)
        out: list[Suggestion] = []
        model: Model | None = None
        for i in range(n):
            t = created + i
            if size is not None and len(blocked) >= size:
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
            elif (t < self.initial_points or len(usable) < 2) and (
                point := self._initial(
                    encoding, history, [*pending, *(s.params for s in out)], t, tried=tried, rng=rng
                )
            ) is not None:
                out.append(Suggestion(point))
            elif len(usable) < 2 or (t < self.initial_points and not self.noisy):
                break  # no untried point for the initial design (a noisy search goes on by model)
            else:
                if model is None:
                    settings = self._for_batch(len(pending) + n - 1, usable)
                    model = fit_model(settings, encoding, usable, [*pending], rng=rng, t=t + 1)
                    model.count_categories(history, pending)
                # GP-UCB-PE (Contal et al. 2013): of a batch of K, one point by UCB and K - 1
                # by pure exploration; asynchronously, with K = the running trials + this one,
                # every K-th trial created is the UCB one (stateless: t decides).
                explore = self.pending == "pe" and t % (len(pending) + i + 1) != 0
                suggestion = model.next(t + 1, blocked, size, rng, explore=explore)
                if suggestion is None and not finite:  # every candidate was a tried point
                    busy = [*pending, *(s.params for s in out)]
                    suggestion = Suggestion(self._fresh(encoding, history, busy, tried, rng))
                if suggestion is None:
                    break
                out.append(suggestion)
            key = key_of(space, out[-1].params)
            if key is not None:
                tried.add(key)
                blocked.add(key)
            if model is not None and i < n - 1:  # the last point needs no hallucination
                model.add_pending(out[-1].params)
        return out

    def _for_batch(self, running: int, usable: Sequence[Outcome]) -> GPUCBSuggester:
        """The settings the model uses with ``running`` other trials running: this suggester's,
        or with ``batch_split`` reached, a copy with the split kernel and the combination bonus
        (round 10's candidate, which led at 10 running trials and not at 3); never with the
        fidelity model (early stopping), which the split kernel does not combine with."""
        if not self.batch_split or running < self.batch_split or self.split:
            return self
        if any(o.fidelity < 1.0 or o.curve for o in usable):
            return self
        batch = copy.copy(self)
        batch.split, batch.category_bonus, batch.bonus_per = True, 2.0, "combo"
        return batch

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
