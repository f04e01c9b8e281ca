"""HEBO behind a JSON-lines pipe, for bench/optimizers.py's ``hebo`` optimiser.

HEBO (the NeurIPS 2020 black-box optimisation challenge winner, PyPI ``HEBO``) pins an old numpy,
so it lives in its own virtual environment and this script runs with that environment's Python
(``optimizers.py --hebo-python PATH``). It imports nothing from hypersearch.

Protocol, one JSON object per line on stdin, one answer per line on stdout:

    {"space": [{"name": "x", "type": "num", "lb": 0, "ub": 1}, ...], "seed": 0}  -> {"ok": true}
    {"ask": true}                                   -> {"token": 0, "params": {"x": 0.3, ...}}
    {"tell": 0, "value": 1.5}                       -> {"ok": true}

The space uses HEBO's own parameter types (num, pow, int, pow_int, cat). Asks are answered one at
a time with ``suggest(n_suggestions=1)``: HEBO has no notion of pending points, so a point asked
while others are still running is chosen without knowing them. HEBO's GP prints to stdout, so the
protocol keeps the real stdout and everything else goes to stderr.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


def main() -> None:
    protocol = sys.stdout
    sys.stdout = sys.stderr  # HEBO's prints must not reach the protocol
    warnings.filterwarnings("ignore")

    import numpy as np
    import torch
    from hebo.design_space.design_space import DesignSpace
    from hebo.optimizers.hebo import HEBO

    torch.set_num_threads(1)

    def answer(obj: dict[str, Any]) -> None:
        protocol.write(json.dumps(obj) + "\n")
        protocol.flush()

    opt: Any = None
    asked: dict[int, Any] = {}
    count = 0
    for line in sys.stdin:
        msg = json.loads(line)
        if "space" in msg:
            seed = int(msg["seed"])
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
            opt = HEBO(DesignSpace().parse(msg["space"]), scramble_seed=seed)
            answer({"ok": True})
        elif "ask" in msg:
            rec = opt.suggest(n_suggestions=1)
            asked[count] = rec
            params = {k: _plain(v) for k, v in rec.iloc[0].to_dict().items()}
            answer({"token": count, "params": params})
            count += 1
        elif "tell" in msg:
            rec = asked.pop(int(msg["tell"]))
            opt.observe(rec, np.array([[float(msg["value"])]]))
            answer({"ok": True})
        else:
            raise SystemExit(f"hebo_worker: unknown message {msg!r}")


if __name__ == "__main__":
    main()
