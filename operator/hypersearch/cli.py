"""The ``hyper`` command: wires the shells to the command line; nothing imports this module.

Subcommands live in one table (``SUBCOMMANDS``): each entry names a function that adds its
arguments and a function that runs it and returns the exit code. To add one (``operator``,
``report``, ``ui``), write those two functions and append a ``Subcommand`` line.

Exit codes: 0 the search finished and succeeded; 1 it finished without success (e.g. too many
failed trials) or could not run; 2 bad input (manifest, flags, a changed spec); 3 the search is
already running elsewhere; 130 interrupted by Ctrl-C (143 by SIGTERM).

This module must NOT hold search logic or trial handling: it parses arguments, builds the spec and
hands it to a shell (``hypersearch.local`` runs and reads local searches, ``hypersearch.report``
draws them, ``hypersearch.kube`` reads cluster searches, ``hypersearch.controller`` is the
operator).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import yaml

from hypersearch.core.errors import HyperSearchError, Problem, SpecError
from hypersearch.core.manifest import parse_manifest, spec_to_manifest
from hypersearch.core.space import FloatParam, Param, Space, parse_param_flag
from hypersearch.core.spec import (
    AGGREGATIONS,
    GOALS,
    MAX_SEARCH_NAME_LENGTH,
    Algorithm,
    AlgorithmName,
    Objective,
    SearchSpec,
    TrialTemplate,
    spec_warnings,
)

if TYPE_CHECKING:
    from hypersearch.kube.api import KubeApi
    from hypersearch.report.model import SearchView

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

LOCAL_IMAGE = "python:3.12-slim"
"""The image written into a dialect search's manifest when --image is not given (locally the
image is never used; ``--manifest`` requires --image)."""

DIALECT_ALGORITHMS: tuple[AlgorithmName, ...] = ("grid", "random", "bayesian")


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One ``hyper`` subcommand: its name, a one-line help, its arguments and its action."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    takes_command: bool = False
    """True: everything after ``--`` is the training command (``args.command``)."""


class UsageError(HyperSearchError):
    """A command-line mistake argparse cannot see (e.g. the missing training command)."""


# --- shared options ---------------------------------------------------------------------------


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``, refused with the value seen."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="where the journal, lock and trial logs live (default: .hyper/<search-name>)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="discard this search's journal and logs and start over",
    )
    _add_output_option(parser)


def _add_output_option(
    parser: argparse.ArgumentParser,
    human: str = "progress on stderr, then a table of the trials (default)",
) -> None:
    parser.add_argument(
        "--output",
        "-o",
        choices=("human", "json"),
        default="human",
        help=f"human: {human}; json: one JSON document on stdout (the search's end, the best "
        "trial, every trial with its message)",
    )


# --- hyper run ----------------------------------------------------------------------------------


def configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a HyperSearch manifest (YAML)")
    _add_run_options(parser)


def command_run(args: argparse.Namespace) -> int:
    from hypersearch.local import session

    path: Path = args.file
    try:
        text = path.read_text()
    except OSError as err:
        raise UsageError(f"{path}: cannot read the manifest: {err.strerror or err}") from None
    spec = parse_manifest(text, source=str(path))
    return session.run_local(
        spec,
        workdir=path.resolve().parent,
        state_dir=args.state_dir,
        fresh=args.fresh,
        output=args.output,
    )


# --- hyper grid | random | bayesian ---------------------------------------------------------------


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
        type=_positive_int,
        help="trials to run (grid: default the whole grid; random and bayesian: required)",
    )
    parser.add_argument(
        "--parallel-runs", "-P", type=_positive_int, default=1, help="trials at once (default 1)"
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
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="default 0")
    parser.add_argument(
        "-t", "--machine-type", dest="machine_type", help="machine type, e.g. K80 (asks for a GPU)"
    )
    parser.add_argument("--name", help="search name (default: <script>-<algorithm>)")
    parser.add_argument(
        "--max-failed", type=_non_negative_int, default=3, help="failed trials allowed (default 3)"
    )
    parser.add_argument(
        "--timeout", type=_positive_float, help="seconds a trial may run before it is stopped"
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
    parser.add_argument(
        "--detach", action="store_true", help="with --submit: do not follow the search"
    )
    parser.add_argument(
        "--namespace", help="with --submit: the namespace (default: the kubeconfig's, or default)"
    )
    parser.add_argument(
        "--kubeconfig", help="with --submit: kubeconfig file (default: $KUBECONFIG)"
    )
    parser.add_argument("--context", help="with --submit: kubeconfig context (default: current)")
    _add_run_options(parser)


_FLAG_FOR_PATH = {
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
        return Problem(f"the command after -- (argument {match.group(1)})", problem.message)
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
        name=name,
        algorithm=Algorithm(name=algorithm, seed=args.seed),
        objective=Objective(
            metric=args.metric,
            goal=args.goal,
            aggregation=args.metric_agg,
            unit=args.metric_unit,
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


def _dialect_runner(algorithm: AlgorithmName) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        spec = dialect_spec(args, algorithm)

        def name_flag(problem: Problem) -> Problem:
            return _flag_problem(problem, args.param)

        if args.manifest or args.submit:
            for warning in spec_warnings(spec):
                sys.stderr.write(f"hyper: warning: {name_flag(warning)}\n")
        if args.manifest:
            sys.stdout.write(
                yaml.safe_dump(spec_to_manifest(spec), sort_keys=False, default_flow_style=False)
            )
            return EXIT_OK
        if args.submit:
            return _submit(args, spec)
        if args.detach:
            raise UsageError("--detach goes with --submit (a local search always runs here)")
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


def _submit(args: argparse.Namespace, spec: SearchSpec) -> int:
    from hypersearch import cli_cluster

    api = _kube_api(args)
    namespace = _namespace(args, api)
    try:
        cli_cluster.submit(api, spec_to_manifest(spec), namespace)
        print(
            f"submitted HyperSearch {namespace}/{spec.name}; follow it with: hyper status "
            f"hs/{spec.name} --namespace {namespace} --watch (or kubectl get hs -n {namespace})",
            file=sys.stderr,
            flush=True,
        )
        if args.detach:
            return EXIT_OK
        return _follow(args, api, namespace, spec.name)
    finally:
        api.transport.close()


def _follow(args: argparse.Namespace, api: KubeApi, namespace: str, name: str) -> int:
    """Follow a cluster search to its end; Ctrl-C stops following, not the search."""
    from hypersearch import cli_cluster

    try:
        found = cli_cluster.follow(
            lambda: cli_cluster.read_search(api, namespace, name), sys.stderr
        )
    except KeyboardInterrupt:
        print(
            f"hyper: stopped following; the search goes on in the cluster (hyper status "
            f"hs/{name} --namespace {namespace} --watch follows it again)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    cli_cluster.show(found, sys.stdout, args.output)
    return EXIT_OK if found.view.phase == "Succeeded" else EXIT_FAILED


# --- hyper status -------------------------------------------------------------------------------


def configure_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name",
        nargs="?",
        help="a local search (default: the only one in .hyper/), or hs/NAME for a HyperSearch "
        "in the cluster",
    )
    parser.add_argument("--state-dir", type=Path, help="the search's state directory")
    parser.add_argument(
        "--watch",
        "-w",
        action="store_true",
        help="hs/NAME only: follow the search, a line per change, until it finishes",
    )
    _add_output_option(parser, human="a line of counts, the table of trials, why trials failed")
    _add_cluster_options(parser)


def command_status(args: argparse.Namespace) -> int:
    target: str | None = args.name
    if target is not None and target.startswith(CLUSTER_PREFIXES):
        return _cluster_status(args, target.split("/", 1)[1])
    if args.watch:
        raise UsageError(
            "--watch follows a cluster search (hyper status hs/NAME --watch); a local search "
            "shows its progress where it runs"
        )
    from hypersearch.local import session

    return session.show_status(target, args.state_dir, args.output)


def _cluster_status(args: argparse.Namespace, name: str) -> int:
    from hypersearch import cli_cluster

    api = _kube_api(args)
    try:
        namespace = _namespace(args, api)
        if args.watch:
            return _follow(args, api, namespace, name)
        cli_cluster.show(cli_cluster.read_search(api, namespace, name), sys.stdout, args.output)
        return EXIT_OK
    finally:
        api.transport.close()


# --- hyper report and hyper ui ------------------------------------------------------------------

CLUSTER_PREFIXES = ("hs/", "hypersearch/", "hypersearches/", "hypersearch.hypersearch.io/")
"""``hyper report hs/NAME`` reads the HyperSearch NAME from the cluster, as kubectl spells it."""


class _LocalViews:
    """Searches of a local state root as report views, re-read only when a journal changes.

    Whether a search has finished is the engine's decision (``decide``); it fits the GP for a
    Bayesian search, so its result is kept until the journal's files change.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[Path, tuple[tuple[int, ...], SearchView]] = {}

    def one(self, directory: Path) -> SearchView:
        from hypersearch.local.journal import JOURNAL_FILE

        stamp = tuple(
            int(f.stat().st_mtime_ns) + f.stat().st_size
            for f in (directory / JOURNAL_FILE, directory / f"{JOURNAL_FILE}-wal")
            if f.exists()
        )
        cached = self._cache.get(directory)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        view = _local_view(directory)
        self._cache[directory] = (stamp, view)
        return view

    def __call__(self) -> list[SearchView]:
        import logging

        from hypersearch.local.state import SPEC_FILE, find_searches

        views = []
        for directory in find_searches(self.root):
            if not (directory / SPEC_FILE).is_file():
                continue  # a search starting this very moment: its spec.json follows its journal
            try:
                views.append(self.one(directory))
            except (HyperSearchError, OSError, ValueError) as err:
                logging.getLogger("hypersearch.ui").warning("skipping %s: %s", directory, err)
        return views


def _local_view(directory: Path) -> SearchView:
    """One local search (its spec.json and journal) as a report view; the engine's plan says
    whether it finished and why."""
    import dataclasses

    from hypersearch.core.trials import TrialPhase
    from hypersearch.local.journal import INTERRUPTED
    from hypersearch.local.session import read_search
    from hypersearch.report.model import view_from_spec

    saved = read_search(directory)
    plan = saved.plan
    shown = []
    for record in saved.records:
        trial = record.trial
        if record.status == TrialPhase.RUNNING.value:
            trial = dataclasses.replace(trial, phase=TrialPhase.RUNNING)
        elif record.status == INTERRUPTED:
            trial = dataclasses.replace(trial, reason=INTERRUPTED)
        shown.append(trial)
    if plan.finished:
        phase = "Succeeded" if plan.succeeded else "Failed"
    elif any(t.phase is TrialPhase.RUNNING for t in shown):
        phase = "Running"
    else:
        phase = "Stopped" if shown else "Pending"
    times = [x for t in shown for x in (t.created_at, t.started_at, t.finished_at) if x]
    return view_from_spec(
        saved.spec,
        shown,
        phase=phase,
        updated_at=max(times) if times else None,
        message=plan.message if plan.finished else None,
        source=f"local journal {directory}",
    )


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--namespace", help="the HyperSearch's namespace")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def _namespace(args: argparse.Namespace, api: KubeApi) -> str:
    """--namespace, else the kubeconfig context's namespace, else default (as kubectl does)."""
    return str(args.namespace or api.transport.endpoint.namespace or "default")


def _kube_api(args: argparse.Namespace) -> KubeApi:
    from hypersearch.kube.api import KubeApi
    from hypersearch.kube.kubeconfig import KubeconfigError, load_endpoint
    from hypersearch.kube.transport import Transport

    try:
        endpoint = load_endpoint(args.kubeconfig, args.context)
    except KubeconfigError as err:
        raise UsageError(str(err)) from None
    return KubeApi(Transport(endpoint))


def configure_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "search",
        nargs="?",
        help="a local search's NAME (default: the only one in .hyper/), or hs/NAME for a "
        "HyperSearch in the cluster",
    )
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        help="the HTML file to write (default: NAME-report.html; '-' writes to stdout)",
    )
    parser.add_argument("--state-dir", type=Path, help="a local search's state directory")
    _add_cluster_options(parser)


def command_report(args: argparse.Namespace) -> int:
    from hypersearch.report.render import render

    target: str | None = args.search
    if target is not None and target.startswith(CLUSTER_PREFIXES):
        view = _cluster_view(args, target.split("/", 1)[1])
    else:
        from hypersearch.local.state import locate_search

        usage = "hyper report NAME, or hs/NAME for a cluster search"
        view = _local_view(locate_search(target, args.state_dir, usage))
    page = render(view)
    if str(args.out) == "-":
        sys.stdout.write(page)
        return EXIT_OK
    out: Path = args.out or Path(f"{view.name}-report.html")
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as err:
        raise UsageError(f"-o {out}: cannot write the report: {err.strerror}") from None
    print(f"wrote {out} ({len(view.trials)} trials of {view.key}); open it in a browser")
    return EXIT_OK


def _cluster_view(args: argparse.Namespace, name: str) -> SearchView:
    from hypersearch import cli_cluster

    api = _kube_api(args)
    try:
        return cli_cluster.read_search(api, _namespace(args, api), name).view
    finally:
        api.transport.close()


def configure_ui(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=_non_negative_int, default=8080, help="port (8080)")
    parser.add_argument(
        "--state-root",
        type=Path,
        default=Path(".hyper"),
        help="the folder of local searches to show (default: .hyper)",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="show the HyperSearches of the cluster instead of local searches",
    )
    parser.add_argument(
        "--refresh", type=_positive_float, default=3.0, help="seconds between page refreshes"
    )
    _add_cluster_options(parser)


def command_ui(args: argparse.Namespace) -> int:
    from hypersearch.report.serve import make_server

    source: Callable[[], list[SearchView]]
    if args.cluster:
        source = _cluster_views(args)
        where = f"namespace {args.namespace}" if args.namespace else "all namespaces"
        what = f"HyperSearches in {where}"
    else:
        source = _LocalViews(args.state_root)
        what = f"local searches in {args.state_root.resolve()}"
    try:
        server = make_server(source, args.host, args.port, refresh_seconds=args.refresh)
    except OSError as err:
        raise UsageError(
            f"--port {args.port}: cannot listen on {args.host}:{args.port}: {err.strerror}; "
            "pick another --port"
        ) from None
    port = server.server_address[1]
    print(f"showing {what} at http://{args.host}:{port}/ (read-only; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def _cluster_views(args: argparse.Namespace) -> Callable[[], list[SearchView]]:
    from hypersearch.report.cluster import cluster_source

    api = _kube_api(args)
    return cluster_source(lambda: api.list_searches(args.namespace))


def configure_operator(parser: argparse.ArgumentParser) -> None:
    from hypersearch.controller import run as operator_run  # argparse only; kopf loads at start

    operator_run.configure(parser)


def command_operator(args: argparse.Namespace) -> int:
    from hypersearch.controller import run as operator_run

    return operator_run.command(args)


# --- the table ----------------------------------------------------------------------------------

SUBCOMMANDS: list[Subcommand] = [
    Subcommand("run", "run a HyperSearch manifest on this machine", configure_run, command_run),
    Subcommand(
        "grid",
        "grid search of a command: hyper grid --param x=1,2,3 ... -- COMMAND",
        configure_dialect,
        _dialect_runner("grid"),
        takes_command=True,
    ),
    Subcommand(
        "random",
        "random search of a command: hyper random --param x=0:1 --num-runs N ... -- COMMAND",
        configure_dialect,
        _dialect_runner("random"),
        takes_command=True,
    ),
    Subcommand(
        "bayesian",
        "GP-UCB Bayesian search: hyper bayesian --param x=0:1 --num-runs N ... -- COMMAND",
        configure_dialect,
        _dialect_runner("bayesian"),
        takes_command=True,
    ),
    Subcommand("status", "print a local search's trials", configure_status, command_status),
    Subcommand(
        "report",
        "write a search's charts as one self-contained HTML file",
        configure_report,
        command_report,
    ),
    Subcommand(
        "ui",
        "serve a read-only web view of the searches, refreshing while they run",
        configure_ui,
        command_ui,
    ),
    Subcommand(
        "operator",
        "run the Kubernetes operator (kopf) that runs HyperSearch resources as trial Pods",
        configure_operator,
        command_operator,
    ),
]


EXIT_CODES_HELP = (
    "exit codes: 0 the search succeeded; 1 it finished without success (too many failed trials, "
    "no trial reported a value); 2 bad input (the message names the field or flag and the fix); "
    "3 the search is already running in another process; 130 interrupted by Ctrl-C (143 by "
    "SIGTERM): run the same command again to resume. Docs: README.md, docs/local.md."
)

COMMAND_HELP = (
    "COMMAND (after --) is the training command. :NAME: in it is replaced by the trial's value of "
    "parameter NAME, as a whole argument (--lr :lr:) or inside one (--lr=:lr:); it never goes "
    "through a shell. The command prints its metric as name=value, a JSON line or a Keras "
    "progress line. Example: hyper bayesian --param lr=0.0001:0.1:log -n 20 -P 2 -m val_acc -- "
    "python train.py --lr :lr:"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyper",
        description="Hyperparameter search on one machine or on Kubernetes.",
        epilog=EXIT_CODES_HELP,
    )
    sub = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    for entry in SUBCOMMANDS:
        child = sub.add_parser(
            entry.name,
            help=entry.help,
            description=entry.help,
            epilog=COMMAND_HELP if entry.takes_command else None,
        )
        entry.configure(child)
        if entry.takes_command:
            flags = child.format_usage().removeprefix("usage: ").rstrip()
            child.usage = f"{flags} -- COMMAND [ARG ...]"
        child.set_defaults(
            _run=entry.run, _parser=child, _takes_command=entry.takes_command, command=None
        )
    return parser


def _unknown_flags(parser: argparse.ArgumentParser, extra: Sequence[str]) -> str:
    """argparse's 'unrecognized arguments', plus the closest known flag of the subcommand."""
    import difflib

    known = [o for action in parser._actions for o in action.option_strings]
    guesses = [
        match
        for word in extra
        if word.startswith("-")
        for match in difflib.get_close_matches(word.split("=", 1)[0], known, n=1)
    ]
    hint = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
    return f"unrecognized arguments: {' '.join(extra)}{hint}"


def split_command(argv: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """Split ``hyper SUB [flags] -- COMMAND...`` at the first ``--`` for subcommands that take a
    command; the rest is passed through untouched (it may hold ``--`` of its own)."""
    takes = {s.name for s in SUBCOMMANDS if s.takes_command}
    args = list(argv)
    if not args or args[0] not in takes or "--" not in args:
        return args, None
    cut = args.index("--")
    return args[:cut], args[cut + 1 :]


def main(argv: Sequence[str] | None = None, stderr: TextIO | None = None) -> int:
    """Run ``hyper``; returns the exit code (the console script exits with it)."""
    err = stderr or sys.stderr
    flags, command = split_command(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(flags)
        if extra and command is None and args._takes_command:
            args._parser.error(
                f"unrecognized arguments: {' '.join(extra)}; the training command goes after "
                f"--, e.g. hyper {args.subcommand} ... -- python train.py --lr :lr:"
            )
        if extra:  # said by the subcommand, whose usage and flags are the ones that matter
            args._parser.error(_unknown_flags(args._parser, extra))
    except SystemExit as exc:  # argparse already printed the usage and the problem
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if command is not None:
        args.command = command
    try:
        code: int = args._run(args)
    except SpecError as exc:
        err.write(f"hyper: {exc}\n")
        return EXIT_USAGE
    except UsageError as exc:
        err.write(f"hyper: {exc}\n")
        return EXIT_USAGE
    except HyperSearchError as exc:
        err.write(f"hyper: {exc}\n")
        return int(getattr(exc, "exit_code", EXIT_FAILED))
    except OSError as exc:  # e.g. the state directory cannot be created: say which and why
        err.write(f"hyper: {exc}\n")
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
