"""RFC 3339 timestamps as Kubernetes writes them, <-> epoch seconds: the one home of the format.

Stdlib only (the sidecar stamps its reports with it) and pure: the time is always an argument.
"""

from __future__ import annotations

from datetime import UTC, datetime


def format_time(now: float | datetime) -> str:
    """RFC 3339 in UTC with whole seconds, as Kubernetes writes metav1.Time (``...T12:00:00Z``)."""
    when = datetime.fromtimestamp(now, UTC) if isinstance(now, int | float) else now
    if when.tzinfo is None:
        raise ValueError("now must be timezone-aware (a naive datetime has no defined instant)")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(when: float) -> str:
    """Epoch seconds as a Kubernetes MicroTime (RFC 3339 with microseconds, UTC, ``Z``)."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: object) -> float | None:
    """An RFC 3339 timestamp as epoch seconds (None when absent or unreadable)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
