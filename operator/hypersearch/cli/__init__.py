"""The ``hyper`` command: wires the shells to the command line; nothing imports this module.

Subcommands live in one table (``SUBCOMMANDS``): each entry names a function that adds its
arguments and a function that runs it and returns the exit code. To add one (``operator``,
``report``, ``ui``), write those two functions and append a ``Subcommand`` line. The bigger
families live beside it: ``cli.dialect`` (``hyper grid|random|bayesian``), ``cli.views``
(``hyper report``, ``hyper ui``) and ``cli.cluster`` (the cluster side of ``--submit`` and
``hyper status hs/NAME``); ``cli.common`` holds what they share.

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
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from hypersearch.cli.common import (
    CLUSTER_PREFIXES,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_cluster_options,
    add_output_option,
    add_run_options,
    add_submit_target_options,
    check_submit_flags,
    cluster_namespace,
    follow_cluster_search,
    kube_api,
    require_extra,
    submit_and_follow,
)
from hypersearch.cli.dialect import configure_dialect, dialect_runner
from hypersearch.cli.views import command_report, command_ui, configure_report, configure_ui
from hypersearch.core.errors import HyperSearchError, SpecError
from hypersearch.core.manifest import parse_manifest


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One ``hyper`` subcommand: its name, a one-line help, its arguments and its action."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    takes_command: bool = False
    """True: everything after ``--`` is the training command (``args.command``)."""


# --- hyper run ----------------------------------------------------------------------------------


def configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a HyperSearch manifest (YAML)")
    parser.add_argument(
        "--submit",
        action="store_true",
        help="run it on the cluster instead: apply it as a HyperSearch, then follow it to its "
        "end (--detach: return at once)",
    )
    add_submit_target_options(parser)
    add_run_options(parser)


def command_run(args: argparse.Namespace) -> int:
    from hypersearch.local import session

    path: Path = args.file
    try:
        text = path.read_text()
    except OSError as err:
        raise UsageError(f"{path}: cannot read the manifest: {err.strerror or err}") from None
    spec = parse_manifest(text, source=str(path))
    check_submit_flags(args)
    if args.submit:
        return submit_and_follow(args, spec)
    return session.run_local(
        spec,
        workdir=path.resolve().parent,
        state_dir=args.state_dir,
        fresh=args.fresh,
        output=args.output,
    )


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
    add_output_option(parser, human="a line of counts, the table of trials, why trials failed")
    add_cluster_options(parser)


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
    from hypersearch.cli import cluster as cli_cluster

    api = kube_api(args)
    try:
        namespace = cluster_namespace(args, api)
        if args.watch:
            return follow_cluster_search(args, api, namespace, name)
        cli_cluster.show(cli_cluster.read_search(api, namespace, name), sys.stdout, args.output)
        return EXIT_OK
    finally:
        api.close()


# --- hyper operator -----------------------------------------------------------------------------


def configure_operator(parser: argparse.ArgumentParser) -> None:
    from hypersearch.controller import run as operator_run  # argparse only; kopf loads at start

    operator_run.configure(parser)


def command_operator(args: argparse.Namespace) -> int:
    require_extra("hyper operator")
    from hypersearch.controller import run as operator_run

    return operator_run.command(args)


# --- the table ----------------------------------------------------------------------------------

SUBCOMMANDS: list[Subcommand] = [
    Subcommand("run", "run a HyperSearch manifest on this machine", configure_run, command_run),
    Subcommand(
        "grid",
        "grid search of a command: hyper grid --param x=1,2,3 ... -- COMMAND",
        configure_dialect,
        dialect_runner("grid"),
        takes_command=True,
    ),
    Subcommand(
        "random",
        "random search of a command: hyper random --param x=0:1 --num-runs N ... -- COMMAND",
        configure_dialect,
        dialect_runner("random"),
        takes_command=True,
    ),
    Subcommand(
        "bayesian",
        "GP-UCB Bayesian search: hyper bayesian --param x=0:1 --num-runs N ... -- COMMAND",
        configure_dialect,
        dialect_runner("bayesian"),
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
