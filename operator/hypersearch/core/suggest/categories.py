"""The categorical parameters in GP-UCB: which categories the initial points take, and how the
acquisition search tries every combination of categories. Pure and deterministic (seeded).

Why apart from gp_ucb: these are the issue-13 answers to categorical lock-in (a balanced covering
design and an exact search over the categorical part), measured in docs/benchmarks.md
("Categories and large batches"); the suggester only calls them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hypersearch.core.params import CategoricalParam, Params
from hypersearch.core.space import Space
from hypersearch.core.suggest.encoding import Array, Encoding

CATEGORY_COMBOS = 64
"""Up to this many combinations of the categorical parameters' values, the acquisition search
scores every combination at each of its best continuous positions; above it, every single-value
change of each categorical (a coordinate step, as Optuna's GPSampler searches categoricals)."""


def balanced_categories(space: Space, point: Params, seed: int, t: int) -> Params:
    """``point`` with its categorical values from a balanced design over the categories.

    Point t takes the combination of categorical values that is least covered by points
    0..t-1: fewest uses of its pairs of values first, then of its values (a
    greedy covering design, the idea of orthogonal arrays and of pairwise "all-pairs"
    test design), ties broken by a seeded order. So every value of every categorical is
    tried within the first k initial points (k its number of values) and the next ones try
    pairs not yet seen, instead of whatever the argmax of a Sobol point's one-hot columns
    gives (with 5 points and 3 values, some value is often never seen and the GP then
    knows nothing of it). Above CATEGORY_COMBOS combinations each categorical is balanced
    alone (Latin hypercube sampling over its values, McKay, Beckman & Conover 1979).
    Stateless: the earlier points' choices are recomputed from the seed."""
    params = [(i, q) for i, q in enumerate(space.params) if isinstance(q, CategoricalParam)]
    if not params:
        return point
    sizes = [len(q.values) for _, q in params]
    out = dict(point)
    if math.prod(sizes) > CATEGORY_COMBOS:
        for i, q in params:
            order = np.random.default_rng([seed, i, t // len(q.values)]).permutation(len(q.values))
            out[q.name] = q.values[int(order[t % len(q.values)])]
        return out
    combos = [tuple(int(v) for v in c) for c in np.ndindex(*sizes)]
    values: dict[tuple[int, int], int] = {}
    pairs: dict[tuple[int, int, int, int], int] = {}
    chosen = combos[0]
    for step in range(t + 1):
        order = np.random.default_rng([seed, step]).permutation(len(combos))

        def cost(c: tuple[int, ...]) -> tuple[int, int]:
            used = sum(values.get((j, v), 0) for j, v in enumerate(c))
            seen = sum(
                pairs.get((j, c[j], k, c[k]), 0)
                for j in range(len(c))
                for k in range(j + 1, len(c))
            )
            return seen, used

        chosen = min((combos[r] for r in order), key=cost)
        for j, v in enumerate(chosen):
            values[(j, v)] = values.get((j, v), 0) + 1
            for k in range(j + 1, len(chosen)):
                key = (j, v, k, chosen[k])
                pairs[key] = pairs.get(key, 0) + 1
    for (_, q), v in zip(params, chosen, strict=True):
        out[q.name] = q.values[v]
    return out


def category_combos(enc: Encoding) -> Array | None:
    """The categorical columns of every combination of categorical values (rows), or of every
    single-value change when there are more than CATEGORY_COMBOS; None without categoricals."""
    blocks = enc.categorical_blocks
    if not blocks:
        return None
    cols = [np.eye(enc.dim)[start : start + width] for start, width in blocks]
    total = math.prod(len(c) for c in cols)
    if total <= CATEGORY_COMBOS:
        rows = np.zeros((1, enc.dim))
        for block in cols:
            rows = (rows[:, None, :] + block[None, :, :]).reshape(-1, enc.dim)
        return rows
    return np.vstack(cols)  # one block's value at a time: a coordinate step


def with_categories(enc: Encoding, starts: Array, combos: Array) -> Array:
    """Each start with the blocks a combination sets replaced by it (every block for a full
    combination, one for a coordinate step), rows grouped by start."""
    out = np.repeat(starts, len(combos), 0)
    tiled = np.tile(combos, (len(starts), 1))
    for start, width in enc.categorical_blocks:
        hit = tiled[:, start : start + width].any(axis=1)
        out[hit, start : start + width] = tiled[hit, start : start + width]
    return out


def best_categories(  # noqa: PLR0917
    acq: Callable[[Array], Array],
    enc: Encoding,
    starts: Array,
    start_scores: Array,
    combos: Array,
    found_x: list[Array],
    found_s: list[Array],
) -> tuple[Array, Array]:
    """Score every start under every category combination (kept in found_x/found_s); each start
    moves to its best one."""
    trial = with_categories(enc, starts, combos)
    scores = np.asarray(acq(trial), dtype=float)
    found_x.append(trial)
    found_s.append(scores)
    return move_to_best(starts, start_scores, trial, scores)


def move_to_best(
    starts: Array, start_scores: Array, trial: Array, scores: Array
) -> tuple[Array, Array]:
    """Each start moved to its best variant when that scores higher: ``trial`` holds the same
    number of variants of each start, grouped by start, and ``scores`` their acquisition."""
    k = len(starts)
    scores = scores.reshape(k, -1)
    winner = np.argmax(scores, axis=1)
    best = scores[np.arange(k), winner]
    better = best > start_scores
    moved = trial.reshape(k, scores.shape[1], -1)[np.arange(k), winner]
    return np.where(better[:, None], moved, starts), np.where(better, best, start_scores)


def value_counts(enc: Encoding, tried: Array) -> Array:
    """How many of the ``tried`` feature rows (finished, running and already chosen points) hold
    each categorical value: one entry per feature column, 0 outside the categorical blocks."""
    counts = np.zeros(enc.dim)
    for start, width in enc.categorical_blocks:
        counts[start : start + width] = tried[:, start : start + width].sum(axis=0)
    return counts


@dataclass(frozen=True)
class CategorySplit:
    """Lifts features for a GP whose continuous part depends on the category: besides the
    original columns, one copy of the numeric columns per value of each categorical, equal to
    them where the point takes that value and to 0.5 elsewhere. Each copy gets its own length
    scales, so the fit can learn that only b and c matter under ``tree`` while a and d matter
    under ``kernel`` (a shared ARD kernel learns one relevance for all categories, from whichever
    category has most points). Two points of one category differ only in the shared columns and
    their own category's copies; points of different categories also in both copies (and the
    Hamming term)."""

    blocks: tuple[tuple[int, int], ...]
    numeric: tuple[int, ...]
    base_groups: tuple[int, ...]

    @staticmethod
    def of(enc: Encoding, groups: tuple[int, ...]) -> CategorySplit:
        return CategorySplit(enc.categorical_blocks, enc.numeric_columns, groups)

    @property
    def groups(self) -> tuple[int, ...]:
        """The lifted columns' length-scale groups: the original ones, then one per copy."""
        first = max(self.base_groups) + 1
        copies = sum(width for _, width in self.blocks) * len(self.numeric)
        return (*self.base_groups, *range(first, first + copies))

    def __call__(self, xs: Array) -> Array:
        num = xs[:, list(self.numeric)]
        parts = [xs]
        for start, width in self.blocks:
            for v in range(width):
                on = xs[:, start + v : start + v + 1] > 0.5
                parts.append(np.where(on, num, 0.5))
        return np.hstack(parts)


def combo_index(enc: Encoding, xs: Array) -> Array:
    """Each snapped feature row's combination of categorical values, as one integer."""
    index = np.zeros(len(xs), dtype=int)
    for start, width in enc.categorical_blocks:
        index = index * width + np.argmax(xs[:, start : start + width], axis=1)
    return index


def combo_bonus(enc: Encoding, tried: Array, t: int, scale: float) -> Callable[[Array], Array]:
    """``count_bonus`` per combination of categorical values instead of per value: n counts the
    tried points with the candidate's whole combination."""
    sizes = [width for _, width in enc.categorical_blocks]
    counts = np.bincount(combo_index(enc, tried), minlength=math.prod(sizes)).astype(float)
    per_combo = scale * np.sqrt(math.log(max(t, 2)) / (1.0 + counts))

    def bonus(xs: Array) -> Array:
        return np.asarray(per_combo[combo_index(enc, xs)], dtype=float)

    return bonus


def count_bonus(enc: Encoding, counts: Array, t: int, scale: float) -> Callable[[Array], Array]:
    """An optimistic bonus for rarely tried categories, added to the acquisition.

    A count-based bound as in UCB1 (Auer, Cesa-Bianchi & Fischer 2002), the bandit over
    categories of CoCaBO (Ru et al. 2020) in a deterministic form: each categorical value earns
    ``scale * sqrt(log t / (1 + n))``, n the points tried with it, averaged over the categorical
    parameters. Why: the GP shares its continuous length scales across categories, so where one
    category decides which continuous parameters matter (only b and c under ``tree``) the points
    of the category tried most teach the model that the others' parameters do not matter, and a
    category with a few poor points at random positions is never revisited. The bonus keeps such
    a category in play until it has enough points for its own shape to show; it fades as log t /
    n does, so a category measured often competes on the GP's UCB alone."""
    blocks = enc.categorical_blocks
    per_value = scale * np.sqrt(math.log(max(t, 2)) / (1.0 + counts))

    def bonus(xs: Array) -> Array:
        total = np.zeros(len(xs))
        for start, width in blocks:
            cols = slice(start, start + width)
            total += xs[:, cols] @ per_value[cols]
        return total / len(blocks)

    return bonus


def least_tried_bonus(enc: Encoding, counts: Array) -> Callable[[Array], Array]:
    """A bonus that outweighs any UCB for points whose every categorical takes one of its least
    tried values: a trial interleaved to sample the rarest categories (SMAC's interleaving of
    random trials, with the continuous part still chosen by the GP)."""
    blocks = enc.categorical_blocks
    rare = np.zeros(enc.dim)
    for start, width in blocks:
        block = counts[start : start + width]
        rare[start : start + width] = block == block.min()

    def bonus(xs: Array) -> Array:
        hits = np.zeros(len(xs))
        for start, width in blocks:
            hits += xs[:, start : start + width] @ rare[start : start + width]
        return np.where(hits == len(blocks), 1e3, 0.0)

    return bonus


def rarest_combination(
    enc: Encoding, tried: Array, point: Params, rng: np.random.Generator
) -> Params:
    """``point`` with its categorical values replaced by the combination tried least often (ties
    drawn with ``rng``): SMAC's interleaved random trial, aimed at the rarest categories."""
    blocks = enc.categorical_blocks
    sizes = [width for _, width in blocks]
    counts = np.bincount(combo_index(enc, tried), minlength=math.prod(sizes))
    rarest = np.flatnonzero(counts == counts.min())
    index = int(rarest[rng.integers(len(rarest))])
    out = dict(point)
    names = [q for q in enc.space.params if isinstance(q, CategoricalParam)]
    for q, width in zip(reversed(names), reversed(sizes), strict=True):
        out[q.name] = q.values[index % width]
        index //= width
    return out
