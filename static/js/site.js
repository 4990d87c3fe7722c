// Small enhancements shared by the storefront's pages. Behaviour is attached here, never in
// inline handlers: the Content-Security-Policy runs no inline script.
(function () {
  "use strict";
  // <select data-autosubmit>: apply the choice at once (a <noscript> button does it otherwise).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // <button data-print hidden>: print the page; shown only where this script runs.
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
