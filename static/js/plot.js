// The job page's interactive plot: the result (and earlier runs to compare) drawn with uPlot
// from the results API's display decimation (?max_points=), one panel per unit sharing the time
// axis. Drag to zoom, buttons or arrow keys to pan, hover to read values with their units.
// Configured by the page's JSON script tag (no inline script: CSP); until it has drawn, and
// whenever it cannot, the server-rendered plot (#plot-fallback) stays the page's plot.
(function () {
  "use strict";
  var root = document.getElementById("result-plot");
  if (!root) { return; }
  var configNode = document.getElementById(root.getAttribute("data-config"));
  var fallback = document.getElementById(root.getAttribute("data-fallback"));
  if (!configNode || typeof window.uPlot !== "function" || !window.fetch) { return; }
  var uPlot = window.uPlot;
  var config = JSON.parse(configNode.textContent);
  var part = function (name) { return root.querySelector('[data-plot-part="' + name + '"]'); };
  var panels = part("panels");
  var readout = part("readout");
  var range = part("range");
  var message = part("message");
  var PALETTE = ["#1f6feb", "#d9480f", "#2f9e44", "#9c36b5", "#e8590c", "#0c8599", "#c2255c",
    "#5c940d", "#364fc7", "#862e9c", "#a61e4d", "#087f5b"];
  var DASHES = [[], [8, 4], [2, 3], [12, 4, 2, 4], [6, 6], [1, 4]];
  var PANEL_HEIGHT = 220;
  var runs = {};  // id -> {label, url, order}
  config.runs.forEach(function (run, index) { runs[run.id] = Object.assign({ order: index }, run); });
  var thisRun = config.runs[0].id;
  var cache = {};  // url -> Promise of the results body
  var plotsShown = [];  // uPlot instances, one per unit
  var shown = null;  // what is drawn: {runs: [...], names: [...], bodies: {id: body}}
  var full = null;  // [min, max] of time over the drawn runs
  var syncing = false;
  var generation = 0;

  function say(text) { message.textContent = text || ""; }

  function number(value) {
    if (value === null || value === undefined || Number.isNaN(value)) { return "–"; }
    var size = Math.abs(value);
    if (size !== 0 && (size >= 1e6 || size < 1e-3)) { return value.toExponential(3); }
    return String(Number(value.toPrecision(4)));
  }

  function withUnit(value, unit) { return number(value) + (unit ? " " + unit : ""); }

  function checked(name) {
    return Array.prototype.slice.call(root.querySelectorAll('input[name="' + name + '"]:checked'))
      .map(function (box) { return box.value; });
  }

  function load(runId, names) {
    var url = runs[runId].url + "?max_points=" + config.max_points +
      "&columns=" + encodeURIComponent(names.join(","));
    if (!cache[url]) {
      cache[url] = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) { throw new Error(body.detail || ("HTTP " + response.status)); }
            return body;
          });
        });
      cache[url].catch(function () { delete cache[url]; });
    }
    return cache[url];
  }

  function seriesLabel(name, runId) {
    return runId === thisRun ? name : name + " (" + runs[runId].label + ")";
  }

  // Index of the sample of ``times`` nearest to ``x`` (times ascend; events may repeat one).
  function nearest(times, x) {
    var low = 0, high = times.length - 1;
    if (high < 0) { return -1; }
    while (low < high) {
      var mid = (low + high) >> 1;
      if (times[mid] < x) { low = mid + 1; } else { high = mid; }
    }
    if (low > 0 && Math.abs(times[low - 1] - x) <= Math.abs(times[low] - x)) { return low - 1; }
    return low;
  }

  function showReadout(x) {
    if (x === null || shown === null) { return; }
    // The sample of this run nearest to the cursor; other runs at their sample nearest to it.
    var own = shown.bodies[thisRun].columns.time;
    var at = nearest(own, x);
    if (at < 0) { return; }
    x = own[at];
    var parts = ["time = " + withUnit(x, shown.bodies[thisRun].units.time || "s")];
    shown.runs.forEach(function (runId) {
      var body = shown.bodies[runId];
      var index = nearest(body.columns.time, x);
      if (index < 0) { return; }
      shown.names.forEach(function (name) {
        if (!(name in body.columns)) { return; }
        parts.push(seriesLabel(name, runId) + " = " + withUnit(body.columns[name][index], body.units[name]));
      });
    });
    readout.textContent = parts.join(" · ");
  }

  function showRange(min, max) {
    var unit = shown ? (shown.bodies[thisRun].units.time || "s") : "s";
    range.textContent = "time " + number(min) + " – " + number(max) + " " + unit;
    root.setAttribute("data-x-min", String(min));
    root.setAttribute("data-x-max", String(max));
  }

  function setRange(min, max) {
    if (!plotsShown.length || !(max > min)) { return; }
    plotsShown[0].setScale("x", { min: min, max: max });  // the hook brings the others along
  }

  function currentRange() {
    var scale = plotsShown[0].scales.x;
    return [scale.min, scale.max];
  }

  function act(action) {
    if (!plotsShown.length) { return; }
    var now = currentRange(), span = now[1] - now[0], min = now[0], max = now[1];
    if (action === "reset") { setRange(full[0], full[1]); return; }
    if (action === "zoom-in") { min += span / 4; max -= span / 4; }
    if (action === "zoom-out") { min -= span / 2; max += span / 2; }
    if (action === "pan-left") { min -= span / 2; max -= span / 2; }
    if (action === "pan-right") { min += span / 2; max += span / 2; }
    // Stay within the data: panning stops at either end, zooming out stops at everything.
    var width = Math.min(max - min, full[1] - full[0]);
    if (min < full[0]) { min = full[0]; max = min + width; }
    if (max > full[1]) { max = full[1]; min = max - width; }
    setRange(min, max);
  }

  function destroyPlots() {
    plotsShown.forEach(function (plot) { plot.destroy(); });
    plotsShown = [];
    panels.textContent = "";
  }

  function draw(runIds, names, bodies) {
    var keep = plotsShown.length ? currentRange() : null;
    var zoomed = keep && full && (keep[0] > full[0] || keep[1] < full[1]);
    destroyPlots();
    shown = { runs: runIds, names: names, bodies: bodies };
    var tables = runIds.map(function (runId) {
      var columns = bodies[runId].columns;
      return [columns.time].concat(names.map(function (name) { return columns[name] || []; }));
    });
    var data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    var times = data[0];
    full = [times[0], times[times.length - 1]];
    if (!(full[1] > full[0])) { full = [full[0] - 0.5, full[0] + 0.5]; }
    // One panel per unit, in the order the variables were chosen.
    var units = bodies[thisRun].units;
    var groups = [];
    var byUnit = {};
    names.forEach(function (name, index) {
      var unit = units[name] || "";
      if (!(unit in byUnit)) { byUnit[unit] = groups.length; groups.push({ unit: unit, names: [] }); }
      groups[byUnit[unit]].names.push({ name: name, index: index });
    });
    var width = Math.max(panels.clientWidth || root.clientWidth || 800, 320);
    groups.forEach(function (group, panelIndex) {
      var series = [{ label: "time" }];
      var columns = [times];
      runIds.forEach(function (runId, runIndex) {
        group.names.forEach(function (entry) {
          series.push({
            label: seriesLabel(entry.name, runId),
            stroke: PALETTE[entry.index % PALETTE.length],
            dash: DASHES[runIndex % DASHES.length],
            width: runIndex === 0 ? 1.75 : 1.25,
            points: { show: false },
          });
          columns.push(data[1 + runIndex * names.length + entry.index]);
        });
      });
      var last = panelIndex === groups.length - 1;
      var holder = document.createElement("div");
      holder.className = "plot-panel";
      panels.appendChild(holder);
      var plot = new uPlot({
        width: width,
        height: PANEL_HEIGHT + (last ? 30 : 0),
        scales: { x: { time: false } },
        series: series,
        axes: [
          { label: last ? "time [" + (units.time || "s") + "]" : "", size: last ? 50 : 30 },
          { label: group.unit || "value", size: 70 },
        ],
        legend: { live: false },
        cursor: {
          drag: { x: true, y: false },
          sync: { key: "job-plot-" + generation, setSeries: false },
          points: { show: false },
        },
        hooks: {
          setCursor: [function (u) {
            if (u.cursor.left !== undefined && u.cursor.left >= 0) {
              showReadout(u.posToVal(u.cursor.left, "x"));
            }
          }],
          setScale: [function (u, key) {
            if (key !== "x") { return; }
            var min = u.scales.x.min, max = u.scales.x.max;
            showRange(min, max);
            if (syncing) { return; }
            syncing = true;
            plotsShown.forEach(function (other) {
              if (other !== u) { other.setScale("x", { min: min, max: max }); }
            });
            syncing = false;
          }],
        },
      }, columns, holder);
      plotsShown.push(plot);
    });
    if (zoomed) {
      setRange(Math.max(keep[0], full[0]), Math.min(keep[1], full[1]));
    } else {
      showRange(full[0], full[1]);
    }
  }

  function update() {
    var names = checked("plot-variable").slice(0, config.max_variables);
    var runIds = [thisRun].concat(checked("plot-run").filter(function (id) { return id in runs; }));
    if (!names.length) { say("Choose at least one variable to plot."); return Promise.resolve(false); }
    var mine = ++generation;
    root.setAttribute("data-state", "loading");
    say("Loading…");
    return Promise.all(runIds.map(function (runId) {
      return load(runId, names).then(
        function (body) { return { id: runId, body: body }; },
        function (error) { return { id: runId, error: error }; }
      );
    })).then(function (answers) {
      if (mine !== generation) { return false; }
      var bodies = {}, failed = [];
      answers.forEach(function (answer) {
        if (answer.body) { bodies[answer.id] = answer.body; } else { failed.push(answer); }
      });
      if (!bodies[thisRun]) { throw failed[0].error; }
      var drawn = runIds.filter(function (runId) { return runId in bodies; });
      draw(drawn, names, bodies);
      var notes = failed.map(function (answer) {
        return "Could not load the " + runs[answer.id].label + ": " + answer.error.message;
      });
      var thinned = drawn.filter(function (runId) { return bodies[runId].decimated; });
      if (thinned.length) {
        var body = bodies[thinned[0]];
        notes.push("Showing " + body.points.toLocaleString("en") + " of " +
          body.rows.toLocaleString("en") + " samples (the smallest and largest of each stretch); " +
          "downloads have every sample.");
      }
      say(notes.join(" "));
      root.setAttribute("data-state", "ready");
      return true;
    });
  }

  function giveUp(error) {
    destroyPlots();
    root.hidden = true;
    root.setAttribute("data-state", "error");
    if (fallback) { fallback.hidden = false; }
    if (window.console) { window.console.warn("interactive plot unavailable:", error); }
  }

  // Several quick clicks on the checkboxes give one request.
  var pending = null;
  function later() {
    window.clearTimeout(pending);
    pending = window.setTimeout(function () {
      update().catch(function (error) { say("Could not load the result: " + error.message); });
    }, 150);
  }

  root.addEventListener("change", function (event) {
    var box = event.target;
    if (box.name === "plot-variable" && box.checked &&
        checked("plot-variable").length > config.max_variables) {
      box.checked = false;
      say("At most " + config.max_variables + " variables at once.");
      return;
    }
    if (box.name === "plot-variable" || box.name === "plot-run") { later(); }
  });
  root.querySelectorAll("[data-plot-action]").forEach(function (button) {
    button.addEventListener("click", function () { act(button.getAttribute("data-plot-action")); });
  });
  panels.tabIndex = 0;
  panels.setAttribute("aria-label", "Plot: arrow keys pan, + and − zoom, Escape shows everything");
  panels.addEventListener("keydown", function (event) {
    var keys = { ArrowLeft: "pan-left", ArrowRight: "pan-right", "+": "zoom-in", "=": "zoom-in",
      "-": "zoom-out", Escape: "reset", "0": "reset" };
    if (keys[event.key]) { event.preventDefault(); act(keys[event.key]); }
  });
  var resizing = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(function () {
      var width = Math.max(panels.clientWidth, 320);
      plotsShown.forEach(function (plot) { plot.setSize({ width: width, height: plot.height }); });
    }, 100);
  });

  root.hidden = false;  // measured for its width; the fallback stays until the plot has drawn
  update().then(function (drawn) {
    if (!drawn) { return; }
    if (fallback) { fallback.hidden = true; }
    // Time to first plot, from the start of navigation (read by the browser tests).
    if (window.performance && performance.mark) { performance.mark("result-plot-drawn"); }
    root.setAttribute("data-first-plot-ms", String(Math.round(performance.now())));
  }).catch(giveUp);
})();
