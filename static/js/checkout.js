// The card form of the order payment page (and of Upgrade to Pro and Buy credits): Stripe.js takes the card in the browser and confirms the
// order's PaymentIntent (or, with nothing to pay now, the SetupIntent that keeps the card for a
// subscription's renewals) with its client secret; the card never reaches our server. The order is
// paid when Stripe's webhook says so: on success the page reloads to follow that. Without
// JavaScript, or if Stripe.js cannot load, the page's "Stripe's payment page" button remains.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form) return;
  var errors = document.getElementById("card-errors");
  if (typeof window.Stripe !== "function") {
    document.getElementById("card-other").textContent =
      "The card form could not be loaded (Stripe.js is blocked or unreachable). Pay on Stripe's payment page instead:";
    return;
  }
  var stripe = window.Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  form.hidden = false;
  var button = form.querySelector("button[type=submit]");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    errors.textContent = "";
    var confirm = form.dataset.mode === "setup" ? stripe.confirmCardSetup : stripe.confirmCardPayment;
    confirm
      .call(stripe, form.dataset.clientSecret, { payment_method: { card: card } })
      .then(function (result) {
        if (result.error) {
          errors.textContent = result.error.message || "The card was not accepted.";
          button.disabled = false;
          return;
        }
        // A card kept for a subscription (Upgrade to Pro) is then sent to our server, which
        // subscribes with it; a payment is followed on the return page.
        var then = form.dataset.then && document.getElementById(form.dataset.then);
        if (then) {
          then.submit();
        } else {
          window.location.assign(form.dataset.returnUrl);
        }
      });
  });
})();
