"""The HyperSearch resource's identity: API group, version, kind and plural. The one home.

Free of imports on purpose: ``kube.names`` (which the sidecar loads) takes these from here, and
importing ``core.spec`` instead would load the parameter space and numpy into the sidecar.
"""

from typing import Final

API_GROUP: Final = "hypersearch.io"
API_VERSION: Final = "v1alpha1"
KIND: Final = "HyperSearch"
PLURAL: Final = "hypersearches"
