// Time-series charts (ours): draws every <figure class="chart"> that holds a JSON data island
// <script type="application/json" class="chart-data">{"x":[unix s...],"series":[{"label","values"}]}</script>
// with uPlot (embedded, pinned). The figure's data-unit labels the y axis and the legend values;
// figures with the same data-sync share the cursor. Bad data leaves the figure as it is (its
// table, if any, stays the fallback) and marks it .chart-failed. Runs on load and after htmx swaps.
// Defines no globals.
(function () {
  "use strict";
  const FALLBACK = ["#1d4ed8", "#b45309", "#047857", "#b91c1c", "#7c3aed", "#0e7490"];

  const isNum = (v) => typeof v === "number" && Number.isFinite(v);

  /** Pure: the island's text to {x, series: [{label, values}]}, or null when malformed. */
  function parse(text) {
    let d;
    try { d = JSON.parse(text); } catch (_) { return null; }
    if (!d || !Array.isArray(d.x) || d.x.length === 0 || !d.x.every(isNum)) return null;
    if (!Array.isArray(d.series) || d.series.length === 0) return null;
    const ok = d.series.every((s) => s && Array.isArray(s.values) && s.values.length === d.x.length
      && s.values.every((v) => v === null || isNum(v)));
    if (!ok) return null;
    return { x: d.x, series: d.series.map((s) => ({ label: String(s.label ?? ""), values: s.values })) };
  }

  /** Pure: a value with its unit for the legend ("12.5 ms", "3%", "40 /min"); "—" for a gap. */
  function format(v, unit) {
    if (v == null) return "—";
    const a = Math.abs(v);
    const n = Number.isInteger(v) ? String(v)
      : a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(1) : String(+v.toPrecision(2));
    return !unit ? n : unit === "%" ? n + "%" : n + " " + unit;
  }

  /** The palette: --chart-1..6 from the figure's computed style, else the fallback hexes. */
  function colours(css) {
    return FALLBACK.map((c, i) => css.getPropertyValue("--chart-" + (i + 1)).trim() || c);
  }

  /** Plot size for a figure width: 220 px high, 180 px under 500 px wide. */
  function size(width) {
    const w = Math.max(200, Math.floor(width || 600));
    return { width: w, height: w < 500 ? 180 : 220 };
  }

  /** Draws one figure once; never throws. */
  function draw(fig) {
    const island = fig.querySelector("script.chart-data");
    if (!island || fig.dataset.rendered === "1" || fig.classList.contains("chart-failed")) return;
    const data = typeof uPlot === "function" ? parse(island.textContent) : null;
    if (!data) { fig.classList.add("chart-failed"); return; }
    const unit = fig.dataset.unit || "";
    const css = getComputedStyle(fig);
    const palette = colours(css);
    const muted = css.getPropertyValue("--muted").trim() || "#5c5c66";
    const mount = document.createElement("div");
    mount.className = "chart-canvas";
    fig.insertBefore(mount, island);
    const axis = { stroke: muted, ticks: { stroke: muted, width: 1 } };
    const opts = Object.assign(size(mount.clientWidth), {
      cursor: fig.dataset.sync ? { sync: { key: fig.dataset.sync } } : {},
      legend: { show: true },
      scales: {
        // One point: ±12 h around it (uPlot's own widening assumes milliseconds).
        // data-x="seconds": x is seconds into a recording, not a date.
        x: fig.dataset.x === "seconds"
          ? { time: false }
          : { time: true, range: (u, lo, hi) => (u.data[0].length === 1 ? [lo - 43200, lo + 43200] : [lo, hi]) },
        // From 0 when every value is ≥ 0 (latency, rates, counts), padded above.
        y: { range: { min: { pad: 0.1, soft: 0, mode: 1 }, max: { pad: 0.1, soft: 0, mode: 3 } } },
      },
      axes: [Object.assign({}, axis), Object.assign({ label: unit || undefined }, axis)],
      series: [{}].concat(data.series.map((s, i) => ({
        label: s.label,
        stroke: palette[i % palette.length],
        width: 2,
        spanGaps: false,
        value: (u, v) => format(v, unit),
      }))),
    });
    let plot;
    try {
      plot = new uPlot(opts, [data.x].concat(data.series.map((s) => s.values)), mount);
    } catch (_) {
      mount.remove();
      fig.classList.add("chart-failed");
      return;
    }
    const caption = fig.querySelector("figcaption");
    const title = (caption && caption.textContent.trim()) || "Chart";
    const labels = data.series.map((s) => s.label).filter(Boolean).join(", ");
    fig.dataset.rendered = "1";
    fig.setAttribute("role", "img");
    fig.setAttribute("aria-label", title + (labels ? " (chart of " + labels + ")" : " (chart)"));
    const table = fig.querySelector(".chart-table");
    if (table) (table.closest(".table-wrap") || table).classList.add("chart-table-hidden");
    if (typeof ResizeObserver === "function") {
      let last = opts.width;
      const ro = new ResizeObserver(() => {
        if (!fig.isConnected) { ro.disconnect(); plot.destroy(); return; }
        const next = size(mount.clientWidth);
        if (next.width !== last) { last = next.width; plot.setSize(next); }
      });
      ro.observe(mount);
    }
  }

  function drawAll() {
    document.querySelectorAll("figure.chart").forEach(draw);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
  document.addEventListener("htmx:afterSettle", drawAll);
})();
