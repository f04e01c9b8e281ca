"""The Kubernetes adapter: the only place that talks to the API server, plus pure conversions."""
