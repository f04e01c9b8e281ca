#!/usr/bin/env python3
"""Point an upstream webhook configuration at a controller running as a local process.

Reads the JSON objects that `kubectl create --dry-run=client -o json -f manifests.yaml` prints,
one after another, for a controller's generated webhook manifests
(config/components/webhook/manifests.yaml in its Go module) and writes the same List with,
for every webhook kept:

- `clientConfig.service` replaced by `url: https://127.0.0.1:PORT<path>` and `caBundle` set to
  the test plane's CA (the plane has no Service routing to a local process);
- each configuration renamed to `hypersearch-<controller>-<mutating|validating>`;
- only the webhooks whose path matches --keep (Kueue serves handlers only for the
  integrations its configuration enables; a registered webhook without a handler would fail
  every request it matches, e.g. every Pod);
- the selectors upstream's kustomize patches add (--pod-object-selector-key: JobSet's Pod
  webhooks only see Pods that carry that label; Pod webhooks never see kube-system and
  --system-namespace).

Standard library only: it runs before the project's virtualenv exists.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

KINDS = {
    "MutatingWebhookConfiguration": "mutating",
    "ValidatingWebhookConfiguration": "validating",
}


def rewrite(doc: dict[str, Any], args: argparse.Namespace, ca_bundle: str) -> dict[str, Any]:
    kept = []
    for hook in doc.get("webhooks") or []:
        path = hook["clientConfig"]["service"]["path"]
        if not re.search(args.keep, path):
            continue
        hook["clientConfig"] = {"url": f"{args.url}{path}", "caBundle": ca_bundle}
        if path.endswith("--v1-pod"):
            if args.pod_object_selector_key:
                exists = {"key": args.pod_object_selector_key, "operator": "Exists"}
                hook["objectSelector"] = {"matchExpressions": [exists]}
            hook["namespaceSelector"] = {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "NotIn",
                        "values": ["kube-system", args.system_namespace],
                    }
                ]
            }
        kept.append(hook)
    doc["webhooks"] = kept
    doc["metadata"] = {"name": f"hypersearch-{args.name}-{KINDS[doc['kind']]}"}
    return doc


def _objects(text: str) -> Any:
    """The JSON values of a stream of concatenated documents (and of any List among them)."""
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return
        obj, pos = decoder.raw_decode(text, pos)
        yield from obj["items"] if obj.get("kind") == "List" else [obj]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="controller name, e.g. kueue")
    parser.add_argument("--url", required=True, help="https://127.0.0.1:PORT")
    parser.add_argument("--ca-file", required=True, type=Path)
    parser.add_argument("--keep", default=".", help="regex on the webhook path")
    parser.add_argument("--pod-object-selector-key", default="")
    parser.add_argument("--system-namespace", default="kube-system")
    args = parser.parse_args()
    ca_bundle = base64.b64encode(args.ca_file.read_bytes()).decode()
    docs = list(_objects(sys.stdin.read()))
    out = [rewrite(d, args, ca_bundle) for d in docs if d.get("kind") in KINDS]
    if not any(d["webhooks"] for d in out):
        print(f"webhooks.py: no webhook of {args.name} matched {args.keep!r}", file=sys.stderr)
        return 1
    json.dump({"apiVersion": "v1", "kind": "List", "items": out}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
