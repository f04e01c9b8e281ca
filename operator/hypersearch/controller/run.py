"""``hyper operator``: parse the options, connect, and run kopf embedded in this process.

Arguments are declared here without importing kopf, so ``hyper --help`` works where the operator
extra is not installed; kopf is imported only when the operator really starts. Must not hold any
reconcile logic.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from hypersearch.controller.config import OperatorConfig, load_config
from hypersearch.core.errors import SpecError
from hypersearch.kube.wire import ApiError

log = logging.getLogger("hypersearch.operator")

if TYPE_CHECKING:
    from hypersearch.kube.api import KubeApi
    from hypersearch.kube.client import Connection


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of ``hyper operator``."""
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)"
    )
    parser.add_argument("--context", help="kubeconfig context (default: its current-context)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NAMESPACE",
        help="watch this namespace (repeatable; glob patterns allowed); default: all namespaces",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)"
    )
    parser.add_argument(
        "--config", type=Path, help="operator configuration YAML (machine types, sidecar, timeouts)"
    )
    parser.add_argument(
        "--peering",
        metavar="NAME",
        help="coordinate replicas through kopf's peering object NAME (needs kopf's peering "
        "CRDs); without it the operator runs standalone: run exactly one replica",
    )
    parser.add_argument("--priority", type=int, default=0, help="peering priority of this replica")
    parser.add_argument(
        "--liveness",
        metavar="URL",
        help="serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on this port")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")


def command(args: argparse.Namespace) -> int:
    """Run until SIGINT/SIGTERM; exit 2 on a bad configuration or kubeconfig."""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if not args.verbose:  # kopf logs every handler call at INFO: too much for every Pod event
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    from hypersearch.controller import metrics
    from hypersearch.kube.client import KubeconfigError, Timeouts, connect

    try:
        config = load_config(args.config)
        # One connection for the reconciles (many threads) and kopf's login: both use the same
        # credentials, renewed in one place (kube.client).
        connection = connect(
            args.kubeconfig,
            args.context,
            timeout=Timeouts(connect=config.api_connect_seconds, read=config.api_read_seconds),
            pool_size=24,
            on_failure=metrics.api_error,
        )
    except (SpecError, KubeconfigError) as err:
        sys.stderr.write(f"hyper operator: {err}\n")
        return 2
    return serve(config, connection, args)


def serves_jobsets(api: KubeApi) -> bool:
    """Whether the cluster serves JobSets (probed once at start: the operator watches them only
    then, and JobSet trials fail to be created, with the API's own message, without them)."""
    try:
        return api.serves("jobset.x-k8s.io/v1alpha2", "jobsets")
    except ApiError as err:
        log.warning("could not tell whether JobSets are served (%s); not watching them", err)
        return False


def serve(
    config: OperatorConfig,
    connection: Connection,
    args: argparse.Namespace,
    stop: threading.Event | None = None,
) -> int:
    """Start kopf with our registry (imports kopf here, not at module import)."""
    import kopf

    from hypersearch.controller import memtrace, metrics
    from hypersearch.controller.handlers import OperatorState, build_registry
    from hypersearch.controller.reconcile import Reconciler
    from hypersearch.kube.api import KubeApi

    memtrace.start_from_env()
    api = KubeApi(connection)
    events = ThreadPoolExecutor(max_workers=2, thread_name_prefix="events")
    state = OperatorState(reconciler=Reconciler(api, config, events), connection=connection)
    registry = build_registry(state, jobsets=serves_jobsets(api))
    server = metrics.start_metrics_server(args.metrics_port) if args.metrics_port else None
    namespaces = list(args.namespaces or [])

    async def main() -> None:
        # Reconciles block on the API server: give the searches enough threads to overlap.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=16, thread_name_prefix="reconcile")
        )
        stop_flag: asyncio.Event = asyncio.Event()
        if stop is not None:
            loop = asyncio.get_running_loop()
            threading.Thread(
                target=lambda: (stop.wait(), loop.call_soon_threadsafe(stop_flag.set)), daemon=True
            ).start()
        await kopf.operator(
            registry=registry,
            standalone=args.peering is None,
            peering_name=args.peering,
            priority=args.priority,
            liveness_endpoint=args.liveness,
            clusterwide=not namespaces,
            namespaces=namespaces,
            stop_flag=stop_flag if stop is not None else None,
        )

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    finally:
        events.shutdown(wait=True)
        if server is not None:
            server.close()
        api.close()
    return 0
