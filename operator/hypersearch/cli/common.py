"""What the ``hyper`` subcommand modules share: exit codes, ``UsageError``, argparse types and
options, the cluster connection.

A module of its own so that ``cli`` (the entry point and the table of subcommands),
``cli.dialect`` and ``cli.views`` can all use these without importing each other.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hypersearch.core.errors import HyperSearchError

if TYPE_CHECKING:
    from hypersearch.core.spec import SearchSpec
    from hypersearch.kube.api import KubeApi

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

CLUSTER_PREFIXES = ("hs/", "hypersearch/", "hypersearches/", "hypersearch.hypersearch.io/")
"""``hyper report|status hs/NAME`` reads the HyperSearch NAME from the cluster, as kubectl
spells it."""


class UsageError(HyperSearchError):
    """A command-line mistake argparse cannot see (e.g. the missing training command)."""


OPERATOR_EXTRA = ("kopf", "kubernetes", "prometheus_client")
"""The modules of the ``operator`` extra (pyproject.toml), by import name."""


def require_extra(command: str, modules: tuple[str, ...] = OPERATOR_EXTRA) -> None:
    """Refuse to start ``command`` without its optional modules, naming the install command,
    instead of dying later with a ModuleNotFoundError traceback."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"{command} needs the operator extra, which is not installed here (missing: "
            f"{', '.join(missing)}): install it with pip install 'hypersearch[operator]'"
        )


# --- shared options ---------------------------------------------------------------------------


def int_at_least(minimum: int) -> Callable[[str], int]:
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


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def add_run_options(parser: argparse.ArgumentParser) -> None:
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
    add_output_option(parser)


def add_output_option(
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


# --- the cluster ---------------------------------------------------------------------------------


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--namespace", help="the HyperSearch's namespace")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")


def cluster_namespace(args: argparse.Namespace, api: KubeApi) -> str:
    """--namespace, else the kubeconfig context's namespace, else default (as kubectl does)."""
    return str(args.namespace or api.client.namespace or "default")


def kube_api(args: argparse.Namespace) -> KubeApi:
    """The cluster as kubectl finds it (--kubeconfig, $KUBECONFIG, ~/.kube/config, in-cluster),
    through the ``kubernetes`` package: exec plugins, OIDC, certificates and proxies work."""
    require_extra("talking to a cluster", ("kubernetes",))
    from hypersearch.kube.api import KubeApi
    from hypersearch.kube.client import KubeconfigError, connect

    try:
        return KubeApi(connect(args.kubeconfig, args.context))
    except KubeconfigError as err:
        raise UsageError(str(err)) from None


def follow_cluster_search(args: argparse.Namespace, api: KubeApi, namespace: str, name: str) -> int:
    """Follow a cluster search to its end; Ctrl-C stops following, not the search."""
    from hypersearch.cli import cluster as cli_cluster

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


def add_submit_target_options(parser: argparse.ArgumentParser) -> None:
    """Where ``--submit`` sends a search, and whether it waits (the flag itself is the
    caller's: the dialect puts it beside --manifest)."""
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


def check_submit_flags(args: argparse.Namespace) -> None:
    """Refuse flags that belong to the other place the search could run, naming them."""

    def given(*flags: str) -> str:
        named = [f for f in flags if getattr(args, f.lstrip("-").replace("-", "_"))]
        return " and ".join(named)

    if args.submit and (local := given("--fresh", "--state-dir")):
        raise UsageError(
            f"{local} belong{'' if ' and ' in local else 's'} to a local run; with --submit the "
            "search's state lives in the cluster (delete the HyperSearch to start it over)"
        )
    cluster = given("--detach", "--namespace", "--kubeconfig", "--context")
    if not args.submit and cluster:
        verb = "go" if " and " in cluster else "goes"
        raise UsageError(f"{cluster} {verb} with --submit (a local search always runs here)")


def submit_and_follow(args: argparse.Namespace, spec: SearchSpec) -> int:
    """Apply ``spec`` as a HyperSearch, then follow it unless --detach."""
    from hypersearch.cli import cluster as cli_cluster
    from hypersearch.core.manifest import spec_to_manifest

    if args.namespace and spec.namespace and args.namespace != spec.namespace:
        raise UsageError(
            f"--namespace {args.namespace} differs from the manifest's metadata.namespace "
            f"{spec.namespace}; drop one of them (as kubectl apply refuses the same)"
        )
    api = kube_api(args)
    namespace = args.namespace or spec.namespace or cluster_namespace(args, api)
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
        return follow_cluster_search(args, api, namespace, spec.name)
    finally:
        api.close()
