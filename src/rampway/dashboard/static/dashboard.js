/* rampway dashboard: draw the charts a page describes (data-chart, see views.chart) with
   uPlot, and reload a page whose data is live (body[data-refresh]) unless someone is typing;
   confirm forms marked data-confirm. */
(function () {
  "use strict";
  var COLORS = ["#0b5cad", "#a01818", "#7a7f87", "#d08a00"];

  function seriesOpts(spec, i, s) {
    var opts = { label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false };
    if (spec.kind === "step") { opts.paths = uPlot.paths.stepped({ align: 1 }); opts.width = 2; }
    if (spec.kind === "line" && (s.label === "lower" || s.label === "upper")) {
      opts.stroke = COLORS[2]; opts.dash = [4, 3];
    }
    if (spec.kind === "line" && s.label.indexOf("limit") === 0) {
      opts.stroke = COLORS[1]; opts.dash = [8, 4];
    }
    if (spec.kind === "line" && s.label === "estimate") { opts.points = { show: true, size: 5 }; }
    return opts;
  }

  function draw(el) {
    var spec;
    try { spec = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
    if (!spec.x || spec.x.length === 0) {
      el.textContent = "no data yet";
      el.classList.add("muted");
      return;
    }
    var spark = spec.kind === "spark";
    var data = [spec.x].concat(spec.series.map(function (s) { return s.data; }));
    var opts = {
      width: Math.max(el.clientWidth || 0, spark ? 160 : 600),
      height: spark ? 36 : 220,
      series: [{}].concat(spec.series.map(function (s, i) { return seriesOpts(spec, i, s); })),
      scales: { x: { time: spec.time !== false } },
      legend: { show: !spark },
      cursor: { show: !spark },
      axes: spark ? [{ show: false }, { show: false }]
        : [{ label: spec.x_label || null }, { label: spec.y_label || null }]
    };
    if (spec.kind === "step") { opts.scales.y = { range: [0, 100] }; }
    el.textContent = "";
    new uPlot(opts, data, el);
    el.setAttribute("data-drawn", "1");
  }

  function typing() {
    var active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "TEXTAREA")) { return true; }
    var fields = document.querySelectorAll("input[type=text], textarea");
    for (var i = 0; i < fields.length; i++) { if (fields[i].value) { return true; } }
    return false;
  }

  /* A form with data-confirm asks once more before it posts (the server also requires its
     confirmation checkbox, so a page without this script cannot skip it). */
  function confirmations() {
    var forms = document.querySelectorAll("form[data-confirm]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("submit", function (event) {
        if (!window.confirm(this.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    confirmations();
    var charts = document.querySelectorAll("[data-chart]");
    for (var i = 0; i < charts.length; i++) { draw(charts[i]); }
    var every = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
    if (every > 0) {
      setInterval(function () { if (!typing()) { window.location.reload(); } }, every * 1000);
    }
  });
})();
