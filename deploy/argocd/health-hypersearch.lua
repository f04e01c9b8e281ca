-- Argo CD health check for hypersearch.io/HyperSearch (resource.customizations.health).
--
-- Argo CD passes the live object as `obj` and expects {status = ..., message = ...} with status
-- Healthy, Progressing, Degraded, Suspended, Missing or Unknown. A search is:
--   Progressing  until the operator has observed the current generation, and while it runs;
--   Healthy      once it succeeded (the message names the best trial and value);
--   Degraded     once it failed (the condition's reason and message say why).
-- It reads the status conditions the operator writes (types Succeeded, Failed, Running), and
-- falls back to status.phase when an older operator wrote no conditions. Trial counts come from
-- status.counts, or are counted from status.trials.
-- Tested by tests/unit/test_argocd_health.py; deploy/argocd/argocd-cm.yaml embeds this file.

local hs = {status = "Progressing", message = "Waiting for the hypersearch operator to start the search"}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind and c.status == "True" then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  local text = fallback
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    text = c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason .. ": " .. text
  end
  return text
end

local function best(status)
  if status.best == nil or status.best.value == nil then
    return ""
  end
  local trial = status.best.trial or "?"
  return string.format("; best %s = %s", trial, tostring(status.best.value))
end

local function progress(status)
  local t = status.counts
  if t == nil then
    if status.trials == nil then
      return ""
    end
    t = {pending = 0, running = 0, succeeded = 0, failed = 0}
    for _, trial in ipairs(status.trials) do
      local key = string.lower(trial.phase or "Pending")
      if t[key] ~= nil then
        t[key] = t[key] + 1
      end
    end
  end
  local done = (t.succeeded or 0) + (t.failed or 0)
  return string.format(" (%d trials finished, %d running, %d pending)", done, t.running or 0, t.pending or 0)
end

local status = obj.status
if status == nil then
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.message = string.format(
    "Waiting for the operator to observe generation %d (observed %d)", generation, status.observedGeneration)
  return hs
end

local failed = condition(status, "Failed")
if failed ~= nil or status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = describe(failed, "The search failed") .. best(status)
  return hs
end

local succeeded = condition(status, "Succeeded")
if succeeded ~= nil or status.phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = describe(succeeded, "The search finished") .. best(status)
  return hs
end

local running = condition(status, "Running")
if running ~= nil or status.phase == "Running" then
  hs.message = describe(running, "The search is running") .. progress(status) .. best(status)
  return hs
end

return hs
