"""hypersearch: hyperparameter search on Kubernetes and on one machine, with one engine."""

__version__ = "0.1.0"
