"""Whether a rung's ranks have predicted the final ranks in this search: the evidence behind
asha's adaptive rungs (``early_stopping.ADAPTIVE_RUNGS``, a bench variant). Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hypersearch.core.curves import Curve
from hypersearch.core.trials import Trial, TrialPhase

MIN_RANKED = 3
"""Fewest completed trials whose rank correlation is taken as evidence; with fewer, every rung
stops as plain asha does (the search cannot afford to run its first trials to their ends only to
learn whether it may stop them). Three, not five (the first choice): at a 40% budget, 4 trials
at once, the fifth completed trial came after every judgement on crossing's screen seed 0."""


def rung_agreement(
    rung: float, trials: Sequence[Trial], curves: dict[str, Curve | None]
) -> tuple[float, int] | None:
    """(Spearman's rank correlation, n) between the scores at ``rung`` (the first report at or
    past it, as asha ranks) and the final scores of the n completed trials with finite values at
    both; None below ``MIN_RANKED`` of them or when either side has no spread (nothing learnt).

    The evidence for an adaptive rung: a rung whose ranks have not predicted the final ranks in
    this search (curves that cross) is not trusted to stop anyone, while a rung that has stays as
    asha has it. The completed trials passed every rung
    before, so their spread there is narrower than the population's and the correlation is
    conservative (lower); when it makes a rung stop nobody, more trials complete unselected and
    the sample widens again."""
    pairs: list[tuple[float, float]] = []
    for t in trials:
        c = curves[t.name]
        if t.phase is not TrialPhase.SUCCEEDED or c is None or c.last_step <= rung:
            continue
        at = c.first_at_or_after(rung)
        if at is not None and math.isfinite(at[1]) and math.isfinite(c.scores[-1]):
            pairs.append((at[1], c.scores[-1]))
    if len(pairs) < MIN_RANKED:
        return None
    rho = spearman([a for a, _ in pairs], [b for _, b in pairs])
    return None if rho is None else (rho, len(pairs))


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's correlation of the ranks (ties at mean rank); None when either
    side has all values equal."""
    rx, ry = ranks(xs), ranks(ys)
    n = len(rx)
    mx, my = sum(rx) / n, sum(ry) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)
