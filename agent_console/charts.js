// Small hand-written SVG charts for the dashboard: line charts over time (with a threshold band and event
// markers), a stacked bar and a gauge. No library; colours come from classes in dashboard.css (the content
// security policy allows no inline style), and every chart carries its figures as text for screen readers.

const SVG = "http://www.w3.org/2000/svg";

/** @param {string} tag @param {Object<string, string|number>} [attrs] @param {string} [text] */
export function svgEl(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text) node.textContent = text;
  return node;
}

const W = 320;
const H = 112;
const PAD = { left: 34, right: 8, top: 8, bottom: 18 };
const GAP_MS = 16_000; // a line breaks where samples (every 5 s) stop for longer than this

/** A round upper bound for an axis: 1, 2, 2.5 or 5 times a power of ten. @param {number} value */
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

/** "−5 min", "−30 s" for an axis label @param {number} ms */
function before(ms) {
  if (ms < 1000) return "now";
  const s = Math.round(ms / 1000);
  return s >= 120 ? `−${Math.round(s / 60)} min` : `−${s} s`;
}

/**
 * @typedef {{label: string, cls: string, points: Array<[number, number|null]>}} Series
 * @typedef {{from: number, to: number, cls: string, label: string}} Band
 * @typedef {{t: number, label: string}} Marker
 * @typedef {{title: string, unit?: string, series: Series[], x0: number, x1: number, yMin?: number,
 *            yMax: number, bands?: Band[], markers?: Marker[], format?: (v: number) => string,
 *            xLabels?: [string, string]}} LineChartSpec
 */

/** A line chart over time; the newest point of each series is marked. @param {LineChartSpec} spec */
export function lineChart(spec) {
  const { series, x0, x1, yMax, bands = [], markers = [] } = spec;
  const yMin = spec.yMin ?? 0;
  const format = spec.format ?? ((v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const span = Math.max(1, x1 - x0);
  const x = (t) => PAD.left + ((t - x0) / span) * plotW;
  const y = (v) => PAD.top + plotH - ((Math.min(Math.max(v, yMin), yMax) - yMin) / (yMax - yMin)) * plotH;

  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  svg.append(svgEl("title", {}, describe(spec, format)));
  for (const band of bands) {
    const top = y(Math.min(band.to, yMax));
    const bottom = y(Math.max(band.from, yMin));
    svg.append(svgEl("rect", { x: PAD.left, y: top, width: plotW, height: Math.max(0, bottom - top), class: band.cls }));
    svg.append(svgEl("text", { x: W - PAD.right - 2, y: bottom - 3, class: "chart-band-label", "text-anchor": "end" }, band.label));
  }
  for (const v of [yMin, (yMin + yMax) / 2, yMax]) {
    svg.append(svgEl("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "chart-grid" }));
    svg.append(svgEl("text", { x: PAD.left - 4, y: y(v) + 3.5, class: "chart-axis", "text-anchor": "end" }, format(v)));
  }
  const [left, right] = spec.xLabels ?? [before(x1 - x0), "now"];
  svg.append(svgEl("text", { x: PAD.left, y: H - 4, class: "chart-axis" }, left));
  svg.append(svgEl("text", { x: W - PAD.right, y: H - 4, class: "chart-axis", "text-anchor": "end" }, right));
  for (const marker of markers) {
    if (marker.t < x0 || marker.t > x1) continue;
    const mx = x(marker.t);
    svg.append(svgEl("line", { x1: mx, x2: mx, y1: PAD.top, y2: PAD.top + plotH, class: "chart-marker" }));
    const anchor = mx > W / 2 ? { x: mx - 2, "text-anchor": "end" } : { x: mx + 2 };
    svg.append(svgEl("text", { ...anchor, y: PAD.top + 8, class: "chart-marker-label" }, marker.label));
  }
  for (const line of series) drawSeries(svg, line, x, y);
  return svg;
}

/** @param {SVGElement} svg @param {Series} line */
function drawSeries(svg, line, x, y) {
  let d = "";
  let last = null;
  for (const [t, v] of line.points) {
    if (v === null || v === undefined) {
      last = null;
      continue;
    }
    d += `${last === null || t - last > GAP_MS ? "M" : "L"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    last = t;
  }
  if (!d) return;
  svg.append(svgEl("path", { d, class: `chart-line ${line.cls}` }));
  const known = line.points.filter(([, v]) => v !== null && v !== undefined);
  const [t, v] = known[known.length - 1];
  svg.append(svgEl("circle", { cx: x(t), cy: y(v), r: 2.6, class: `chart-dot ${line.cls}` }));
}

/** What the chart shows, in words: each series' latest value and its range. */
function describe(spec, format) {
  const unit = spec.unit ? ` ${spec.unit}` : "";
  const parts = spec.series.map((line) => {
    const values = line.points.map(([, v]) => v).filter((v) => v !== null && v !== undefined);
    if (!values.length) return `${line.label}: no data`;
    const low = format(Math.min(...values));
    const high = format(Math.max(...values));
    return `${line.label}: now ${format(values[values.length - 1])}${unit} (range ${low}–${high})`;
  });
  return `${spec.title}. ${parts.join("; ")}`;
}

/**
 * A horizontal stacked bar (e.g. agents by state); its parts are also given as text by the caller.
 * @param {Array<{value: number, cls: string, label: string}>} parts @param {number} [width]
 */
export function stackedBar(parts, width = 200) {
  const total = parts.reduce((sum, part) => sum + part.value, 0);
  const svg = svgEl("svg", { viewBox: `0 0 ${width} 10`, class: "bar", role: "img", preserveAspectRatio: "none" });
  svg.append(svgEl("title", {}, parts.map((p) => `${p.value} ${p.label}`).join(", ") || "none"));
  svg.append(svgEl("rect", { x: 0, y: 0, width, height: 10, class: "bar-empty", rx: 2 }));
  let at = 0;
  for (const part of parts) {
    if (!part.value || !total) continue;
    const w = (part.value / total) * width;
    svg.append(svgEl("rect", { x: at, y: 0, width: w, height: 10, class: part.cls }));
    at += w;
  }
  return svg;
}

/**
 * A gauge of a share (0..1) with the goal marked; `cls` colours the filled part.
 * @param {number|null} share @param {number} goal @param {string} cls
 */
export function gauge(share, goal, cls) {
  const width = 200;
  const svg = svgEl("svg", { viewBox: `0 0 ${width} 14`, class: "gauge", role: "img", preserveAspectRatio: "none" });
  const text = share === null ? "no calls offered" : `${Math.round(share * 100)}%, goal ${Math.round(goal * 100)}%`;
  svg.append(svgEl("title", {}, text));
  svg.append(svgEl("rect", { x: 0, y: 0, width, height: 14, class: "bar-empty", rx: 3 }));
  if (share !== null) svg.append(svgEl("rect", { x: 0, y: 0, width: share * width, height: 14, class: cls, rx: 3 }));
  svg.append(svgEl("line", { x1: goal * width, x2: goal * width, y1: 0, y2: 14, class: "gauge-goal" }));
  return svg;
}
