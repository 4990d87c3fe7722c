// The package page's run form (execution/_run_form.html): shows the API's rules next to the
// fields before submitting, filters the variables and builds the share link. Without
// JavaScript the browser's own constraint checks run, and the server checks everything again.
(function () {
  var form = document.getElementById("run-form");
  if (!form) return;
  form.noValidate = true; // messages go next to the fields instead of the browser's bubbles

  function named(key) { return form.elements.namedItem("run." + key); }
  function errorBox(el) { return document.getElementById(el.id + "-error"); }
  function number(text) {
    if (text === undefined || text === null || String(text).trim() === "") return null;
    var value = Number(text);
    return isFinite(value) ? value : null;
  }
  // A time setting as the run will use it: the entered value, else the model's default.
  function effective(key) {
    var el = named(key);
    if (!el) return null;
    var entered = number(el.value);
    return entered !== null ? entered : number(el.dataset.effective);
  }

  function nativeProblem(el) {
    var v = el.validity;
    if (v.badInput) return "Give a number.";
    if (v.rangeUnderflow) return "Must be at least " + el.min + ".";
    if (v.rangeOverflow) return "Must be at most " + el.max + ".";
    if (v.stepMismatch) return el.step === "1" ? "Give a whole number." : "Not a valid value.";
    if (v.tooLong) return "At most " + el.maxLength + " characters.";
    if (v.typeMismatch || v.patternMismatch) return "Not a valid value.";
    return "";
  }

  // The rules of execution/services/job_settings.py that HTML attributes cannot express.
  function ruleProblem(el) {
    var d = el.dataset, value = number(el.value);
    if (value !== null && d.exclusiveMin !== undefined && value <= Number(d.exclusiveMin))
      return "Must be greater than " + d.exclusiveMin + ".";
    if (value !== null && d.exclusiveMax !== undefined && value >= Number(d.exclusiveMax))
      return "Must be below " + d.exclusiveMax + ".";
    if (d.afterStart !== undefined) {
      var start = effective("start_time"), stop = effective("stop_time");
      if (start !== null && stop !== null && stop <= start) return "Stop time must be after the start time.";
    }
    if (value !== null && d.maxPoints !== undefined) {
      var span = effective("stop_time") - effective("start_time");
      if (span > 0 && span / value > Number(d.maxPoints))
        return "This gives " + Math.round(span / value) + " points; at most " + d.maxPoints + ".";
    }
    if (d.solver !== undefined) {
      var kind = named("fmi_type");
      if (el.value !== "CVode" && kind && kind.value === "CS")
        return "Solvers apply to Model Exchange runs only: choose the ME interface.";
    }
    return "";
  }

  function check(el) {
    if (!el.name || el.name.indexOf("run.") !== 0) return true;
    el.setCustomValidity("");
    var problem = nativeProblem(el) || ruleProblem(el);
    el.setCustomValidity(problem);
    var box = errorBox(el);
    if (box) box.textContent = problem;
    if (problem) el.setAttribute("aria-invalid", "true"); else el.removeAttribute("aria-invalid");
    el.closest(".run-field").classList.toggle("has-error", !!problem);
    return !problem;
  }

  var linked = ["fmi_type", "solver", "start_time", "stop_time", "output_interval"];
  function onChange(event) {
    var el = event.target;
    if (!el.name || el.name.indexOf("run.") !== 0) return;
    if (linked.indexOf(el.name.slice(4)) >= 0) {
      linked.forEach(function (key) { var other = named(key); if (other) check(other); });
    } else {
      check(el);
    }
  }
  form.addEventListener("input", onChange);
  form.addEventListener("change", onChange);

  function shareUrl() {
    var params = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name.indexOf("run.") !== 0 || el.disabled) return;
      var value = el.type === "text" ? el.value : el.value.trim();
      if (value === "" || value === (el.dataset.default || "")) return;
      params.append(el.name, value);
    });
    var url = new URL(form.dataset.shareBase, window.location.href);
    url.search = params.toString();
    url.hash = "run";
    return url.href;
  }

  function share() {
    var href = shareUrl(), box = document.getElementById("run-share-box"),
        link = document.getElementById("run-share-link"), field = document.getElementById("run-share-url"),
        status = document.getElementById("run-share-status");
    link.href = href; field.value = href; box.hidden = false;
    window.history.replaceState(null, "", href);
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(href).then(
        function () { status.textContent = "Copied."; },
        function () { status.textContent = ""; });
    }
  }

  form.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter.value === "share") {
      event.preventDefault();
      share();
      return;
    }
    var first = null;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!check(el) && !first) first = el;
    });
    if (first) {
      event.preventDefault();
      var group = first.closest("details");
      if (group) group.open = true;
      first.focus();
    }
  });

  // The filter box: shows the variables whose name or description contains the text.
  var filter = document.getElementById("run-filter");
  if (filter) {
    filter.closest("label").hidden = false;
    filter.addEventListener("input", function () {
      var term = filter.value.trim().toLowerCase();
      form.querySelectorAll("details.run-group").forEach(function (group) {
        var shown = 0;
        group.querySelectorAll(".run-field").forEach(function (row) {
          var match = !term || row.dataset.filter.indexOf(term) >= 0;
          row.hidden = !match;
          if (match) shown += 1;
        });
        group.hidden = shown === 0;
        if (term && shown) group.open = true;
      });
    });
  }
})();
