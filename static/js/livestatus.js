// Live status of an unfinished job or sweep page, without reloading it: long-polls the API
// (?wait=30, answered as soon as the job ends or a sweep's run finishes) and updates the status
// badge, timings and progress in place; once it has ended, loads the finished page once so the
// plot and results render. Configured by data attributes (no inline script: CSP). Without
// JavaScript the page's <noscript> meta refresh does the same, more coarsely.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");
  if (!root || !window.fetch) { return; }
  var url = root.getAttribute("data-live-url");
  var labelsNode = document.getElementById(root.getAttribute("data-live-labels") || "");
  var labels = labelsNode ? JSON.parse(labelsNode.textContent) : {};
  var note = document.querySelector("[data-live-note]");
  var WAIT = 30;  // seconds the server may hold the answer (it cuts this to its own maximum)
  var MIN_INTERVAL = 2000;  // ms between asks when the server answers at once (no Redis)
  var MAX_BACKOFF = 30000;
  var backoff = 0;

  function say(text) { if (note) { note.hidden = false; note.textContent = text; } }
  say("(updates live)");

  function finished(status) { return status !== "queued" && status !== "running"; }

  // The API's ISO time in the site's time zone, shown like the server-rendered page.
  function when(iso) { return iso ? String(iso).slice(0, 19).replace("T", " ") : ""; }

  function show(body) {
    document.querySelectorAll("[data-live-status]").forEach(function (badge) {
      badge.className = "status status-" + body.status;
      badge.textContent = labels[body.status] || body.status;
    });
    var values = Object.assign({}, body);
    if (body.runs_total !== undefined) {
      values.runs_finished = (body.runs_succeeded || 0) + (body.runs_failed || 0);
    }
    document.querySelectorAll("[data-live-value]").forEach(function (node) {
      var name = node.getAttribute("data-live-value");
      var value = values[name];
      if (value === null || value === undefined) { return; }
      node.textContent = /_at$/.test(name) ? when(value) : String(value);
      if (node.hidden) {  // a timing not known when the page was rendered: show it and its term
        node.hidden = false;
        var term = node.previousElementSibling;
        if (term && term.tagName === "DT") { term.hidden = false; }
      }
    });
    document.querySelectorAll("progress[data-live-progress]").forEach(function (bar) {
      bar.max = values.runs_total;
      bar.value = values.runs_finished;
    });
  }

  function ask() {
    var started = Date.now();
    window.fetch(url + "?wait=" + WAIT, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (response.status === 404 || response.status === 401 || response.status === 403) {
        say("(no longer available: reload the page)");
        return null;  // gone or not ours any more: stop asking
      }
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json().then(function (body) {
        backoff = 0;
        show(body);
        if (finished(body.status)) {
          say("(finished: loading the results…)");
          window.setTimeout(function () { window.location.replace(window.location.href); }, 500);
          return;
        }
        window.setTimeout(ask, Math.max(0, MIN_INTERVAL - (Date.now() - started)));
      });
    }).catch(function () {
      // Network error or server trouble: try again, waiting longer each time.
      backoff = Math.min(MAX_BACKOFF, backoff ? backoff * 2 : 1000);
      say("(connection lost: retrying…)");
      window.setTimeout(ask, backoff);
    });
  }

  ask();
})();
