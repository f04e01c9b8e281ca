{{/* Names and labels shared by every template of the hypersearch chart. */}}

{{- define "hypersearch.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hypersearch.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hypersearch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hypersearch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hypersearch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "hypersearch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hypersearch
{{- end -}}

{{- define "hypersearch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hypersearch.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "hypersearch.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "hypersearch.peeringName" -}}
{{- default (include "hypersearch.fullname" .) .Values.peering.name -}}
{{- end -}}

{{/* The namespaces the operator serves when it does not watch all of them. */}}
{{- define "hypersearch.watchedNamespaces" -}}
{{- if and (not .Values.watch.allNamespaces) (empty .Values.watch.namespaces) -}}
{{- fail "watch.namespaces must list at least one namespace when watch.allNamespaces is false" -}}
{{- end -}}
{{- range .Values.watch.namespaces }}{{ . }} {{ end -}}
{{- end -}}

{{/*
The operator's rights in a namespace it serves, shared by the ClusterRole (all namespaces) and
each Role (listed namespaces). Least privilege: nothing on Secrets, ConfigMaps or Deployments.
The serviceaccounts/roles/rolebindings rights let it give each search's trial Pods a sidecar
identity that can patch only that search's status; Kubernetes refuses to let anyone grant rights
they do not hold, so the operator holds exactly the rights it grants (get hypersearches, get and
patch hypersearches/status) rather than the `escalate` or `bind` verbs.
*/}}
{{- define "hypersearch.operatorRules" -}}
- apiGroups: ["hypersearch.io"]
  resources: ["hypersearches"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["hypersearch.io"]
  resources: ["hypersearches/status"]
  verbs: ["get", "patch"]
# Owner references with blockOwnerDeletion (trial Pods, sidecar identities) need this where the
# OwnerReferencesPermissionEnforcement admission plugin is on (for example OpenShift).
- apiGroups: ["hypersearch.io"]
  resources: ["hypersearches/finalizers"]
  verbs: ["update"]
# One HyperSearchTrial per trial: created before its Pod, its status (the verdict) applied, the
# finished label patched; deleted with the search by garbage collection, never by the operator.
- apiGroups: ["hypersearch.io"]
  resources: ["hypersearchtrials"]
  verbs: ["create", "get", "list", "watch", "patch"]
- apiGroups: ["hypersearch.io"]
  resources: ["hypersearchtrials/status"]
  verbs: ["get", "patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["create", "get", "list", "watch", "delete"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
# Job and JobSet trials (spec.trial.jobTemplate / jobSetTemplate): created, watched, deleted
# (foreground) like trial Pods. Their Pods are read through the pods rule above.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "get", "list", "watch", "delete"]
- apiGroups: ["jobset.x-k8s.io"]
  resources: ["jobsets"]
  verbs: ["create", "get", "list", "watch", "delete"]
# Kueue's Workloads, read (never written) for why a queued trial waits or was evicted.
- apiGroups: ["kueue.x-k8s.io"]
  resources: ["workloads"]
  verbs: ["get", "list"]
# The sidecar identity is written by server-side apply: a PATCH that creates the object when it
# is missing, so it needs both create and patch.
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["create", "get", "patch"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["create", "get", "patch"]
{{- end -}}
