/* LightWay panels: draws the charts of a page with Chart.js (served from node_modules, see
 * package.json) and redraws them after HTMX replaces part of the page.
 *
 * A chart is a <canvas data-chart="ID"> next to <script type="application/json" id="ID">
 * holding a Chart.js configuration made on the server ({"type": ..., "data": ...,
 * "options": ...}); the JSON island is data, not script, so the Content-Security-Policy
 * (no inline script) allows it. Inside a fragment that HTMX refreshes, the configuration
 * goes on the canvas itself (data-chart-config="{{ config|chart_json }}"): HTMX removes
 * <script> elements from what it swaps in. Every chart also has its figures in a table or text on the
 * page (its accessible alternative); the canvas carries role="img" and an aria-label.
 */
"use strict";
(function () {
  if (!window.Chart) return;
  const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = dark ? "#d9e2ec" : "#334e68";
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false; // live pages redraw every few seconds

  function draw(root) {
    root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      // The configuration: on the canvas (data-chart-config, for fragments HTMX swaps in,
      // which lose their <script> elements) or in the JSON island the canvas names.
      const island = document.getElementById(canvas.dataset.chart);
      const text = canvas.dataset.chartConfig || (island && island.textContent);
      if (!text) return;
      let config;
      try {
        config = JSON.parse(text);
      } catch (e) {
        return;
      }
      const existing = Chart.getChart(canvas);
      if (existing) existing.destroy();
      new Chart(canvas, config);
    });
  }

  document.addEventListener("DOMContentLoaded", () => draw(document));
  // HTMX (hx-get ... hx-trigger="every 10s") replaced a fragment: draw its charts.
  document.body.addEventListener("htmx:afterSettle", (event) => draw(event.target));
})();
