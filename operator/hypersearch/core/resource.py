"""The resources' identity: API group, version, kinds and plurals. The one home.

Free of imports on purpose: ``kube.names`` (which the sidecar loads) takes these from here, and
importing ``core.spec`` instead would load the parameter space and numpy into the sidecar.
"""

from typing import Final

API_GROUP: Final = "hypersearch.io"
API_VERSION: Final = "v1alpha1"
KIND: Final = "HyperSearch"
PLURAL: Final = "hypersearches"
TRIAL_KIND: Final = "HyperSearchTrial"
"""One trial's record (spec: what the operator decided; status: the sidecar's report and the
operator's verdict), owned by its HyperSearch."""
TRIAL_PLURAL: Final = "hypersearchtrials"
