"""The operator's side of the HyperSearchTrial objects: reading a search's trials (finished
ones once, into a per-search cache), writing each trial's verdict, and knowing which watch
events are the echoes of its own writes.

Finished trial objects never change, so they are read once (a paginated LIST on the first look
and after a restart) and kept as compact ``Trial``s while the search runs; each later reconcile
lists only the unfinished objects (a label selector). Orchestration only: the codec is
``kube.record``, what differs ``controller.status``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypersearch.controller import status as status_doc
from hypersearch.controller.cluster_api import ClusterApi
from hypersearch.core.trials import Trial
from hypersearch.kube import manifests, record


@dataclass(slots=True)
class TrialRecords:
    """The finished trials of one search, as read from their HyperSearchTrials: final, so read
    once. Kept per search while it runs (``uid`` and ``metric`` say which search and which
    curves they were decoded for); dropped when the search finishes or goes away."""

    uid: str
    metric: str
    finished: dict[str, Trial]


class TrialRecordStore:
    """The trial objects of every search the operator works on: the finished-trial cache and
    the resourceVersions of its own last writes. Used by one reconcile per search at a time."""

    def __init__(self, api: ClusterApi):
        self.api = api
        self.cache: dict[tuple[str, str], TrialRecords] = {}
        """Each running search's finished trials (``TrialRecords``)."""
        self.written: dict[tuple[str, str], str] = {}
        """resourceVersion of each trial object our last write of it left (``is_own_write``)."""

    def remember(self, obj: Mapping[str, Any] | None) -> None:
        """Note the resourceVersion a write of ours left, so its watch echo can be skipped."""
        meta = (obj or {}).get("metadata") or {}
        if meta.get("resourceVersion"):
            key = (str(meta.get("namespace")), str(meta.get("name")))
            self.written[key] = str(meta["resourceVersion"])

    def is_own_write(self, namespace: str, trial: str, resource_version: str | None) -> bool:
        """Whether this version of a trial object is the one our last write of it produced
        (then its watch event is only our echo; the entry is spent)."""
        key = (namespace, trial)
        if resource_version is None or self.written.get(key) != str(resource_version):
            return False
        del self.written[key]
        return True

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """POST a trial object (AlreadyExists = done); the object as stored, else as sent."""
        created = self.api.create_trial(dict(obj))
        self.remember(created)
        return created or dict(obj)

    def read(
        self, namespace: str, name: str, uid: str, metric: str
    ) -> tuple[TrialRecords, dict[str, dict[str, Any]]]:
        """The search's finished trials (cached) and its other HyperSearchTrials by name: every
        object on the first look (a paginated LIST), then only the unfinished ones. Objects of
        another search of the same name (deleted, not yet collected) are left out."""
        key = (namespace, name)
        cached = self.cache.get(key)
        if cached is None or cached.uid != uid or cached.metric != metric:
            cached = TrialRecords(uid, metric, {})
            found = self.api.list_trials(namespace, name)
        else:
            found = self.api.list_trials(namespace, name, unfinished_only=True)
        objects: dict[str, dict[str, Any]] = {}
        for obj in found:
            trial = str(obj["metadata"]["name"])
            if record.object_owner_uid(obj) != uid or trial in cached.finished:
                continue
            if record.object_finished(obj):
                done = record.trial_from_entry(record.object_entry(obj), metric)
                if done is not None and done.phase.finished:
                    cached.finished[trial] = done
                    continue
            objects[trial] = obj
        self.cache[key] = cached
        return cached, objects

    def write(
        self,
        owner: manifests.Owner,
        trials: Sequence[Trial],
        entries: Mapping[str, Mapping[str, Any]],
        objects: Mapping[str, Mapping[str, Any]],
        cached: TrialRecords,
    ) -> None:
        """Write each trial's verdict into its HyperSearchTrial where it changed: the object is
        created first when the trial has none yet (a Pod or a status entry of an earlier
        version), its status applied, and a finished one labelled finished and cached. The
        label comes last, so a crash in between leaves an unlabelled object that is read (and
        labelled) again."""
        reference = owner.reference()
        for trial in trials:
            if trial.name in cached.finished:
                continue
            obj = objects.get(trial.name)
            if obj is None:
                obj = self.create(
                    record.trial_object(trial, owner.name, owner.namespace, reference)
                )
            current = obj.get("status") or {}
            desired = record.object_status(trial, entries.get(trial.name) or current)
            if status_doc.object_status_differs(current, desired):
                self.remember(self.api.apply_trial_status(owner.namespace, trial.name, desired))
            if trial.phase.finished:
                if not record.object_finished(obj):
                    self.remember(self.api.mark_trial_finished(owner.namespace, trial.name))
                # As a fresh process would read it back (a finished trial's Pod no longer matters).
                cached.finished[trial.name] = dataclasses.replace(trial, created_at=None)

    def done(self, namespace: str, name: str) -> None:
        """Drop a finished search's cache (read again if its spec is edited and it goes on)."""
        self.cache.pop((namespace, name), None)

    def forget(self, namespace: str, name: str) -> None:
        """Drop everything kept about a deleted search."""
        self.cache.pop((namespace, name), None)
        # Echoes of its trial objects' writes that never came (a prefix may match another
        # search's trials too: that costs at most one reconcile more).
        for key in [k for k in self.written if k[0] == namespace]:
            if key[1].startswith(f"{name}-"):
                del self.written[key]

    def kept(self) -> int:
        """Entries kept, both maps together."""
        return len(self.cache) + len(self.written)
