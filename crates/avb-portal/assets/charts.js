// Time-series charts (ours): draws every <figure class="chart"> that holds a JSON data island
// <script type="application/json" class="chart-data">{"x":[unix s...],"series":[{"label","values"}]}</script>
// with uPlot (embedded, pinned). The figure's data-unit labels the y axis and the legend values;
// figures with the same data-sync share the cursor. Bad data leaves the figure as it is (its
// table, if any, stays the fallback) and marks it .chart-failed. Runs on load and after htmx swaps.
(function () {
  "use strict";
  const FALLBACK = ["#1d4ed8", "#b45309", "#047857", "#b91c1c", "#7c3aed", "#0e7490"];

  /** The chart's data, or null when the island is missing or malformed. */
  function parse(text) {
    let d;
    try { d = JSON.parse(text); } catch (_) { return null; }
    if (!d || !Array.isArray(d.x) || d.x.length === 0 || !Array.isArray(d.series)) return null;
    const ok = d.series.every((s) => s && Array.isArray(s.values) && s.values.length === d.x.length);
    return ok ? d : null;
  }

  function colours(fig) {
    const css = getComputedStyle(fig);
    return FALLBACK.map((c, i) => css.getPropertyValue("--chart-" + (i + 1)).trim() || c);
  }

  function format(v, unit) {
    if (v == null) return "—";
    const n = Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
    return unit === "%" ? n + "%" : unit ? n + " " + unit : n;
  }

  function draw(fig) {
    const island = fig.querySelector("script.chart-data");
    if (!island || fig.dataset.rendered === "1" || typeof uPlot === "undefined") return;
    const data = parse(island.textContent);
    if (!data) { fig.classList.add("chart-failed"); return; }
    const unit = fig.dataset.unit || "";
    const palette = colours(fig);
    const caption = fig.querySelector("figcaption");
    const mount = document.createElement("div");
    mount.className = "chart-canvas";
    fig.insertBefore(mount, island);
    const size = () => {
      const w = Math.max(240, Math.floor(fig.clientWidth || 600));
      return { width: w, height: w < 500 ? 180 : 220 };
    };
    const opts = Object.assign(size(), {
      cursor: fig.dataset.sync ? { sync: { key: fig.dataset.sync } } : {},
      axes: [{}, { size: 64, values: (u, ticks) => ticks.map((t) => format(t, unit)) }],
      scales: unit === "%" ? { y: { range: [0, 100] } } : {},
      series: [{}].concat(data.series.map((s, i) => ({
        label: s.label,
        stroke: palette[i % palette.length],
        width: 2,
        spanGaps: false,
        points: { show: true, size: 5 },
        value: (u, v) => format(v, unit),
      }))),
    });
    const plot = new uPlot(opts, [data.x].concat(data.series.map((s) => s.values)), mount);
    fig.dataset.rendered = "1";
    fig.setAttribute("role", "img");
    fig.setAttribute("aria-label", caption ? caption.textContent.trim() : "Chart");
    const table = fig.querySelector(".chart-table");
    if (table) table.closest(".table-wrap")?.classList.add("chart-table-hidden");
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(() => plot.setSize(size())).observe(fig);
    }
  }

  function drawAll() {
    document.querySelectorAll("figure.chart").forEach(draw);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
  document.addEventListener("htmx:afterSettle", drawAll);
})();
