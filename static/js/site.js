// Small enhancements shared by the storefront's pages. Behaviour is attached here, never in
// inline handlers: the Content-Security-Policy runs no inline script.
(function () {
  "use strict";
  // <select data-autosubmit>: apply the choice at once (a <noscript> button does it otherwise).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // <button data-copy="id" hidden>: copy the text of element #id (a key shown once) to the
  // clipboard; shown only where this script runs. The button says whether it worked.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    button.hidden = false;
    button.setAttribute("aria-live", "polite");
    var label = button.textContent;
    function done(text) {
      button.textContent = text;
      window.setTimeout(function () { button.textContent = label; }, 2000);
    }
    function fallback(text) {
      // Without the async clipboard (an insecure context): copy the selected text.
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      done(copied ? "Copied" : "Press Ctrl+C to copy");
    }
    button.addEventListener("click", function () {
      var text = source.textContent.trim();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          function () { done("Copied"); },
          function () { fallback(text); }
        );
      } else {
        fallback(text);
      }
    });
  });
  // <button data-print hidden>: print the page; shown only where this script runs.
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
