"""One module per search algorithm behind the interface in ``base``; ``suggester_for`` picks one.

Settings read here (validated and defaulted by ``spec``): random ``quasiRandom`` (scrambled Sobol
instead of independent draws); bayesian ``initialPoints`` (quasi-random trials before the GP takes
over), ``beta`` (a fixed UCB weight instead of the schedule), ``delta`` (the schedule's
confidence) and ``refineLast`` (the share of the budget that refines, ``gp_ucb.ENDGAME``).
"""

from __future__ import annotations

from hypersearch.core.spec import Algorithm
from hypersearch.core.suggest.base import Suggester
from hypersearch.core.suggest.gp_ucb import DELTA, ENDGAME, GPUCBSuggester
from hypersearch.core.suggest.grid import GridSuggester
from hypersearch.core.suggest.random import QuasiRandomSuggester, RandomSuggester


def suggester_for(
    algorithm: Algorithm, horizon: int | None = None, *, noisy: bool = False
) -> Suggester:
    """The suggester an algorithm names, configured from its settings and seed; ``horizon`` is
    the search's budget in trials (its maxTrials), which the Bayesian search plans its last
    trials by; ``noisy`` (the objective's) lets the Bayesian search measure a point again."""
    if algorithm.name == "grid":
        return GridSuggester()
    if algorithm.name == "random":
        if algorithm.settings.get("quasiRandom", False):
            return QuasiRandomSuggester(algorithm.seed)
        return RandomSuggester()
    settings = algorithm.settings
    fixed = settings.get("beta")
    return GPUCBSuggester(
        algorithm.seed,
        initial_points=int(settings.get("initialPoints", 5)),
        delta=float(settings.get("delta", DELTA)),
        fixed_beta=None if fixed is None else float(fixed),
        horizon=horizon,
        endgame=float(settings.get("refineLast", ENDGAME)),
        noisy=noisy,
    )
