"""The hosted-tool dialect: ``hyper grid|random|bayesian --param ... -- COMMAND``.

Flags become a ``SearchSpec`` validated like a manifest (``dialect_spec``), and problems name the
flag instead of the manifest path. The search then runs here, is printed as a manifest
(``--manifest``) or is submitted to a cluster (``--submit``, through ``cli.cluster``). Apart from
``cli`` because it is the one subcommand family that builds a spec from flags.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hypersearch.cli.common import (
    EXIT_OK,
    UsageError,
    add_run_options,
    add_submit_target_options,
    check_submit_flags,
    non_negative_int,
    positive_float,
    positive_int,
    submit_and_follow,
)
from hypersearch.core.errors import Problem, SpecError
from hypersearch.core.manifest import manifest_yaml, parse_manifest, spec_to_manifest
from hypersearch.core.param_flags import parse_param_flag
from hypersearch.core.params import FloatParam, Param
from hypersearch.core.placeholders import UNDECLARED_FIX
from hypersearch.core.space import Space
from hypersearch.core.spec import (
    AGGREGATIONS,
    EARLY_STOPPING_ALGORITHMS,
    EARLY_STOPPING_SETTINGS,
    GOALS,
    MAX_SEARCH_NAME_LENGTH,
    Algorithm,
    AlgorithmName,
    EarlyStopping,
    Objective,
    SearchSpec,
    TrialTemplate,
    spec_warnings,
)

LOCAL_IMAGE = "python:3.12-slim"
"""The image written into a dialect search's manifest when --image is not given (locally the
image is never used; ``--manifest`` requires --image)."""

DIALECT_ALGORITHMS: tuple[AlgorithmName, ...] = ("grid", "random", "bayesian")


def configure_dialect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="SPEC",
        help="NAME=MIN:MAX[:linear|log][:int|float] or NAME=a,b,c (repeat for each parameter)",
    )
    parser.add_argument(
        "--num-runs",
        "-n",
        type=positive_int,
        help="trials to run (grid: default the whole grid; random and bayesian: required)",
    )
    parser.add_argument(
        "--parallel-runs", "-P", type=positive_int, default=1, help="trials at once (default 1)"
    )
    parser.add_argument("--metric", "-m", required=True, help="the metric the trials print")
    parser.add_argument(
        "--metric-agg",
        choices=AGGREGATIONS,
        default="last",
        help="how a trial's reports become its value (default last)",
    )
    parser.add_argument(
        "--metric-unit",
        metavar="TEXT",
        help="the metric's unit, e.g. %% or s: shown on report axes and columns (display only)",
    )
    parser.add_argument("--goal", choices=GOALS, default="maximize", help="default maximize")
    parser.add_argument(
        "--noisy",
        action="store_true",
        help="the same parameters can score differently from run to run: bayesian may measure "
        "a point again (spec.objective.noisy)",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="default 0")
    parser.add_argument(
        "-t", "--machine-type", dest="machine_type", help="machine type, e.g. K80 (asks for a GPU)"
    )
    parser.add_argument("--name", help="search name (default: <script>-<algorithm>)")
    parser.add_argument(
        "--max-failed", type=non_negative_int, default=3, help="failed trials allowed (default 3)"
    )
    parser.add_argument(
        "--timeout", type=positive_float, help="seconds a trial may run before it is stopped"
    )
    stopping = parser.add_argument_group(
        "early stopping", "stop trials whose learning curves are bad (spec.earlyStopping)"
    )
    stopping.add_argument(
        "--early-stopping",
        choices=EARLY_STOPPING_ALGORITHMS,
        help="median: stop a trial worse than the median of the others at its step; asha: "
        "asynchronous successive halving (default: none, every trial runs to its end)",
    )
    for flag, key, kind in _EARLY_STOPPING_FLAGS:
        owners = [
            (r, owner)
            for owner, rules in EARLY_STOPPING_SETTINGS.items()
            for r in rules
            if r.key == key
        ]
        rule, whose = owners[0][0], ", ".join(owner for _, owner in owners)
        if kind is bool:  # a switch: given means true (the manifest's default is false)
            stopping.add_argument(
                flag, action="store_const", const=True, help=f"({whose}) {rule.description}"
            )
            continue
        stopping.add_argument(
            flag,
            type=kind,
            metavar="N",
            help=f"({whose}) {rule.description} Default {rule.default}.",
        )
    parser.add_argument(
        "--image",
        help="container image for --manifest and --submit (required there; ignored locally)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--manifest",
        action="store_true",
        help="print the equivalent HyperSearch YAML instead of running the search",
    )
    where.add_argument(
        "--submit",
        action="store_true",
        help="run the search on the cluster: apply it as a HyperSearch, then follow it to its "
        "end (--detach: return at once)",
    )
    add_submit_target_options(parser)
    add_run_options(parser)


_EARLY_STOPPING_FLAGS: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("--grace-period", "gracePeriod", int),
    ("--min-trials", "minTrials", int),
    ("--reduction-factor", "reductionFactor", float),
    ("--min-resource", "minResource", int),
    ("--max-resource", "maxResource", int),
    ("--extrapolate", "extrapolate", bool),
)

_FLAG_FOR_PATH = {
    "spec.earlyStopping.algorithm": "--early-stopping",
    **{f"spec.earlyStopping.{key}": flag for flag, key, _ in _EARLY_STOPPING_FLAGS},
    "metadata.name": "--name",
    "spec.maxTrials": "--num-runs",
    "spec.parallelism": "--parallel-runs",
    "spec.maxFailedTrials": "--max-failed",
    "spec.objective.metric": "--metric",
    "spec.objective.unit": "--metric-unit",
    "spec.algorithm.seed": "--seed",
    "spec.trial.machineType": "-t",
    "spec.trial.timeoutSeconds": "--timeout",
}
_COMMAND_PATH = re.compile(r"^spec\.trial\.template\.spec\.containers\[0\]\.command\[(\d+)\]")


_PARAMETER_PATH = re.compile(r"^spec\.parameters\[(\d+)\]")


def _flag_problem(problem: Problem, param_flags: Sequence[str]) -> Problem:
    """Name the flag (and keep the manifest path) for problems found in a dialect search;
    ``param_flags`` are the --param texts, in the order they became spec.parameters."""
    flag = _FLAG_FOR_PATH.get(problem.path)
    if flag is not None:
        return Problem(f"{flag} ({problem.path})", problem.message)
    parameter = _PARAMETER_PATH.match(problem.path)
    if parameter and int(parameter.group(1)) < len(param_flags):
        text = param_flags[int(parameter.group(1))]
        return Problem(f"--param {text} ({problem.path})", problem.message)
    match = _COMMAND_PATH.match(problem.path)
    if match:
        # The command line declares parameters with --param, not in spec.parameters.
        message = problem.message.replace(UNDECLARED_FIX, "add it with --param or correct it")
        return Problem(f"the command after -- (argument {match.group(1)})", message)
    return problem


def default_search_name(command: Sequence[str], algorithm: str) -> str:
    """``<script>-<algorithm>``: the first ``*.py`` argument's stem, else the program's name."""
    script = next((Path(a).stem for a in command if a.endswith(".py")), Path(command[0]).name)
    slug = re.sub(r"[^a-z0-9]+", "-", script.lower()).strip("-") or "search"
    slug = slug[: MAX_SEARCH_NAME_LENGTH - len(algorithm) - 1].strip("-")
    if not slug[0].isalnum():
        slug = "s" + slug
    return f"{slug}-{algorithm}"


def dialect_spec(args: argparse.Namespace, algorithm: AlgorithmName) -> SearchSpec:
    """The SearchSpec the flags describe, validated like a manifest (problems name the flag)."""
    command: list[str] = list(args.command or [])
    if not command:
        raise UsageError(
            f"hyper {algorithm}: the training command is missing; put it after --, e.g. "
            f"hyper {algorithm} --param lr=0.001:0.1:log --num-runs 10 --metric acc -- "
            "python train.py --lr :lr:"
        )
    params: list[Param] = []
    problems: list[Problem] = []
    for text in args.param:
        try:
            params.append(parse_param_flag(text))
        except SpecError as err:
            problems.extend(err.problems)
    if not args.param:
        problems.append(Problem("--param", "is missing: give at least one, e.g. --param x=0:1"))
    if algorithm == "grid":
        problems.extend(
            Problem(
                f"--param {text}",
                "is a float range, which a grid cannot enumerate; list the values instead "
                f"(e.g. --param {param.name}=0,0.5,1) or make it an int range "
                f"(--param {text}:int)",
            )
            for text, param in zip(args.param, params, strict=True)
            if isinstance(param, FloatParam)
        )
    if problems:
        raise SpecError(problems)
    space = Space(tuple(params))
    max_trials = args.num_runs
    if max_trials is None:
        size = space.grid_size() if algorithm == "grid" else None
        if size is None:
            raise SpecError(
                [
                    Problem(
                        "--num-runs",
                        f"is required for {algorithm} (how many trials to run), e.g. --num-runs 20",
                    )
                ]
            )
        max_trials = size
    if (args.manifest or args.submit) and not args.image:
        raise SpecError(
            [
                Problem(
                    "--image",
                    f"is required with {'--manifest' if args.manifest else '--submit'}: on a "
                    "cluster the command runs in a container image that holds your training "
                    "code, e.g. --image registry.example.com/team/trainer:1.0",
                )
            ]
        )
    name = args.name or default_search_name(command, algorithm)
    draft = SearchSpec(
        early_stopping=_early_stopping(args),
        name=name,
        algorithm=Algorithm(name=algorithm, seed=args.seed),
        objective=Objective(
            metric=args.metric,
            goal=args.goal,
            aggregation=args.metric_agg,
            unit=args.metric_unit,
            noisy=args.noisy,
        ),
        space=space,
        trial=TrialTemplate(
            template={
                "spec": {
                    "containers": [
                        {"name": "trainer", "image": args.image or LOCAL_IMAGE, "command": command}
                    ]
                }
            },
            machine_type=args.machine_type,
            timeout_seconds=args.timeout,
        ),
        max_trials=max_trials,
        parallelism=args.parallel_runs,
        max_failed_trials=args.max_failed,
    )
    try:
        return parse_manifest(spec_to_manifest(draft))
    except SpecError as err:
        raise SpecError([_flag_problem(p, args.param) for p in err.problems]) from None


def _early_stopping(args: argparse.Namespace) -> EarlyStopping | None:
    """--early-stopping and its setting flags, unchecked (the manifest parser checks them)."""
    given = {
        key: getattr(args, flag[2:].replace("-", "_"))
        for flag, key, _ in _EARLY_STOPPING_FLAGS
        if getattr(args, flag[2:].replace("-", "_"), None) is not None
    }
    if args.early_stopping is None:
        if given:
            flags = ", ".join(flag for flag, key, _ in _EARLY_STOPPING_FLAGS if key in given)
            raise SpecError(
                [
                    Problem(
                        flags,
                        "set(s) an early-stopping rule's settings, but no rule was chosen; add "
                        "--early-stopping median or --early-stopping asha",
                    )
                ]
            )
        return None
    return EarlyStopping(args.early_stopping, given)


def dialect_runner(algorithm: AlgorithmName) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        spec = dialect_spec(args, algorithm)

        def name_flag(problem: Problem) -> Problem:
            return _flag_problem(problem, args.param)

        if args.manifest or args.submit:
            for warning in spec_warnings(spec):
                sys.stderr.write(f"hyper: warning: {name_flag(warning)}\n")
        if args.manifest:
            sys.stdout.write(manifest_yaml(spec))
            return EXIT_OK
        check_submit_flags(args)
        if args.submit:
            return submit_and_follow(args, spec)
        from hypersearch.local import session

        return session.run_local(
            spec,
            workdir=Path.cwd(),
            state_dir=args.state_dir,
            fresh=args.fresh,
            output=args.output,
            name_fields=name_flag,
        )

    return run
