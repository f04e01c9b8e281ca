"""Benchmark tasks for bench/optimizers.py: functions to minimise over a hypersearch Space.

Synthetic functions with known optima (Surjanovic & Bingham's Virtual Library of Simulation
Experiments gives the definitions and optima used here), one shaped like the CNN example's space,
and real tuning tasks on data that ships with scikit-learn (cross-validated on fixed folds, so every
evaluation is deterministic and cheap: under 0.3 s on one core). scikit-learn's models are imported
here, at import time, so that the benchmark's one-thread limit (threadpoolctl) reaches the OpenMP
and BLAS libraries they load.

A task's ``best`` is its known optimum (synthetic) or the best value any optimiser has found in our
recorded runs (real tasks); ``optimizers.py`` takes the better of that and what the current run
finds. This module must not import any optimiser.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from sklearn import datasets
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsRegressor
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from hypersearch.core.params import CategoricalParam, FloatParam, IntParam, Params
from hypersearch.core.space import Space


@dataclass(frozen=True)
class Task:
    """A space, a function to minimise over it, and the best value known for it."""

    name: str
    space: Space
    f: Callable[[Params], float]
    best: float


def _floats(names: str, lo: float, hi: float) -> tuple[FloatParam, ...]:
    return tuple(FloatParam(n, lo, hi) for n in names.split())


def _vec(params: Params) -> np.ndarray:
    return np.array([float(v) for v in params.values()])


def branin(p: Params) -> float:
    x1, x2 = float(p["x1"]), float(p["x2"])
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p: Params) -> float:
    x = _vec(p)
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def ackley(p: Params) -> float:
    x = _vec(p)
    d = len(x)
    return float(
        -20 * np.exp(-0.2 * np.sqrt(np.sum(x**2) / d))
        - np.exp(np.sum(np.cos(2 * np.pi * x)) / d)
        + 20
        + math.e
    )


def levy(p: Params) -> float:
    w = 1 + (_vec(p) - 1) / 4
    head = np.sin(np.pi * w[0]) ** 2
    mid = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2)
    return float(head + mid + tail)


def rosenbrock(p: Params) -> float:
    x = _vec(p)
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def corner_trees(p: Params) -> float:
    """A tree ensemble's error in shape: more trees, depth and features always help, with
    diminishing returns, so the optimum is the box's corner (every parameter at its upper bound).
    Snapped candidates pile onto that corner; an optimiser that re-asks it wastes trials."""
    trees, depth = float(p["n_estimators"]), float(p["max_depth"])
    shortfall = 1 - float(p["max_features"])
    return 0.02 + 0.08 * math.exp(-trees / 40) + 0.1 * math.exp(-depth / 6) + 0.05 * shortfall**2


def conditional_pipeline(p: Params) -> float:
    """One categorical decides which continuous parameters matter (issue 13): under ``tree`` only
    b and c, under ``linear`` only a (and the scaler), under ``kernel`` a and d (and the scaler).
    Minimum 0.15 at model=kernel, scaler=standard, a=0.8, d=0.5 (b and c free); the greedy pair
    after a few points is often ``tree``, whose minimum is 0.20."""
    a, b, c, d = (float(p[k]) for k in "abcd")
    standard = p["scaler"] == "standard"
    if p["model"] == "linear":
        return 0.35 + 0.5 * (a - 0.2) ** 2 - 0.1 * standard
    if p["model"] == "kernel":
        return 0.30 + (a - 0.8) ** 2 + (d - 0.5) ** 2 - 0.15 * standard
    return 0.20 + (b - 0.7) ** 2 + (c - 0.3) ** 2


def cnn_like(p: Params) -> float:
    """A stand-in validation error over the CNN example's space: smooth, with interactions.

    Minimum 0.08 at conv2_filter=96, conv2_kernel=3, dense_layer=512, dropout=0.35 (every term is
    zero there and non-negative elsewhere).
    """
    filters = math.log2(int(p["conv2_filter"]) / 96)
    kernel = (int(p["conv2_kernel"]) - 3) / 6
    dense = math.log2(int(p["dense_layer"]) / 512)
    dropout = float(p["dropout"]) - 0.35
    return (
        0.08
        + 0.10 * filters**2
        + 0.15 * kernel**2
        + 0.04 * dense**2
        + 0.6 * dropout**2
        + 0.05 * (filters * dense) ** 2
        + 0.3 * (dropout * dense) ** 2
    )


CNN_SPACE = Space(
    (
        IntParam("conv2_filter", 16, 128),
        IntParam("conv2_kernel", 2, 8),
        IntParam("dense_layer", 64, 1024),
        FloatParam("dropout", 0.001, 0.999),
    )
)


@cache
def _data(name: str, rows: int) -> tuple[Any, Any]:
    x, y = getattr(datasets, name)(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))[:rows]
    return StandardScaler().fit_transform(x[order]), y[order]


def _cv_error(model: Any, name: str, rows: int, regression: bool = False) -> float:
    x, y = _data(name, rows)
    folds = KFold(3, shuffle=True, random_state=0) if regression else StratifiedKFold(3)
    scoring = "neg_mean_squared_error" if regression else "accuracy"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        score = float(np.mean(cross_val_score(model, x, y, cv=folds, scoring=scoring)))
    return -score if regression else 1.0 - score


def svm_digits(p: Params) -> float:
    model = SVC(C=float(p["C"]), gamma=float(p["gamma"]))
    return _cv_error(model, "load_digits", 500)


def hgb_breast_cancer(p: Params) -> float:
    model = HistGradientBoostingClassifier(
        max_iter=int(p["max_iter"]),
        learning_rate=float(p["learning_rate"]),
        max_leaf_nodes=int(p["max_leaf_nodes"]),
        min_samples_leaf=int(p["min_samples_leaf"]),
        l2_regularization=float(p["l2_regularization"]),
        random_state=0,
    )
    return _cv_error(model, "load_breast_cancer", 400)


def mlp_digits(p: Params) -> float:
    model = MLPClassifier(
        hidden_layer_sizes=(int(p["units"]),),
        alpha=float(p["alpha"]),
        learning_rate_init=float(p["learning_rate_init"]),
        activation=str(p["activation"]),
        max_iter=30,
        random_state=0,
    )
    return _cv_error(model, "load_digits", 400)


def sgd_digits(p: Params) -> float:
    """The issue-13 linear model: penalty and loss are categories, alpha log-scaled, and
    l1_ratio only matters under ``elasticnet``."""
    model = SGDClassifier(
        loss=str(p["loss"]),
        penalty=str(p["penalty"]),
        alpha=float(p["alpha"]),
        l1_ratio=float(p["l1_ratio"]),
        max_iter=20,
        tol=None,
        random_state=0,
    )
    return _cv_error(model, "load_digits", 360)


def knn_diabetes(p: Params) -> float:
    model = KNeighborsRegressor(
        n_neighbors=int(p["n_neighbors"]), weights=str(p["weights"]), p=float(p["p"])
    )
    return _cv_error(model, "load_diabetes", 442, regression=True) / 1000.0


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "branin", Space((FloatParam("x1", -5, 10), FloatParam("x2", 0, 15))), branin, 0.397887
        ),
        Task("hartmann6", Space(_floats("x1 x2 x3 x4 x5 x6", 0, 1)), hartmann6, -3.32237),
        Task("ackley5", Space(_floats("x1 x2 x3 x4 x5", -32.768, 32.768)), ackley, 0.0),
        Task("levy4", Space(_floats("x1 x2 x3 x4", -10, 10)), levy, 0.0),
        Task("rosenbrock4", Space(_floats("x1 x2 x3 x4", -5, 10)), rosenbrock, 0.0),
        Task("cnn_like", CNN_SPACE, cnn_like, 0.08),
        Task(
            "corner_trees",
            Space(
                (
                    IntParam("n_estimators", 10, 200),
                    IntParam("max_depth", 2, 30),
                    FloatParam("max_features", 0.1, 1.0),
                )
            ),
            corner_trees,
            0.02 + 0.08 * math.exp(-200 / 40) + 0.1 * math.exp(-30 / 6),
        ),
        Task(
            "svm_digits",
            Space((FloatParam("C", 1e-2, 1e3, "log"), FloatParam("gamma", 1e-5, 1e-1, "log"))),
            svm_digits,
            math.inf,
        ),
        Task(
            "hgb_breast_cancer",
            Space(
                (
                    IntParam("max_iter", 5, 50),
                    FloatParam("learning_rate", 1e-2, 1.0, "log"),
                    IntParam("max_leaf_nodes", 4, 64, "log"),
                    IntParam("min_samples_leaf", 2, 50, "log"),
                    FloatParam("l2_regularization", 1e-4, 10.0, "log"),
                )
            ),
            hgb_breast_cancer,
            math.inf,
        ),
        Task(
            "mlp_digits",
            Space(
                (
                    IntParam("units", 4, 64, "log"),
                    FloatParam("alpha", 1e-5, 1.0, "log"),
                    FloatParam("learning_rate_init", 1e-4, 1e-1, "log"),
                    CategoricalParam("activation", ("relu", "tanh", "logistic")),
                )
            ),
            mlp_digits,
            math.inf,
        ),
        Task(
            "knn_diabetes",
            Space(
                (
                    IntParam("n_neighbors", 1, 60),
                    CategoricalParam("weights", ("uniform", "distance")),
                    FloatParam("p", 1.0, 3.0),
                )
            ),
            knn_diabetes,
            math.inf,
        ),
        Task(
            "conditional_pipeline",
            Space(
                (
                    CategoricalParam("model", ("linear", "tree", "kernel")),
                    CategoricalParam("scaler", ("none", "standard")),
                    *_floats("a b c d", 0, 1),
                )
            ),
            conditional_pipeline,
            0.15,
        ),
        Task(
            "sgd_digits",
            Space(
                (
                    CategoricalParam("penalty", ("l2", "l1", "elasticnet")),
                    CategoricalParam("loss", ("hinge", "log_loss", "modified_huber")),
                    FloatParam("alpha", 1e-6, 1.0, "log"),
                    FloatParam("l1_ratio", 0.0, 1.0),
                )
            ),
            sgd_digits,
            math.inf,
        ),
    )
}
