"""Train a support vector classifier on scikit-learn's handwritten digits and report its accuracy.

The hypersearch demo trainer: every trial runs this script with its own C and gamma (both tuned on
a log scale) and reads the ``accuracy=`` lines it prints. Each fold prints a report, so the search
shows a curve per trial; the last line is the mean cross-validated accuracy the search maximises.
The digits ship with scikit-learn: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--gamma", type=float, default=0.01, help="RBF kernel width")
    parser.add_argument("--kernel", default="rbf", choices=["rbf", "poly", "sigmoid"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    x, y = load_digits(return_X_y=True)
    model = make_pipeline(StandardScaler(), SVC(C=args.C, gamma=args.gamma, kernel=args.kernel))
    splits = RepeatedStratifiedKFold(n_splits=args.folds, n_repeats=args.repeats, random_state=0)
    scores: list[float] = []
    start = time.perf_counter()
    for step, (train, test) in enumerate(splits.split(x, y), start=1):
        model.fit(x[train], y[train])
        scores.append(float(model.score(x[test], y[test])))
        print(f"step={step} fold_accuracy={scores[-1]:.4f}", flush=True)
    seconds = time.perf_counter() - start
    print(f"accuracy={np.mean(scores):.4f} accuracy_std={np.std(scores):.4f} seconds={seconds:.2f}")


if __name__ == "__main__":
    main()
