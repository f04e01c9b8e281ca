"""The peers bench/optimizers.py compares hypersearch with, behind its ask-and-tell protocol.

Optuna (TPE with the constant liar, GPSampler), scikit-optimize, hyperopt and HEBO, each adapted
to ``ask() -> (token, params)`` and ``tell(token, value)`` (minimising). Each imports its library
on first use, so a peer that is not installed costs nothing until it is asked for
(``optimizers.available`` says which are). HEBO pins an old numpy and runs out of process
(``hebo_worker.py``). Nothing here knows about tasks, seeds or scores.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from hypersearch.core.params import FloatParam, IntParam, Params
from hypersearch.core.space import Space


class OptunaOpt:
    """Optuna's ask-and-tell interface; running trials stay RUNNING in its storage."""

    def __init__(self, space: Space, seed: int, kind: str) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        sampler: optuna.samplers.BaseSampler
        if kind == "gp":
            import torch

            torch.set_num_threads(1)
            sampler = optuna.samplers.GPSampler(seed=seed)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        self.study = optuna.create_study(sampler=sampler, direction="minimize")
        self.dists = {p.name: optuna_dist(p) for p in space.params}

    def ask(self) -> tuple[Any, Params]:
        trial = self.study.ask(self.dists)
        return trial, dict(trial.params)

    def tell(self, token: Any, value: float) -> None:
        self.study.tell(token, value)


def optuna_dist(p: Any) -> Any:
    from optuna import distributions as d

    if isinstance(p, FloatParam):
        return d.FloatDistribution(p.min, p.max, log=p.scale == "log")
    if isinstance(p, IntParam):
        return d.IntDistribution(p.min, p.max, log=p.scale == "log")
    return d.CategoricalDistribution(list(p.values))


class SkoptOpt:
    """scikit-optimize's Optimizer (GP, its default gp_hedge acquisition); it has no notion of
    pending points in asynchronous use, so they are not passed."""

    def __init__(self, space: Space, seed: int) -> None:
        from skopt import Optimizer
        from skopt.space import Categorical, Integer, Real

        dims: list[Any] = []
        for p in space.params:
            prior = "log-uniform" if getattr(p, "scale", "linear") == "log" else "uniform"
            if isinstance(p, FloatParam):
                dims.append(Real(p.min, p.max, prior=prior, name=p.name))
            elif isinstance(p, IntParam):
                dims.append(Integer(p.min, p.max, prior=prior, name=p.name))
            else:
                dims.append(Categorical(list(p.values), name=p.name))
        self.names = [p.name for p in space.params]
        self.opt = Optimizer(dims, base_estimator="GP", random_state=seed, n_initial_points=5)

    def ask(self) -> tuple[Any, Params]:
        x = self.opt.ask()
        params = {n: _plain(v) for n, v in zip(self.names, x, strict=True)}
        return x, params

    def tell(self, token: Any, value: float) -> None:
        self.opt.tell(token, value)


class HyperoptOpt:
    """hyperopt's TPE through its Trials object (new trial docs stay pending until told)."""

    def __init__(self, space: Space, seed: int) -> None:
        from hyperopt import Domain, Trials, hp

        self.hp_space: dict[str, Any] = {}
        for p in space.params:
            if isinstance(p, FloatParam):
                self.hp_space[p.name] = (
                    hp.loguniform(p.name, math.log(p.min), math.log(p.max))
                    if p.scale == "log"
                    else hp.uniform(p.name, p.min, p.max)
                )
            elif isinstance(p, IntParam):
                self.hp_space[p.name] = (
                    hp.qloguniform(p.name, math.log(p.min), math.log(p.max), 1)
                    if p.scale == "log"
                    else hp.quniform(p.name, p.min - 0.5, p.max + 0.5, 1)
                )
            else:
                self.hp_space[p.name] = hp.choice(p.name, list(p.values))
        self.space = space
        self.trials = Trials()
        self.domain = Domain(lambda _: 0.0, self.hp_space)
        self.rng = np.random.default_rng(seed)

    def ask(self) -> tuple[Any, Params]:
        from hyperopt import space_eval, tpe

        ids = self.trials.new_trial_ids(1)
        self.trials.refresh()
        seed = int(self.rng.integers(2**31 - 1))
        docs = tpe.suggest(ids, self.domain, self.trials, seed)
        self.trials.insert_trial_docs(docs)
        self.trials.refresh()
        vals = {k: v[0] for k, v in docs[0]["misc"]["vals"].items()}
        raw = space_eval(self.hp_space, vals)
        params: Params = {}
        for p in self.space.params:
            v = raw[p.name]
            if isinstance(p, IntParam):
                params[p.name] = int(min(max(round(v), p.min), p.max))
            else:
                params[p.name] = _plain(v)
        return ids[0], params

    def tell(self, token: Any, value: float) -> None:
        from hyperopt import JOB_STATE_DONE, STATUS_OK

        for doc in self.trials._dynamic_trials:
            if doc["tid"] == token:
                doc["state"] = JOB_STATE_DONE
                doc["result"] = {"loss": value, "status": STATUS_OK}
        self.trials.refresh()


class HeboOpt:
    """HEBO (NeurIPS 2020 BBO challenge winner) out of process: bench/hebo_worker.py run by the
    Python of HEBO's own virtual environment (``--hebo-python``), over JSON lines. HEBO has no
    notion of pending points, so each ask is ``suggest(n_suggestions=1)`` without the running
    ones (like scikit-optimize). Its initial design: 1 + dimension Sobol points."""

    def __init__(self, space: Space, seed: int) -> None:
        self.space = space
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (the worker's stderr, closed in close)
        self.proc = subprocess.Popen(
            [hebo_python(), str(Path(__file__).with_name("hebo_worker.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self._call({"space": [_hebo_param(p) for p in space.params], "seed": seed})

    def _call(self, msg: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            tail = self.log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"hebo_worker exited ({self.proc.wait()}):\n{tail}")
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise RuntimeError(f"hebo_worker answered {line.strip()!r}, not a JSON object")
        return reply

    def ask(self) -> tuple[Any, Params]:
        reply = self._call({"ask": True})
        params: Params = {}
        for p in self.space.params:
            v = reply["params"][p.name]
            if isinstance(p, IntParam):
                params[p.name] = int(min(max(round(v), p.min), p.max))
            elif isinstance(p, FloatParam):
                params[p.name] = float(min(max(v, p.min), p.max))
            else:
                params[p.name] = v
        return reply["token"], params

    def tell(self, token: Any, value: float) -> None:
        self._call({"tell": token, "value": value})

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.log.close()


def hebo_python() -> str:
    return os.environ.get("HEBO_PYTHON", "")


def _hebo_param(p: Any) -> dict[str, Any]:
    log = getattr(p, "scale", "linear") == "log"
    if isinstance(p, FloatParam):
        return {"name": p.name, "type": "pow" if log else "num", "lb": p.min, "ub": p.max}
    if isinstance(p, IntParam):
        return {"name": p.name, "type": "pow_int" if log else "int", "lb": p.min, "ub": p.max}
    return {"name": p.name, "type": "cat", "categories": list(p.values)}


def _plain(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.str_):
        return str(v)
    return v
