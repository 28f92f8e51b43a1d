/* relaygate console: charts (uPlot), copy buttons, confirmations. No inline script anywhere (CSP). */
(function () {
  "use strict";
  var COLORS = ["#2f7d32", "#c62828", "#ef6c00", "#6a1b9a", "#1565c0", "#ad1457", "#00838f", "#4e342e", "#757575"];

  function chartData(el) {
    var src = document.getElementById(el.getAttribute("data-chart-src"));
    return src ? JSON.parse(src.textContent) : null;
  }

  // axis ticks: small amounts (spend in a quiet hour is a fraction of a cent) keep two significant digits
  function tick(v) {
    if (v === null || v === undefined) { return ""; }
    if (v !== 0 && Math.abs(v) < 1) { return String(Number(v.toPrecision(2))); }
    return v.toLocaleString();
  }

  function pad(n) { return n < 10 ? "0" + n : "" + n; }

  // times as 24-hour clock and month/day: the same in every language (uPlot's own are "3pm", "12/7/26")
  function when(v, full) {
    var d = new Date(v * 1000);
    var day = (d.getMonth() + 1) + "/" + d.getDate();
    var clock = pad(d.getHours()) + ":" + pad(d.getMinutes());
    return full ? day + " " + clock : clock;
  }

  function xTicks(vals) {
    var span = vals.length > 1 ? vals[vals.length - 1] - vals[0] : 0;
    return vals.map(function (v) {
      var d = new Date(v * 1000);
      return span > 2 * 86400 || (d.getHours() === 0 && d.getMinutes() === 0) ? (d.getMonth() + 1) + "/" + d.getDate() : when(v, false);
    });
  }

  function drawCharts(root) {
    if (typeof uPlot === "undefined") { return; }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.getAttribute("data-drawn")) { return; }
      var data = chartData(el);
      if (!data) { return; }
      var spec = data.charts[el.getAttribute("data-chart")];
      if (!spec) { return; }
      var series = [{ label: data.time || "", value: function (u, v) { return v == null ? "--" : when(v, true); } }];
      spec.series.forEach(function (s, i) {
        series.push({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2,
                      fill: spec.fill ? COLORS[i % COLORS.length] + "22" : undefined, spanGaps: true });
      });
      var opts = {
        width: Math.max(300, el.clientWidth - 8), height: 220, series: series,
        axes: [{ values: function (u, vals) { return xTicks(vals); } }, { size: 72, values: function (u, vals) { return vals.map(tick); } }],
        legend: { live: true }, cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } }
      };
      el.setAttribute("data-drawn", "1");
      new uPlot(opts, [data.x].concat(spec.series.map(function (s) { return s.values; })), el);
    });
  }

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy]");
    if (btn) {
      ev.preventDefault();
      var src = document.getElementById(btn.getAttribute("data-copy"));
      var text = src ? (src.value !== undefined ? src.value : src.textContent) : "";
      var done = function () {
        btn.setAttribute("data-copied", "1");
        btn.textContent = btn.getAttribute("data-copied-label") || btn.textContent;
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(src, done); });
      } else {
        fallbackCopy(src, done);
      }
    }
  });

  function fallbackCopy(src, done) {
    if (!src) { return; }
    var range = document.createRange();
    range.selectNodeContents(src);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try { document.execCommand("copy"); done(); } catch (e) { /* nothing more to try */ }
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSwap", function (ev) { drawCharts(ev.target); });
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-chart][data-drawn]").forEach(function (el) {
      el.removeAttribute("data-drawn");
      el.innerHTML = "";
    });
    drawCharts(document);
  });
})();
