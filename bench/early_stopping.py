"""Early stopping: epochs consumed and final best, with and without each rule, beside Optuna's
pruners, on learning-curve tasks, in one run.

Every search runs the same way: ``--trials`` trials of ``--epochs`` epochs each, ``--parallel`` at
once, in simulated time (each running trial trains one epoch per tick, so the rules see the
interleaved reports a real parallel search produces). hypersearch searches are driven by the real
``engine.decide`` (its suggester, its early-stopping rule, its counting); Optuna's by its
ask-and-tell interface with ``trial.report`` / ``trial.should_prune`` after every epoch.

Tasks (maximise validation accuracy):

- ``crossing``: synthetic curves ``final * (1 - exp(-epoch / tau)) + noise`` where small learning
  rates learn slowly but end best, so curves cross: the case that punishes stopping too early.
- ``sgd_digits``: a real one, scikit-learn's SGDClassifier trained epoch by epoch with
  ``partial_fit`` on the digits data set, accuracy on a fixed held-out quarter.
- ``mlp_digits``: scikit-learn's MLPClassifier (sgd solver, minibatches) trained the same way.
- ``mlp_diabetes`` (held out: never run while a rule was tuned, only to check the result):
  MLPRegressor (sgd solver) on the diabetes data, R^2 of the standardised target on a held-out
  quarter (NaN when training diverged).

Printed per task and method: median over seeds of the epochs consumed, the ratio to ``hs`` (the
same search without stopping, same seed), the final best (the best full-length trial's last
value: the value a user gets) and on how many seeds it was at least ``hs``'s, and ``chosen``:
the noiseless final value of that best trial (on ``crossing`` the final best is a maximum of
noisy values, which grows with the number of completed trials alone; on the real tasks the two
are equal).

``METHOD@FRACTION`` (or ``--budget FRACTION`` for every method with a rule) runs a method under
the equal-budget protocol: as many trials as fit in that fraction of ``--trials * --epochs``,
never more (a trial starts only if it and every running trial could still finish within it).

    python bench/early_stopping.py --seeds 5 --jobs 1
    python bench/early_stopping.py --tasks crossing --methods hs+median,hs+asha --seeds 3
    python bench/early_stopping.py --seeds 5 --seed-start 5 --methods hs,hs+asha,hs+asha@0.4
    python bench/early_stopping.py --seeds 10 --seed-start 10 --methods hs,hs+asha@0.4 \
        --save runs.txt            # later: the same flags with --load runs.txt, nothing rerun

Each row also counts the seeds where the final best is above, equal to and below ``hs``'s
(``+/=/- vs hs``) and gives the two-sided exact sign test of that split, ties dropped
(``sign p``): whether a difference at the resolution of a test split is more than seed noise.

Methods: hs (bayesian, no stopping), hs+median, hs+asha (the GP sees an early-stopped trial
projected to the end: ``engine.STOPPED_IN_MODEL = "project"``), hs+median[last] and
hs+asha[last] (its last value), hs+median[exclude] and hs+asha[exclude] (tried, no value),
hs+median-x and hs+asha-x (``extrapolate``: the curve-fit guard; for asha built on the core
directly, since the manifest offers it to the median rule only), hs+median[fidelity] and
hs+asha[fidelity] (every finished trial at the fidelity it reached, a few points of each curve,
in a GP over (point, fidelity): ``STOPPED_IN_MODEL = "fidelity"``), hs+median-g[fidelity] and
hs+asha-g[fidelity] (the same, and a trial the rule would stop runs on while that model's upper
bound at fidelity 1 reaches the best completed value: ``engine.MODEL_GUARD``), hs+median-g and
hs+asha-g (the guard, while the suggester sees stopped trials projected), hs+asha-r (adaptive
rungs: asha stops at a rung only while the rung's ranks have agreed with the completed trials'
final ranks, rank correlation >= 0.5: ``early_stopping.ADAPTIVE_RUNGS``),
hs-random, hs-random+median, hs-random+asha, optuna (TPE, no pruning), optuna+median
(MedianPruner), optuna+sha (SuccessiveHalvingPruner), optuna+hyperband (HyperbandPruner), each with
its defaults. A benchmark, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Protocol
from unittest import mock

import numpy as np
from sklearn import datasets
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from hypersearch.core import early_stopping, engine
from hypersearch.core.engine import decide, rng_for
from hypersearch.core.manifest import parse_manifest
from hypersearch.core.metrics import final_value
from hypersearch.core.params import CategoricalParam, FloatParam, Params
from hypersearch.core.space import Space
from hypersearch.core.spec import EarlyStopping, SearchSpec
from hypersearch.core.trials import Observation, Trial, TrialPhase

METHODS = (
    "hs",
    "hs+median",
    "hs+asha",
    "hs+median[exclude]",
    "hs+asha[exclude]",
    "optuna",
    "optuna+median",
    "optuna+sha",
    "optuna+hyperband",
)
EXTRA_METHODS = (
    "hs-random",
    "hs-random+median",
    "hs-random+asha",
    "hs+median[last]",
    "hs+asha[last]",
    "hs+median-x",
    "hs+asha-x",
    "hs+median[fidelity]",
    "hs+asha[fidelity]",
    "hs+median-g[fidelity]",
    "hs+asha-g[fidelity]",
    "hs+median-g",
    "hs+asha-g",
    "hs+asha-r",
)


# --- tasks -----------------------------------------------------------------------------------


class Curve(Protocol):
    """One trial's learning curve, computed as far as it is asked for (a stopped trial trains no
    further): ``value(epoch)`` for epochs 1, 2, ... in order."""

    def value(self, epoch: int) -> float: ...


@dataclass(frozen=True)
class CurveTask:
    """A space and the learning curve of a point, deterministic per seed."""

    name: str
    space: Space
    curve: Callable[[Params, int, int], Curve]


@dataclass
class _Listed:
    values: list[float]
    clean: list[float] | None = None
    """The curve without its noise (synthetic tasks): what the point is really worth."""

    def value(self, epoch: int) -> float:
        return self.values[epoch - 1]


def _true_value(curve: Curve, epoch: int) -> float:
    """What a trial's configuration is worth at ``epoch`` without measurement noise: the noiseless
    curve where the task has one, else the value measured (real tasks: a fixed test split)."""
    clean = getattr(curve, "clean", None)
    return clean[epoch - 1] if clean is not None else curve.value(epoch)


def _crossing(p: Params, epochs: int, seed: int) -> Curve:
    u = (math.log10(float(p["lr"])) + 4) / 4  # 0 (lr 1e-4) .. 1 (lr 1)
    v = float(p["width"])
    final = 0.95 - 0.5 * (u - 0.35) ** 2 - 0.3 * (v - 0.7) ** 2
    tau = 1 + 12 * (1 - u)  # small learning rates learn slowly (and end best)
    noise = np.random.default_rng([seed, int(u * 1e6), int(v * 1e6)]).normal(0, 0.01, epochs)
    clean = [final * (1 - math.exp(-e / tau)) for e in range(1, epochs + 1)]
    return _Listed([c + float(noise[e]) for e, c in enumerate(clean)], clean)


@cache
def _digits() -> tuple[Any, Any, Any, Any]:
    x, y = datasets.load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_test), y_train, y_test


class _PartialFit:
    """A scikit-learn model trained one pass of a data set per epoch with ``partial_fit`` (in
    minibatches where the model has them); its score (accuracy, R^2) on the held-out quarter."""

    def __init__(
        self, model: Any, seed: int, data: Callable[[], tuple[Any, Any, Any, Any]] | None = None
    ) -> None:
        self.model = model
        self.order = np.random.default_rng(seed)
        self.values: list[float] = []
        self.data = _digits if data is None else data
        self.classify = data is None
        self.diverged = False

    def value(self, epoch: int) -> float:
        x_train, x_test, y_train, y_test = self.data()
        while len(self.values) < epoch:
            shuffled = self.order.permutation(len(y_train))
            extra = {"classes": _CLASSES} if self.classify else {}
            if not self.diverged:
                try:
                    with np.errstate(all="ignore"):
                        self.model.partial_fit(x_train[shuffled], y_train[shuffled], **extra)
                except ValueError:  # non-finite weights: the training diverged
                    self.diverged = True
            self.values.append(
                math.nan if self.diverged else _finite_or_nan(self.model.score, x_test, y_test)
            )
        return self.values[epoch - 1]


def _finite_or_nan(score: Callable[[Any, Any], float], x: Any, y: Any) -> float:
    """The score, NaN when the model diverged (its predictions overflow or are not numbers)."""
    with np.errstate(all="ignore"):
        try:
            value = float(score(x, y))
        except ValueError:  # scikit-learn refuses NaN/inf predictions
            return math.nan
    return value if math.isfinite(value) else math.nan


@cache
def _diabetes() -> tuple[Any, Any, Any, Any]:
    x, y = datasets.load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(x_train)
    mean, std = float(y_train.mean()), float(y_train.std())
    return (
        scaler.transform(x_train),
        scaler.transform(x_test),
        (y_train - mean) / std,
        (y_test - mean) / std,
    )


_CLASSES = np.arange(10)


def _sgd_digits(p: Params, epochs: int, seed: int) -> Curve:
    model = SGDClassifier(
        loss=str(p["loss"]),
        alpha=float(p["alpha"]),
        learning_rate="invscaling",
        eta0=float(p["eta0"]),
        power_t=float(p["power_t"]),
        random_state=seed,
    )
    return _PartialFit(model, seed)


def _mlp_digits(p: Params, epochs: int, seed: int) -> Curve:
    model = MLPClassifier(
        hidden_layer_sizes=(int(p["width"]),),
        alpha=float(p["alpha"]),
        learning_rate_init=float(p["lr"]),
        batch_size=int(p["batch"]),
        solver="sgd",
        momentum=float(p["momentum"]),
        random_state=seed,
    )
    return _PartialFit(model, seed)


def _mlp_diabetes(p: Params, epochs: int, seed: int) -> Curve:
    model = MLPRegressor(
        hidden_layer_sizes=(int(p["width"]),),
        alpha=float(p["alpha"]),
        learning_rate_init=float(p["lr"]),
        batch_size=int(p["batch"]),
        solver="sgd",
        momentum=float(p["momentum"]),
        random_state=seed,
    )
    return _PartialFit(model, seed, _diabetes)


TASKS = {
    "crossing": CurveTask(
        "crossing",
        Space((FloatParam("lr", 1e-4, 1.0, "log"), FloatParam("width", 0.0, 1.0))),
        _crossing,
    ),
    "sgd_digits": CurveTask(
        "sgd_digits",
        Space(
            (
                FloatParam("alpha", 1e-7, 1e-1, "log"),
                FloatParam("eta0", 1e-5, 1.0, "log"),
                FloatParam("power_t", 0.05, 0.9),
                CategoricalParam("loss", ("hinge", "log_loss", "modified_huber")),
            )
        ),
        _sgd_digits,
    ),
    "mlp_digits": CurveTask(
        "mlp_digits",
        Space(
            (
                FloatParam("lr", 1e-4, 1.0, "log"),
                FloatParam("alpha", 1e-6, 1e-1, "log"),
                FloatParam("momentum", 0.0, 0.95),
                CategoricalParam("width", (8, 16, 32, 64)),
                CategoricalParam("batch", (32, 128, 512)),
            )
        ),
        _mlp_digits,
    ),
    "mlp_diabetes": CurveTask(
        "mlp_diabetes",
        Space(
            (
                FloatParam("lr", 1e-4, 0.3, "log"),
                FloatParam("alpha", 1e-6, 1e-1, "log"),
                FloatParam("momentum", 0.0, 0.95),
                CategoricalParam("width", (8, 16, 32, 64)),
                CategoricalParam("batch", (16, 64, 256)),
            )
        ),
        _mlp_diabetes,
    ),
}
HELD_OUT = ("mlp_diabetes",)
"""Tasks no rule or setting was tuned on: run only to check a result found on the others."""


# --- one search ------------------------------------------------------------------------------


@dataclass
class Result:
    task: str
    method: str
    seed: int
    epochs: int = 0
    best: float = -math.inf
    trace: list[tuple[int, float]] = field(default_factory=list)
    """(epochs consumed so far, best full-length value so far), at each full-length finish."""
    stopped: int = 0
    chosen: float = -math.inf
    """The noiseless final value of the trial with the best final value (the configuration a
    user would take): equal to ``best`` on the real tasks, free of the noisy maximum on
    synthetic ones."""

    def finish(self, value: float, true: float) -> None:
        """A trial ran all its epochs and ended at ``value`` (worth ``true`` without noise)."""
        if value > self.best:
            self.best, self.chosen = value, true
        self.trace.append((self.epochs, self.best))


def _spec(task: CurveTask, method: str, seed: int, args: argparse.Namespace) -> SearchSpec:
    rule, _, variant = _plain(method).partition("+")[2].partition("[")[0].partition("-")
    early: dict[str, Any] | None = None
    if rule == "median":
        early = {"algorithm": "median"}
    elif rule == "asha":
        early = {"algorithm": "asha", "maxResource": args.epochs}
    extrapolate = early is not None and variant == "x"
    if extrapolate and rule == "median":
        early = {**(early or {}), "extrapolate": True}
    params: list[dict[str, Any]] = []
    for p in task.space.params:
        if isinstance(p, FloatParam):
            params.append(
                {"name": p.name, "type": "float", "min": p.min, "max": p.max, "scale": p.scale}
            )
        elif isinstance(p, CategoricalParam):
            params.append({"name": p.name, "type": "categorical", "values": list(p.values)})
        else:
            raise TypeError(f"the tasks here use float and categorical parameters, not {p!r}")
    algorithm = "random" if method.startswith("hs-random") else "bayesian"
    doc = {
        "apiVersion": "hypersearch.io/v1alpha1",
        "kind": "HyperSearch",
        "metadata": {"name": "bench"},
        "spec": {
            "algorithm": {"name": algorithm, "seed": seed},
            "objective": {"metric": "acc", "goal": "maximize"},
            "parameters": params,
            "maxTrials": args.trials
            if _budget(method, args) is None
            else min(1000, 30 * args.trials),
            "parallelism": args.parallel,
            "maxFailedTrials": 1000,  # diverged trials (NaN) fail; the search goes on
            "trial": {"template": {"spec": {"containers": [{"name": "t", "image": "i"}]}}},
            **({"earlyStopping": early} if early else {}),
        },
    }
    spec = parse_manifest(doc)
    if extrapolate and rule == "asha" and spec.early_stopping is not None:
        # Not a manifest setting of asha (core.early_stopping.extrapolates says why): the
        # core's guard is measured directly.
        settings = {**spec.early_stopping.settings, "extrapolate": True}
        spec = replace(spec, early_stopping=EarlyStopping("asha", settings))
    return spec


def _budget(method: str, args: argparse.Namespace) -> int | None:
    """The epoch budget of a method run under the equal-budget protocol (``METHOD@FRACTION``:
    that fraction of ``--trials`` * ``--epochs``); None: ``--trials`` trials."""
    if "@" not in method:
        return None
    return int(float(method.partition("@")[2]) * args.trials * args.epochs)


def _plain(method: str) -> str:
    """The method without its budget: ``hs+asha@0.4`` -> ``hs+asha``."""
    return method.partition("@")[0]


def _may_start(result: Result, left: int, args: argparse.Namespace, budget: int | None) -> bool:
    """Whether one more trial fits the budget, even if it and every running trial (``left``
    epochs to go between them) ran to the end: the search never consumes more than the budget."""
    return budget is None or result.epochs + left + args.epochs <= budget


@contextmanager
def _policy(method: str) -> Iterator[None]:
    policy = _plain(method).partition("[")[2].rstrip("]") or "project"
    # Explicit, so each method keeps its meaning whatever the engine's defaults are.
    guard = _plain(method).partition("[")[0].endswith("-g")
    adaptive = _plain(method).partition("[")[0].endswith("-r")
    with (
        mock.patch.object(engine, "STOPPED_IN_MODEL", policy),
        mock.patch.object(engine, "MODEL_GUARD", guard),
        mock.patch.object(early_stopping, "ADAPTIVE_RUNGS", adaptive),
    ):
        yield


def run_hs(task: CurveTask, method: str, seed: int, args: argparse.Namespace) -> Result:
    spec = _spec(task, method, seed, args)
    result = Result(task.name, method, seed)
    trials: dict[str, Trial] = {}
    curves: dict[str, Curve] = {}
    now = 0.0
    with _policy(method):
        while True:
            ordered = sorted(trials.values(), key=lambda t: t.index)
            plan = decide(spec, ordered, now, rng_for(spec, ordered))
            for stop in plan.stop:
                t = trials[stop.name]
                value, _ = final_value(t.observations, spec.objective)
                trials[stop.name] = _end(t, TrialPhase.EARLY_STOPPED, value, now)
                result.stopped += 1
            budget = _budget(method, args)
            for new in plan.start:
                left = sum(
                    args.epochs - len(t.observations)
                    for t in trials.values()
                    if t.phase is TrialPhase.RUNNING
                )
                if not _may_start(result, left, args, budget):
                    break
                trials[new.name] = Trial(
                    new.name, new.index, new.params, TrialPhase.RUNNING, created_at=now
                )
                curves[new.name] = task.curve(new.params, args.epochs, seed * 1000 + new.index)
            if plan.finished or not any(t.phase is TrialPhase.RUNNING for t in trials.values()):
                break
            now += 1.0
            for name, t in list(trials.items()):
                if t.phase is not TrialPhase.RUNNING:
                    continue
                epoch = len(t.observations) + 1
                observed = (*t.observations, Observation("acc", curves[name].value(epoch), epoch))
                result.epochs += 1
                if epoch == args.epochs:
                    value = curves[name].value(epoch)
                    if math.isfinite(value):
                        trials[name] = _end(t, TrialPhase.SUCCEEDED, value, now, observed)
                        result.finish(value, _true_value(curves[name], epoch))
                    else:  # diverged: no value, failed (as core.metrics.final_value has it)
                        trials[name] = _end(t, TrialPhase.FAILED, None, now, observed)
                else:
                    trials[name] = Trial(
                        t.name, t.index, t.params, t.phase, observations=observed, created_at=0.0
                    )
    return result


def _end(
    t: Trial,
    phase: TrialPhase,
    value: float | None,
    now: float,
    observations: tuple[Observation, ...] | None = None,
) -> Trial:
    return Trial(
        t.name,
        t.index,
        t.params,
        phase,
        value=value,
        observations=t.observations if observations is None else observations,
        created_at=t.created_at,
        finished_at=now,
    )


def run_optuna(task: CurveTask, method: str, seed: int, args: argparse.Namespace) -> Result:
    import optuna
    from optuna import distributions as d

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rule = _plain(method).partition("+")[2]
    pruner: Any = {
        "": optuna.pruners.NopPruner(),
        "median": optuna.pruners.MedianPruner(),
        "sha": optuna.pruners.SuccessiveHalvingPruner(),
        "hyperband": optuna.pruners.HyperbandPruner(max_resource=args.epochs),
    }[rule]
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    dists: dict[str, Any] = {}
    for p in task.space.params:
        if isinstance(p, FloatParam):
            dists[p.name] = d.FloatDistribution(p.min, p.max, log=p.scale == "log")
        elif isinstance(p, CategoricalParam):
            dists[p.name] = d.CategoricalDistribution(list(p.values))
    result = Result(task.name, method, seed)
    running: list[tuple[Any, Curve, int]] = []
    asked = 0
    budget = _budget(method, args)
    limit = args.trials if budget is None else min(1000, 30 * args.trials)
    while asked < limit or running:
        while asked < limit and len(running) < args.parallel:
            left = sum(args.epochs - done for _, _, done in running)
            if not _may_start(result, left, args, budget):
                limit = asked
                break
            trial = study.ask(dists)
            running.append(
                (trial, task.curve(dict(trial.params), args.epochs, seed * 1000 + asked), 0)
            )
            asked += 1
        still: list[tuple[Any, Curve, int]] = []
        for trial, curve, done in running:
            epoch = done + 1
            result.epochs += 1
            value = curve.value(epoch)
            trial.report(value, epoch)
            if epoch == args.epochs:
                study.tell(trial, value)  # a NaN tells Optuna the trial failed
                if math.isfinite(value):
                    result.finish(value, _true_value(curve, epoch))
            elif trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                result.stopped += 1
            else:
                still.append((trial, curve, epoch))
        running = still
    return result


def run_one(task_name: str, method: str, seed: int, args: argparse.Namespace) -> Result:
    warnings.filterwarnings("ignore")  # peers' chatter and SGD's convergence notes
    task = TASKS[task_name]
    with threadpool_limits(1):
        if method.startswith("optuna"):
            return run_optuna(task, method, seed, args)
        return run_hs(task, method, seed, args)


# --- the table -------------------------------------------------------------------------------


def report(
    results: list[Result], tasks: list[str], methods: list[str], against: str = "hs"
) -> None:
    """Per task and method, medians over seeds; ratios and counts against ``hs`` of the same
    seed (the same GP search without stopping); the +/=/- counts and the sign test against
    ``against`` (``--against``: e.g. a candidate against the rule it would replace)."""
    by = {(r.task, r.method, r.seed): r for r in results}
    seeds = sorted({r.seed for r in results})
    for task in tasks:
        print(f"\n{task}")
        print(
            f"  {'method':<20} {'epochs':>7} {'vs hs':>7} {'stopped':>8} "
            f"{'final best':>10} {'best>=hs':>8} {'chosen':>8} {'ch>=hs':>7} "
            f"{'+/=/- vs ' + against:>11} {'sign p':>6}"
        )
        for method in methods:
            runs = [by[(task, method, s)] for s in seeds if (task, method, s) in by]
            if not runs:
                continue
            paired = [(r, by[(task, "hs", r.seed)]) for r in runs if (task, "hs", r.seed) in by]
            ratios = [hs.epochs / r.epochs for r, hs in paired]
            not_worse = sum(r.best >= hs.best - 1e-12 for r, hs in paired)
            chosen_not_worse = sum(r.chosen >= hs.chosen - 1e-12 for r, hs in paired)
            versus = [
                (r, by[(task, against, r.seed)]) for r in runs if (task, against, r.seed) in by
            ]
            print(
                f"  {method:<20} {statistics.median(r.epochs for r in runs):>7.0f} "
                f"{(statistics.median(ratios) if ratios else math.nan):>6.2f}x "
                f"{statistics.median(r.stopped for r in runs):>8.0f} "
                f"{statistics.median(r.best for r in runs):>10.4f} "
                f"{f'{not_worse}/{len(paired)}':>8} "
                f"{statistics.median(r.chosen for r in runs):>8.4f} "
                f"{f'{chosen_not_worse}/{len(paired)}':>7} "
                f"{_paired_counts(versus):>11} {_sign_p(versus):>6.3f}"
            )


def _wins_losses(paired: list[tuple[Result, Result]]) -> tuple[int, int, int]:
    """Seeds where the method's final best is above, equal to, below the reference's (to the 4
    decimals a saved line keeps, so saved and live runs count alike)."""
    diffs = [round(r.best, 4) - round(hs.best, 4) for r, hs in paired]
    return (
        sum(d > 1e-9 for d in diffs),
        sum(abs(d) <= 1e-9 for d in diffs),
        sum(d < -1e-9 for d in diffs),
    )


def _paired_counts(paired: list[tuple[Result, Result]]) -> str:
    return "/".join(map(str, _wins_losses(paired)))


def _sign_p(paired: list[tuple[Result, Result]]) -> float:
    """Two-sided exact sign test of the final bests against the reference's, ties dropped: the
    chance of a split at least this uneven if either were as likely to be better on a seed."""
    up, _, down = _wins_losses(paired)
    n = up + down
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(up, down) + 1)) / (1 << n)
    return min(1.0, 2 * tail)


def _line(r: Result) -> str:
    """One finished search as a line: what ``--save`` keeps and ``--load`` reads back."""
    return (
        f"{r.task} {r.method} seed={r.seed} epochs={r.epochs} stopped={r.stopped} "
        f"best={r.best:.4f} chosen={r.chosen:.4f}"
    )


def _said(r: Result) -> Result:
    """One line per finished search (stderr), so a long run shows progress and leaves data."""
    print(_line(r), file=sys.stderr, flush=True)
    return r


def _saved(r: Result, path: str | None) -> Result:
    """``--save``: the finished search's line appended to ``path`` too, as it finishes."""
    if path is not None:
        with open(path, "a", encoding="utf-8") as out:
            print(_line(r), file=out)
    return r


def _loaded(paths: str) -> list[Result]:
    """The results of earlier runs from their saved (or stderr) lines, later lines winning."""
    found: dict[tuple[str, str, int], Result] = {}
    for path in paths.split(","):
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                parts = line.split()
                if len(parts) < 3 or parts[0] not in TASKS or not parts[2].startswith("seed="):
                    continue
                task, method, *fields = parts
                got = dict(f.split("=", 1) for f in fields)
                r = Result(task, method, int(got["seed"]), int(got["epochs"]))
                r.stopped, r.best, r.chosen = (
                    int(got["stopped"]),
                    float(got["best"]),
                    float(got["chosen"]),
                )
                found[(task, method, r.seed)] = r
    return list(found.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--tasks",
        default=",".join(t for t in TASKS if t not in HELD_OUT),
        help=f"(default: all but the held-out {', '.join(HELD_OUT)})",
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed-start", type=int, default=0, help="the first seed")
    parser.add_argument(
        "--budget",
        type=float,
        help="equal-budget protocol too: each method with a rule or pruner also runs as "
        "METHOD@BUDGET, as many trials as fit in this fraction of trials*epochs (never more)",
    )
    parser.add_argument("--save", help="append each finished search's line to this file")
    parser.add_argument(
        "--against", default="hs", help="the method the +/=/- counts and sign test compare with"
    )
    parser.add_argument(
        "--load",
        help="comma-separated files of saved lines: report those runs (of --tasks, --methods "
        "and the seeds asked for) instead of running them",
    )
    args = parser.parse_args(argv)
    tasks = args.tasks.split(",")
    methods = args.methods.split(",")
    if args.budget is not None:
        methods += [f"{m}@{args.budget:g}" for m in methods if "+" in m and "@" not in m]
    unknown = [m for m in methods if _plain(m) not in (*METHODS, *EXTRA_METHODS)]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(METHODS + EXTRA_METHODS)}")
    jobs = [
        (t, m, s)
        for t in tasks
        for m in methods
        for s in range(args.seed_start, args.seed_start + args.seeds)
    ]
    started = time.monotonic()
    results: list[Result] = []
    if args.load:
        # The reference's runs too, so --against compares with a method not listed.
        wanted = set(jobs) | {(t, args.against, s) for t, _, s in jobs}
        results = [r for r in _loaded(args.load) if (r.task, r.method, r.seed) in wanted]
    elif args.jobs == 1:
        done = (run_one(t, m, s, args) for t, m, s in jobs)
        for result in done:
            results.append(_saved(_said(result), args.save))
    else:
        with ProcessPoolExecutor(args.jobs) as pool:
            columns = list(zip(*jobs, strict=True))
            for result in pool.map(run_one, *columns, [args] * len(jobs)):
                results.append(_saved(_said(result), args.save))
    print(
        f"{args.seeds} seeds, {args.trials} trials of {args.epochs} epochs, {args.parallel} at "
        f"once; {time.monotonic() - started:.0f}s"
    )
    report(results, tasks, methods, args.against)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
