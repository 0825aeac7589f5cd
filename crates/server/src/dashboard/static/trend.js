// tonghop dashboard: the trend chart of /xu-huong, drawn with the vendored uPlot. The figures come
// from the page (data-* attributes of #trend-chart), so that no inline script is needed
// (Content-Security-Policy: script-src 'self'). Without script the page still shows the table.
(function () {
  "use strict";
  var el = document.getElementById("trend-chart");
  if (!el || typeof uPlot === "undefined") {
    return;
  }
  var labels = JSON.parse(el.getAttribute("data-labels"));
  var values = JSON.parse(el.getAttribute("data-values"));
  var previous = JSON.parse(el.getAttribute("data-previous"));
  var target = JSON.parse(el.getAttribute("data-target"));
  var xs = labels.map(function (_, i) { return i; });
  // 95,3 %: a decimal comma, as Vietnamese readers write it.
  function percent(v) {
    return v == null ? "—" : v.toFixed(1).replace(".", ",") + " %";
  }
  function label(i) {
    return i == null ? "" : (labels[Math.round(i)] || "");
  }
  var options = {
    width: Math.max(320, Math.min(el.clientWidth || 900, 1100)),
    height: 360,
    padding: [12, 32, 0, 0],
    scales: { x: { time: false } },
    axes: [
      { incrs: [1, 2, 3, 4, 6, 12, 24], values: function (u, splits) { return splits.map(label); } },
      { size: 60, values: function (u, splits) { return splits.map(function (v) { return v.toFixed(0) + " %"; }); } }
    ],
    series: [
      { label: "Kỳ", value: function (u, i) { return label(i); } },
      { label: el.getAttribute("data-name"), stroke: "#0b5394", width: 2.5, points: { size: 6 }, value: function (u, v) { return percent(v); } },
      { label: "Cùng kỳ năm trước", stroke: "#8a8f96", dash: [6, 4], width: 1.5, value: function (u, v) { return percent(v); } },
      { label: "Mục tiêu 2030", stroke: "#2e7d32", dash: [2, 3], width: 1.5, points: { show: false }, value: function (u, v) { return percent(v); } }
    ]
  };
  el.textContent = "";
  new uPlot(options, [xs, values, previous, target], el);
  el.setAttribute("data-drawn", "true");
})();
