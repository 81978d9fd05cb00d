// Four Links console: the trend chart on the KPI page (uPlot, served by the console itself).
(function () {
  "use strict";
  function drawTrend() {
    var holder = document.getElementById("trend-chart");
    var source = document.getElementById("trend-data");
    if (!holder || !source || typeof uPlot === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var labels = JSON.parse(holder.getAttribute("data-labels") || "{}");
    var names = Object.keys(data.series);
    var colours = ["#b71c1c", "#0b4f9c", "#1d5e20", "#8e5b00", "#5c2d91"];
    var xs = data.months.map(function (_, i) { return i; });
    var columns = [xs].concat(names.map(function (n) {
      return data.series[n].map(function (v) { return v === null ? null : Math.round(v * 1000) / 10; });
    }));
    var series = [{ label: labels.month || "", value: function (_, i) { return i === null ? "" : data.months[i]; } }].concat(
      names.map(function (n, i) { return { label: labels[n] || n, stroke: colours[i % colours.length], width: 2, spanGaps: true }; })
    );
    function widthNow() { return Math.max(240, Math.min(holder.clientWidth || 800, 1100)); }
    var plot = new uPlot({
      width: widthNow(), height: 260, series: series,
      scales: { x: { time: false }, y: { range: [0, 100] } },
      axes: [
        { values: function (_, ticks) { return ticks.map(function (t) { return data.months[t] || ""; }); }, incrs: [1] },
        { values: function (_, ticks) { return ticks.map(function (t) { return t + "%"; }); } }
      ]
    }, columns, holder);
    // Follow the holder's width (a phone turned, a window zoomed to 400 %): never wider than the page.
    window.addEventListener("resize", function () { plot.setSize({ width: widthNow(), height: 260 }); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", drawTrend); } else { drawTrend(); }
})();
// Search-pickers: the words typed in a form offer what the search finds (htmx fills the list);
// choosing one puts its id in the form's hidden field, and typing again takes it out (the words
// are then sent, and the form's route lists what they find to choose from).
(function () {
  "use strict";
  function picked(event) {
    var words = event.target;
    if (!words || !words.hasAttribute || !words.hasAttribute("data-picker-words")) { return; }
    var holder = words.closest("[data-picker]");
    var id = holder && holder.querySelector("[data-picked]");
    var list = document.getElementById(words.getAttribute("list"));
    if (!id) { return; }
    var chosen = "";
    if (list) {
      Array.prototype.forEach.call(list.options, function (option) {
        if (option.value === words.value) { chosen = option.getAttribute("data-id") || ""; }
      });
    }
    id.value = chosen;
  }
  document.addEventListener("input", picked);
  document.addEventListener("change", picked);
})();
