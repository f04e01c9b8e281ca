/* hypersearch report: draws the pictures of a search as SVG from the JSON payload.
 * Self-contained on purpose (no library, no network besides the optional live endpoint):
 * the HTML report must work offline. Decisions (best trial, best-so-far, axis kinds) are made
 * in Python (report/payload.py); this script only draws them. */
(function () {
  "use strict";

  const SVGNS = "http://www.w3.org/2000/svg";
  const COLOR_WORSE = [189, 215, 238];
  const COLOR_BETTER = [8, 64, 129];
  const RUNNING = "#7b8794";
  const STOPPED = "var(--stopped)";
  const STRIP = 22;

  // ---- small helpers ------------------------------------------------------------------------
  function el(tag, attrs, parent, text) {
    const node = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    }
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function h(tag, attrs, parent, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    }
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "string") return v;
    if (!isFinite(v)) return String(v);
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e5 || a < 1e-3) return v.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e");
    if (Number.isInteger(v)) return String(v);
    return String(parseFloat(v.toPrecision(4)));
  }
  function tickFmt(v) {
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace("e+", "e");
    return String(parseFloat(v.toPrecision(6)));
  }
  function hash(n) {
    let x = (n + 1) * 2654435761;
    x = (x ^ (x >>> 13)) >>> 0;
    return (x % 1000) / 1000;
  }

  // ---- scales -------------------------------------------------------------------------------
  function niceStep(span, n) {
    const raw = span / Math.max(1, n);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  }
  function linear(d0, d1, r0, r1, nice) {
    if (!(d1 > d0)) { const c = isNum(d0) ? d0 : 0; const pad = Math.abs(c) * 0.1 || 1; d0 = c - pad; d1 = c + pad; }
    if (nice) {
      const step = niceStep(d1 - d0, 5);
      d0 = Math.floor(d0 / step) * step;
      d1 = Math.ceil(d1 / step) * step;
    }
    const f = (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
    f.kind = "linear";
    f.integer = false;
    f.ticks = function (n) {
      const step = f.integer ? Math.max(1, niceStep(d1 - d0, n || 5)) : niceStep(d1 - d0, n || 5);
      const out = [];
      for (let v = Math.ceil(d0 / step - 1e-9) * step; v <= d1 + step * 1e-9; v += step) {
        out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
      }
      return out;
    };
    return f;
  }
  function logScale(d0, d1, r0, r1) {
    if (!(d0 > 0)) d0 = 1e-12;
    if (!(d1 > d0)) { d0 = d0 / 2; d1 = d1 * 2; }
    const l0 = Math.log10(d0), l1 = Math.log10(d1);
    const f = (v) => r0 + ((Math.log10(Math.max(v, 1e-300)) - l0) / (l1 - l0)) * (r1 - r0);
    f.kind = "log";
    f.ticks = function () {
      const out = [];
      const span = l1 - l0;
      const mults = span < 1.2 ? [1, 2, 3, 5, 7] : span < 3 ? [1, 2, 5] : [1];
      for (let e = Math.floor(l0); e <= Math.ceil(l1); e++) {
        for (const m of mults) {
          const v = m * Math.pow(10, e);
          if (v >= d0 * (1 - 1e-9) && v <= d1 * (1 + 1e-9)) out.push(parseFloat(v.toPrecision(6)));
        }
      }
      return out.length >= 2 ? out : [d0, d1];
    };
    return f;
  }
  function band(values, r0, r1) {
    const keys = values.map(String);
    const step = (r1 - r0) / Math.max(1, keys.length);
    const f = (v) => r0 + step * (keys.indexOf(String(v)) + 0.5);
    f.kind = "category";
    f.step = step;
    f.ticks = () => values;
    return f;
  }
  function paramScale(p, trials, r0, r1) {
    const seen = trials.map((t) => t.params[p.name]).filter((v) => v !== null && v !== undefined);
    if (p.axis === "category") {
      const values = p.values.length ? p.values.slice() : [];
      for (const v of seen) if (!values.map(String).includes(String(v))) values.push(v);
      return band(values, r0, r1);
    }
    const nums = seen.filter(isNum).concat(p.values.filter(isNum));
    let lo = isNum(p.min) ? p.min : Math.min(...nums);
    let hi = isNum(p.max) ? p.max : Math.max(...nums);
    if (nums.length) { lo = Math.min(lo, ...nums); hi = Math.max(hi, ...nums); }
    if (!isNum(lo) || !isNum(hi)) { lo = 0; hi = 1; }
    let scale;
    if (p.axis === "log") {
      const k = Math.pow(Math.max(hi / lo, 1.0001), 0.04);
      scale = logScale(lo / k, hi * k, r0, r1);
    } else {
      const pad = (hi - lo) * 0.05;
      scale = linear(lo - pad, hi + pad, r0, r1, false);
      scale.integer = p.kind === "int";
    }
    if (p.kind === "discrete" && p.values.length && p.values.length <= 12) {
      const declared = p.values.filter(isNum);
      scale.ticks = () => declared;
    }
    return scale;
  }
  function valueScale(values, r0, r1) {
    const nums = values.filter(isNum);
    if (!nums.length) return linear(0, 1, r0, r1, true);
    const lo = Math.min(...nums), hi = Math.max(...nums);
    const pad = (hi - lo) * 0.06;
    return linear(lo - pad, hi + pad, r0, r1, true);
  }

  // ---- colour by value (goal-aware: darker is better) ---------------------------------------
  function colorer(data) {
    const vals = data.trials.filter((t) => t.phase === "Succeeded" && isNum(t.value)).map((t) => t.value);
    const lo = Math.min(...vals), hi = Math.max(...vals);
    return function (v) {
      if (!isNum(v) || !vals.length) return RUNNING;
      let t = hi > lo ? (v - lo) / (hi - lo) : 1;
      if (data.goal === "minimize") t = 1 - t;
      const c = COLOR_WORSE.map((w, i) => Math.round(w + (COLOR_BETTER[i] - w) * t));
      return "rgb(" + c.join(",") + ")";
    };
  }

  // ---- chart frame: axes, titles, failed strip ------------------------------------------------
  function frame(parent, opts) {
    const W = opts.width, H = opts.height;
    const m = Object.assign({ top: 14, right: 18, bottom: 46, left: 64 }, opts.margin || {});
    const strip = opts.strip ? STRIP : 0;
    const svg = el("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, "data-chart": opts.id,
      role: "img", "aria-label": opts.label }, parent);
    el("title", {}, svg, opts.label);
    const x0 = m.left, x1 = W - m.right, y0 = m.top, y1 = H - m.bottom - strip;
    const clipId = "clip-" + opts.id;
    const clip = el("clipPath", { id: clipId }, el("defs", {}, svg));
    el("rect", { x: x0, y: y0 - 4, width: x1 - x0, height: y1 - y0 + 8 }, clip);
    const grid = el("g", {}, svg);
    if (strip) {
      el("rect", { class: "strip", x: x0, y: y1 + 4, width: x1 - x0, height: strip - 6 }, svg);
      el("text", { class: "strip-label", x: x0 - 6, y: y1 + 4 + (strip - 6) / 2 + 4, "text-anchor": "end" }, svg, "failed");
    }
    const plot = el("g", {}, svg);
    const clipped = el("g", { "clip-path": "url(#" + clipId + ")" }, plot);
    return { svg, grid, plot, clipped, x0, x1, y0, y1, stripY: y1 + 4 + (strip - 6) / 2, H, W, m };
  }
  // Category labels: every k-th one when bands are narrow, long ones cut with the full text on hover.
  // Labels that fit in ``chars`` characters: a prefix every value shares is dropped first
  // (variant_1, variant_2 -> …1, …2), then what is still too long is cut.
  function shortLabels(values, chars) {
    const texts = values.map(String);
    let common = texts.length > 1 ? texts[0] : "";
    for (const t of texts) while (common && !t.startsWith(common)) common = common.slice(0, -1);
    const cut = texts.some((t) => t.length > chars) && common.length > 2 ? common.length : 0;
    return texts.map((t) => {
      let shown = cut ? "…" + t.slice(cut) : t;
      if (shown.length > chars) shown = shown.slice(0, Math.max(1, chars - 1)) + "…";
      return { text: shown, full: shown === t ? null : t };
    });
  }
  function categoryLabels(values, room) {
    const every = Math.max(1, Math.ceil(28 / Math.max(room, 1)));
    const labels = shortLabels(values, Math.max(3, Math.floor((room * every) / 7)));
    return labels.map((lab, i) => (i % every ? null : lab));
  }
  function label(parent, attrs, lab) {
    const t = el("text", attrs, parent, lab.text);
    if (lab.full) el("title", {}, t, lab.full);
    return t;
  }
  function xAxis(f, scale, title) {
    const g = el("g", { class: "tick" }, f.grid);
    const ticks = scale.kind === "category" ? scale.ticks() : scale.ticks(Math.max(3, Math.round((f.x1 - f.x0) / 90)));
    const labels = scale.kind === "category" ? categoryLabels(ticks, scale.step) : ticks.map((t) => ({ text: tickFmt(t), full: null }));
    const yb = f.H - f.m.bottom;
    ticks.forEach((t, i) => {
      const x = scale(t);
      if (x < f.x0 - 1 || x > f.x1 + 1) return;
      if (scale.kind !== "category") el("line", { x1: x, x2: x, y1: f.y0, y2: f.y1 }, g);
      el("line", { x1: x, x2: x, y1: yb, y2: yb + 5, class: "axis-line" }, g);
      if (labels[i]) label(g, { x: x, y: yb + 17, "text-anchor": "middle" }, labels[i]);
    });
    el("line", { x1: f.x0, x2: f.x1, y1: yb, y2: yb, class: "axis-line" }, f.grid);
    el("text", { class: "axis-title", x: (f.x0 + f.x1) / 2, y: f.H - 6, "text-anchor": "middle" }, f.svg, title);
  }
  function yAxis(f, scale, title) {
    const g = el("g", { class: "tick" }, f.grid);
    const ticks = scale.kind === "category" ? scale.ticks() : scale.ticks(Math.max(3, Math.round((f.y1 - f.y0) / 45)));
    for (const t of ticks) {
      const y = scale(t);
      if (y < f.y0 - 1 || y > f.y1 + 1) continue;
      el("line", { x1: f.x0, x2: f.x1, y1: y, y2: y }, g);
      el("text", { x: f.x0 - 6, y: y + 4, "text-anchor": "end" }, g, tickFmt(t));
    }
    el("line", { x1: f.x0, x2: f.x0, y1: f.y0, y2: f.H - f.m.bottom, class: "axis-line" }, f.grid);
    const cy = (f.y0 + f.y1) / 2;
    el("text", { class: "axis-title", x: 14, y: cy, "text-anchor": "middle",
      transform: "rotate(-90 14 " + cy + ")" }, f.svg, title);
  }
  function emptyNote(f, text) {
    el("text", { class: "empty", x: (f.x0 + f.x1) / 2, y: (f.y0 + f.y1) / 2, "text-anchor": "middle" }, f.svg, text);
  }
  function cross(parent, x, y, r, attrs) {
    const d = "M" + (x - r) + "," + (y - r) + "L" + (x + r) + "," + (y + r) +
      "M" + (x - r) + "," + (y + r) + "L" + (x + r) + "," + (y - r);
    return el("path", Object.assign({ d: d }, attrs), parent);
  }
  function point(parent, t, x, y, color) {
    const c = el("circle", { cx: x, cy: y, r: t.best ? 6.5 : 4.5, fill: color,
      class: "pt" + (t.best ? " best" : ""), "data-trial": t.name }, parent);
    if (t.best) el("circle", { cx: x, cy: y, r: 10, class: "best-ring" }, parent);
    return c;
  }
  function failedMark(parent, t, x, y) {
    return cross(parent, x, y, 4.5, { class: "pt failed", "data-trial": t.name });
  }
  // "name (unit)" wherever a name titles an axis or a column; the unit is declared in the spec
  // (objective.unit, parameters[i].unit); of the metrics only the objective has one.
  function withUnit(name, unit) { return unit ? name + " (" + unit + ")" : name; }
  function metricName(data, metric) {
    return withUnit(metric, metric === data.metric ? data.metricUnit : null);
  }
  function metricTitle(data, metric) {
    const dir = metric === data.metric ? (data.goal === "maximize" ? ", higher is better" : ", lower is better") : "";
    return metricName(data, metric) + dir;
  }
  function paramName(p) { return withUnit(p.name, p.unit); }
  function paramTitle(p) {
    const how = p.axis === "log" ? "log scale" : p.axis === "category" ? "categories" : "";
    if (!how) return paramName(p);
    return p.unit ? paramName(p) + ", " + how : p.name + " (" + how + ")";
  }

  // ---- the charts ---------------------------------------------------------------------------
  function drawProgress(parent, data, color) {
    const trials = data.trials;
    const done = trials.filter((t) => t.phase === "Succeeded" && isNum(t.value));
    const failed = trials.filter((t) => t.phase === "Failed");
    const f = frame(parent, { id: "progress", width: 1180, height: 300, strip: true,
      label: "Best " + data.metric + " so far against trial number" });
    const idx = trials.map((t) => t.index);
    const budget = isNum(data.maxTrials) ? data.maxTrials - 1 : 1;
    const x = linear(Math.min(...idx, 0) - 0.5, Math.max(...idx, budget, 1) + 0.5, f.x0, f.x1, false);
    x.integer = true;
    const yvals = done.map((t) => t.value).concat(done.map((t) => t.prediction ? t.prediction.mean : null));
    const y = valueScale(yvals, f.y1, f.y0);
    xAxis(f, x, "trial number (order started)");
    yAxis(f, y, metricTitle(data, data.metric));
    if (!done.length && !failed.length) { emptyNote(f, "No finished trials yet"); return f.svg; }
    for (const t of trials) {
      const p = t.prediction;
      if (!p || !isNum(p.mean)) continue;
      const s = isNum(p.std) ? p.std : 0;
      el("line", { x1: x(t.index) + 9, x2: x(t.index) + 9, y1: y(p.mean - s), y2: y(p.mean + s), class: "pred",
        "data-trial": t.name }, f.clipped);
      el("line", { x1: x(t.index) + 5, x2: x(t.index) + 13, y1: y(p.mean), y2: y(p.mean), class: "pred-mean",
        "data-trial": t.name }, f.clipped);
    }
    if (data.bestSoFar.length) {
      const pts = data.bestSoFar;
      let d = "M" + x(pts[0].index) + "," + y(pts[0].best);
      for (let i = 1; i < pts.length; i++) d += "H" + x(pts[i].index) + "V" + y(pts[i].best);
      d += "H" + x(Math.max(...idx) + 0.5);
      el("path", { d: d, class: "best-line" }, f.clipped);
    }
    for (const t of done) if (!t.best) point(f.plot, t, x(t.index), y(t.value), color(t.value));
    for (const t of done) if (t.best) point(f.plot, t, x(t.index), y(t.value), color(t.value));
    for (const t of failed) failedMark(f.plot, t, x(t.index), f.stripY);
    return f.svg;
  }

  function drawCurves(parent, data, color, metric) {
    const f = frame(parent, { id: "curves", width: 1180, height: 340,
      label: "Curve of " + metric + " over " + (data.stepsReported ? "steps" : "reports") + " for each trial" });
    const withCurve = data.trials.filter((t) => (t.curves[metric] || []).length);
    const xs = [], ys = [];
    for (const t of withCurve) for (const [a, b] of t.curves[metric]) { xs.push(a); ys.push(b); }
    const x = linear(Math.min(...xs, 1), Math.max(...xs, 2), f.x0, f.x1, true);
    x.integer = true;
    const y = valueScale(ys, f.y1, f.y0);
    xAxis(f, x, data.stepsReported ? "step (epoch or iteration, as the trial reported it)" : "report number (the trial reported no step)");
    yAxis(f, y, metricTitle(data, metric));
    if (!withCurve.length) { emptyNote(f, "No reports of " + metric + " yet"); return f.svg; }
    const order = withCurve.slice().sort((a, b) => (a.best ? 1 : 0) - (b.best ? 1 : 0));
    for (const t of order) {
      const pts = t.curves[metric];
      const d = pts.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join("");
      const cls = "curve" + (t.best ? " best" : t.phase === "Failed" ? " failed" : t.phase === "EarlyStopped" ? " stopped"
        : t.phase === "Succeeded" ? "" : " running");
      const stroke = t.phase === "Succeeded" && !t.best ? color(t.value) : null;
      el("path", { d: d, class: cls, stroke: stroke, "data-trial": t.name }, f.clipped);
      const last = pts[pts.length - 1];
      if (t.phase === "EarlyStopped") {
        // Where the rule cut the curve: a bar across its end, not the round end of a finished run.
        el("line", { x1: x(last[0]), x2: x(last[0]), y1: y(last[1]) - 5, y2: y(last[1]) + 5, class: "curve-stop",
          "data-trial": t.name }, f.plot);
        continue;
      }
      const endColor = t.best ? "var(--best)" : t.phase === "Failed" ? "var(--failed)" : stroke || RUNNING;
      el("circle", { cx: x(last[0]), cy: y(last[1]), r: t.best ? 4.5 : 3, fill: endColor, class: "curve-end",
        "data-trial": t.name }, f.plot);
    }
    return f.svg;
  }

  function drawFacet(parent, data, color, p) {
    const f = frame(parent, { id: "facet-" + p.name, width: 420, height: 290, strip: true,
      margin: { left: 60, right: 12, bottom: 42 }, label: data.metric + " against parameter " + p.name });
    const trials = data.trials.filter((t) => t.params[p.name] !== null && t.params[p.name] !== undefined);
    const done = trials.filter((t) => t.phase === "Succeeded" && isNum(t.value));
    const failed = trials.filter((t) => t.phase === "Failed");
    const x = paramScale(p, data.trials, f.x0, f.x1);
    const y = valueScale(done.map((t) => t.value), f.y1, f.y0);
    xAxis(f, x, paramTitle(p));
    yAxis(f, y, metricTitle(data, data.metric));
    const px = (t) => x(t.params[p.name]) + (x.kind === "category" ? (hash(t.index) - 0.5) * x.step * 0.5 : 0);
    if (!done.length && !failed.length) emptyNote(f, "No finished trials yet");
    for (const t of done) if (!t.best) point(f.plot, t, px(t), y(t.value), color(t.value));
    for (const t of done) if (t.best) point(f.plot, t, px(t), y(t.value), color(t.value));
    for (const t of failed) failedMark(f.plot, t, px(t), f.stripY);
    return f.svg;
  }

  function drawParallel(parent, data, color) {
    const axes = data.params.map((p) => ({ p: p, title: paramTitle(p) }));
    axes.push({ p: null, title: metricName(data, data.metric) });
    const f = frame(parent, { id: "parallel", width: 1180, height: 380, strip: true,
      margin: { left: 70, right: 90, top: 34, bottom: 20 },
      label: "Parallel coordinates: every parameter and " + data.metric + " for each trial" });
    const trials = data.trials.filter((t) => (t.phase === "Succeeded" && isNum(t.value)) || t.phase === "Failed");
    const step = axes.length > 1 ? (f.x1 - f.x0) / (axes.length - 1) : 0;
    const scales = axes.map((a) => a.p ? paramScale(a.p, data.trials, f.y1, f.y0)
      : valueScale(trials.filter((t) => t.phase === "Succeeded").map((t) => t.value), f.y1, f.y0));
    const ax = (i) => f.x0 + step * i;
    const order = trials.slice().sort((a, b) => (a.best ? 1 : 0) - (b.best ? 1 : 0) || (a.phase === "Failed" ? -1 : 0));
    for (const t of order) {
      // A parameter the trial lacks (a spec changed under a search) leaves a gap in its line.
      let d = "";
      let pen = "M";
      const lone = [];
      let run = [];
      const endRun = () => { if (run.length === 1) lone.push(run[0]); run = []; };
      axes.forEach((a, i) => {
        let yv;
        if (a.p) {
          const v = t.params[a.p.name];
          if (v === null || v === undefined) { pen = "M"; endRun(); return; }
          yv = scales[i](v);
        } else {
          yv = t.phase === "Failed" ? f.stripY : scales[i](t.value);
        }
        d += pen + ax(i).toFixed(1) + "," + yv.toFixed(1);
        run.push([ax(i), yv]);
        pen = "L";
      });
      endRun();
      for (const [lx, ly] of lone) {
        el("circle", { cx: lx, cy: ly, r: 2.5, fill: t.phase === "Failed" ? "var(--failed)" : color(t.value),
          "data-trial": t.name }, f.plot);
      }
      const cls = "pc-line" + (t.best ? " best" : t.phase === "Failed" ? " failed" : "");
      el("path", { d: d, class: cls, stroke: t.phase === "Succeeded" && !t.best ? color(t.value) : null,
        "data-trial": t.name }, f.plot);
    }
    axes.forEach((a, i) => {
      const g = el("g", { class: "tick pc-axis" }, f.svg);
      const s = scales[i];
      const ticks = s.kind === "category" ? s.ticks() : s.ticks(6);
      const every = s.kind === "category" ? Math.max(1, Math.ceil(14 / Math.max(Math.abs(s.step), 1))) : 1;
      const labels = s.kind === "category" ? shortLabels(ticks, 14) : ticks.map((t) => ({ text: tickFmt(t), full: null }));
      el("line", { x1: ax(i), x2: ax(i), y1: f.y0, y2: f.y1, class: "axis-line" }, g);
      ticks.forEach((t, k) => {
        const y = s(t);
        if (y < f.y0 - 1 || y > f.y1 + 1) return;
        el("line", { x1: ax(i) - 4, x2: ax(i), y1: y, y2: y, class: "axis-line" }, g);
        if (k % every) return;
        label(g, { x: ax(i) - 6, y: y + 4, "text-anchor": "end" }, labels[k]);
      });
      const anchor = i === 0 && axes.length > 1 ? "start" : i === axes.length - 1 && axes.length > 1 ? "end" : "middle";
      const tx = anchor === "start" ? ax(i) - 30 : anchor === "end" ? ax(i) + 30 : ax(i);
      el("text", { class: "axis-title", x: tx, y: f.y0 - 14, "text-anchor": anchor }, f.svg, a.title);
    });
    if (!trials.length) emptyNote(f, "No finished trials yet");
    return f.svg;
  }

  // ---- the table ----------------------------------------------------------------------------
  function columns(data) {
    const cols = [
      { key: "index", title: "#", get: (t) => t.index },
      { key: "name", title: "trial", text: true, get: (t) => t.name },
      { key: "phase", title: "phase", text: true, get: (t) => t.phase },
    ];
    for (const p of data.params) cols.push({ key: "param:" + p.name, title: paramName(p), text: p.axis === "category", get: (t) => t.params[p.name] });
    cols.push({ key: "value", title: metricName(data, data.metric), get: (t) => t.value });
    cols.push({ key: "gp-mean", title: "GP mean", get: (t) => t.prediction ? t.prediction.mean : null });
    cols.push({ key: "gp-std", title: "GP ± std", get: (t) => t.prediction ? t.prediction.std : null });
    cols.push({ key: "gp-ucb", title: "UCB", get: (t) => t.prediction ? t.prediction.ucb : null });
    cols.push({ key: "duration", title: "duration (s)", get: (t) => t.duration });
    if (data.trials.some((t) => isNum(t.queued) || t.requeues)) {
      cols.push({ key: "queued", title: "queued (s)", get: (t) => t.queued });
      cols.push({ key: "requeues", title: "requeues", get: (t) => t.requeues || 0 });
    }
    cols.push({ key: "reason", title: "reason", text: true, get: (t) => t.reason ? t.reason + (t.message ? ": " + t.message : "") : null });
    return cols;
  }
  function compare(a, b) {
    const na = a === null || a === undefined, nb = b === null || b === undefined;
    if (na || nb) return na && nb ? 0 : na ? 1 : -1;
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }
  function drawTable(parent, data, state) {
    const cols = columns(data);
    const table = h("table", { class: "trials", "data-chart": "table" }, parent);
    const head = h("tr", {}, h("thead", {}, table));
    const body = h("tbody", {}, table);
    const col = cols.find((c) => c.key === state.sortKey) || cols[0];
    const rows = data.trials.slice().sort((a, b) => {
      const va = col.get(a), vb = col.get(b);
      if (va === null || va === undefined || vb === null || vb === undefined) return compare(va, vb);
      return state.sortDir * compare(va, vb) || a.index - b.index;
    });
    for (const c of cols) {
      const th = h("th", { class: c.text ? "text" : null, "data-key": c.key,
        "aria-sort": c.key === col.key ? (state.sortDir > 0 ? "ascending" : "descending") : "none" }, head);
      const btn = h("button", { type: "button", title: "Sort by " + c.title }, th, c.title);
      btn.addEventListener("click", () => {
        if (state.sortKey === c.key) state.sortDir = -state.sortDir;
        else { state.sortKey = c.key; state.sortDir = c.key === "value" && data.goal === "maximize" ? -1 : 1; }
        state.redrawTable();
      });
    }
    for (const t of rows) {
      const tr = h("tr", { "data-trial": t.name,
        class: t.best ? "best" : t.phase === "Failed" ? "failed" : t.phase === "EarlyStopped" ? "stopped" : null }, body);
      for (const c of cols) {
        const v = c.get(t);
        const td = h("td", { class: c.key === "reason" ? "reason" : c.text ? "text" : null }, tr);
        if (c.key === "phase") h("span", { class: "phase " + v }, td, v);
        else td.textContent = c.key === "name" || c.key === "index" ? String(v) : fmt(v);
      }
    }
    return table;
  }

  // ---- tooltip and linked hover -------------------------------------------------------------
  function installHover(root, state) {
    const tip = document.getElementById("tip");
    let current = null;
    function mark(name, on) {
      for (const n of root.querySelectorAll('[data-trial="' + CSS.escape(name) + '"]')) n.classList.toggle("hover", on);
    }
    function text(t) {
      const data = state.data;
      const lines = [];
      const add = (k, v) => { const d = document.createElement("div"); const s = document.createElement("span");
        s.className = "k"; s.textContent = k + ": "; d.appendChild(s); d.appendChild(document.createTextNode(v)); lines.push(d); };
      const head = document.createElement("div");
      const b = document.createElement("b");
      b.textContent = t.name + (t.best ? "  ★ best" : "");
      head.appendChild(b);
      head.appendChild(document.createTextNode("  " + t.phase));
      lines.push(head);
      add(data.metric, fmt(t.value));
      for (const p of data.params) add(p.name, fmt(t.params[p.name]));
      if (t.prediction) {
        add("GP predicted", fmt(t.prediction.mean) + " ± " + fmt(t.prediction.std) + " (UCB " + fmt(t.prediction.ucb) + ")");
      }
      if (t.reason) add("reason", t.reason + (t.message ? ": " + t.message : ""));
      return lines;
    }
    root.addEventListener("mouseover", (ev) => {
      const target = ev.target.closest ? ev.target.closest("[data-trial]") : null;
      const name = target ? target.getAttribute("data-trial") : null;
      if (name === current) return;
      if (current) mark(current, false);
      current = name;
      if (!name || !state.byName[name]) { tip.style.display = "none"; return; }
      mark(name, true);
      tip.replaceChildren(...text(state.byName[name]));
      tip.style.display = "block";
    });
    root.addEventListener("mousemove", (ev) => {
      if (!current) return;
      const w = tip.offsetWidth, hh = tip.offsetHeight;
      let left = ev.clientX + 14, top = ev.clientY + 14;
      if (left + w > window.innerWidth - 4) left = ev.clientX - w - 14;
      if (top + hh > window.innerHeight - 4) top = ev.clientY - hh - 14;
      tip.style.left = left + "px";
      tip.style.top = top + "px";
    });
    root.addEventListener("mouseleave", () => { if (current) mark(current, false); current = null; tip.style.display = "none"; });
  }

  // ---- the search page ----------------------------------------------------------------------
  function when(seconds) {
    if (!isNum(seconds)) return "–";
    return new Date(seconds * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }
  function legend(parent, data) {
    const box = h("div", { class: "legend" }, parent);
    const item = (draw, label) => {
      const span = h("span", {}, box);
      const svg = el("svg", { width: 22, height: 14, viewBox: "0 0 22 14" }, span);
      draw(svg);
      span.appendChild(document.createTextNode(label));
    };
    const ramp = h("span", {}, box);
    const worse = "rgb(" + COLOR_WORSE.join(",") + ")", better = "rgb(" + COLOR_BETTER.join(",") + ")";
    ramp.appendChild(document.createTextNode("worse"));
    h("span", { class: "ramp", style: "background: linear-gradient(90deg," + worse + "," + better + ")" }, ramp);
    ramp.appendChild(document.createTextNode("better " + data.metric));
    item((s) => { el("circle", { cx: 11, cy: 7, r: 4, fill: better, stroke: "#1f2933", "stroke-width": 1.5 }, s);
      el("circle", { cx: 11, cy: 7, r: 6.5, fill: "none", stroke: "var(--best)", "stroke-width": 2 }, s); }, "best trial");
    item((s) => cross(s, 11, 7, 4, { stroke: "var(--failed)", "stroke-width": 2 }), "failed (no value)");
    item((s) => el("line", { x1: 2, x2: 20, y1: 7, y2: 7, stroke: RUNNING, "stroke-width": 2, "stroke-dasharray": "2 2" }, s), "running");
    if (data.counts.EarlyStopped) {
      item((s) => { el("line", { x1: 2, x2: 17, y1: 7, y2: 7, class: "curve stopped" }, s);
        el("line", { x1: 17, x2: 17, y1: 2, y2: 12, class: "curve-stop" }, s); }, "stopped early (curve cut at ┃)");
    }
    item((s) => { el("line", { x1: 11, x2: 11, y1: 1, y2: 13, class: "pred" }, s);
      el("line", { x1: 7, x2: 15, y1: 7, y2: 7, class: "pred-mean" }, s); }, "GP prediction (mean ± std)");
    item((s) => el("path", { d: "M1,12H8V6H14V2H21", fill: "none", stroke: "var(--best)", "stroke-width": 2.5 }, s), "best so far");
  }
  function header(parent, data) {
    const head = h("header", { class: "search" }, parent);
    const left = h("div", {}, head);
    const h1 = h("h1", {}, left, data.name);
    h("span", { class: "badge " + data.phase, "data-role": "phase" }, h1, data.phase);
    const c = data.counts;
    const bits = [data.goal + " " + data.metric];
    if (data.algorithm) bits.push(data.algorithm);
    bits.push(c.total + (isNum(data.maxTrials) ? " / " + data.maxTrials : "") + " trials");
    if (data.namespace) bits.push("namespace " + data.namespace);
    if (isNum(data.updatedAt)) bits.push("updated " + when(data.updatedAt));
    h("p", { class: "sub" }, left, bits.join(" · "));
    const chips = h("div", { class: "chips" }, left);
    for (const [k, label] of [["Succeeded", "succeeded"], ["Failed", "failed"], ["EarlyStopped", "early-stopped"],
      ["Running", "running"], ["Pending", "pending"], ["Queued", "queued"]]) {
      if ((k !== "EarlyStopped" && k !== "Queued") || c[k]) h("span", { class: "chip" }, chips, c[k] + " " + label);
    }
    if (data.message) h("p", { class: "message" }, left, data.message);
    const best = data.trials.find((t) => t.best);
    const box = h("div", { class: "bestbox", "data-role": "best" }, head);
    if (best) {
      h("div", {}, box, "Best " + metricName(data, data.metric));
      h("div", { class: "big" }, box, fmt(best.value));
      h("div", {}, box, best.name + ": " + data.params.map((p) => p.name + "=" + fmt(best.params[p.name])).join(", "));
    } else {
      h("div", {}, box, "No trial has succeeded yet");
    }
  }
  function panel(parent, title, sub) {
    const sec = h("section", { class: "panel" }, parent);
    const h2 = h("h2", {}, sec, title);
    if (sub) h("p", { class: "sub" }, sec, sub);
    return { sec, h2 };
  }
  function renderSearch(root, data, state) {
    const scroll = window.scrollY;
    root.replaceChildren();
    const color = colorer(data);
    header(root, data);
    legend(root, data);
    const prog = panel(root, "Best so far", "Each finished trial's " + data.metric + " by trial number; the line is the best value reached so far. Hover a point for its parameters and the GP's prediction.");
    drawProgress(prog.sec, data, color);
    const cur = panel(root, "Metric curves", "What each trial reported while it ran. Choose a metric:");
    if (!data.metrics.includes(state.metric)) state.metric = data.metric;
    const select = h("select", { "aria-label": "metric", "data-role": "metric" }, cur.sec.querySelector("p"));
    for (const m of data.metrics) {
      const o = h("option", { value: m }, select, m);
      if (m === state.metric) o.selected = true;
    }
    const curveBox = h("div", {}, cur.sec);
    drawCurves(curveBox, data, color, state.metric);
    select.addEventListener("change", () => { state.metric = select.value; curveBox.replaceChildren(); drawCurves(curveBox, data, color, state.metric); });
    const fac = panel(root, "Each parameter against " + data.metric, "One chart per parameter: its value on x, the trial's final " + data.metric + " on y.");
    const grid = h("div", { class: "facets" }, fac.sec);
    for (const p of data.params) drawFacet(h("div", { class: "facet" }, grid), data, color, p);
    const par = panel(root, "Parallel coordinates", "One line per finished trial across every parameter to its " + data.metric + ".");
    drawParallel(par.sec, data, color);
    const tab = panel(root, "Trials", "Click a column title to sort; click again to reverse.");
    const wrap = h("div", { class: "tablewrap" }, tab.sec);
    state.redrawTable = () => { wrap.replaceChildren(); drawTable(wrap, data, state); };
    state.redrawTable();
    const byName = {};
    for (const t of data.trials) byName[t.name] = t;
    state.byName = byName;
    state.data = data;
    window.scrollTo(0, scroll);
  }

  // ---- the search list (web view) -----------------------------------------------------------
  function renderIndex(root, list, cfg) {
    root.replaceChildren();
    h("h1", {}, root, "Searches");
    h("p", { class: "sub" }, root, list.length + " search" + (list.length === 1 ? "" : "es") + (cfg.live ? " · refreshes every " + cfg.refreshSeconds + " s" : ""));
    if (!list.length) { h("p", {}, root, "No searches found yet."); return; }
    const table = h("table", { class: "searches", "data-chart": "searches" }, root);
    const head = h("tr", {}, h("thead", {}, table));
    for (const t of ["search", "phase", "progress", "objective", "best", "updated"]) h("th", {}, head, t);
    const body = h("tbody", {}, table);
    for (const s of list) {
      const tr = h("tr", { "data-search": s.key }, body);
      h("a", { href: cfg.searchBase + s.key.split("/").map(encodeURIComponent).join("/") }, h("td", {}, tr), s.key);
      h("span", { class: "badge " + s.phase }, h("td", {}, tr), s.phase);
      const prog = h("td", {}, tr);
      const bar = h("span", { class: "progress" }, prog);
      const done = s.counts.Succeeded + s.counts.Failed + (s.counts.EarlyStopped || 0);
      const total = isNum(s.maxTrials) && s.maxTrials > 0 ? s.maxTrials : Math.max(1, s.counts.total);
      h("span", { style: "width:" + Math.min(100, (100 * done) / total).toFixed(0) + "%" }, bar);
      prog.appendChild(document.createTextNode(done + " / " + (isNum(s.maxTrials) ? s.maxTrials : s.counts.total) +
        (s.counts.Failed ? " (" + s.counts.Failed + " failed)" : "")));
      h("td", {}, tr, s.goal + " " + s.metric);
      h("td", {}, tr, s.best ? fmt(s.best.value) + " (" + s.best.trial + ")" : "–");
      h("td", {}, tr, when(s.updatedAt));
    }
  }

  // ---- start and live refresh ---------------------------------------------------------------
  function start() {
    const cfg = JSON.parse(document.getElementById("hs-config").textContent);
    const root = document.getElementById("root");
    let data = JSON.parse(document.getElementById("hs-data").textContent);
    const state = { sortKey: "index", sortDir: 1, metric: null };
    const draw = () => (cfg.mode === "index" ? renderIndex(root, data, cfg) : renderSearch(root, data, state));
    draw();
    if (cfg.mode !== "index") installHover(root, state);
    if (!cfg.live) return;
    const status = document.getElementById("live");
    let last = JSON.stringify(data);
    const poll = () => {
      fetch(cfg.live, { cache: "no-store" })
        .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then((next) => {
          const text = JSON.stringify(next);
          if (text !== last) { last = text; data = next; draw(); }
          status.textContent = "live · checked " + new Date().toLocaleTimeString();
          if (cfg.mode !== "index" && data.finished) { status.textContent = "finished"; return; }
          setTimeout(poll, cfg.refreshSeconds * 1000);
        })
        .catch((err) => {
          status.textContent = "not refreshed (" + err.message + "), retrying";
          setTimeout(poll, cfg.refreshSeconds * 1000);
        });
    };
    if (cfg.mode !== "index" && data.finished) { status.textContent = "finished"; return; }
    setTimeout(poll, cfg.refreshSeconds * 1000);
  }
  window.hypersearchReport = { fmt: fmt };
  start();
})();
