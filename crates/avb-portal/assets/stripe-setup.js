// Saves a card with Stripe Elements: the card form is Stripe's own (loaded from Stripe's
// origin), the card details go to Stripe only, and Stripe returns the browser to the payment
// page with the SetupIntent's id, which the server checks and makes the default card.
(function () {
  "use strict";
  const form = document.getElementById("stripe-setup");
  if (!form || typeof window.Stripe !== "function") {
    const err = document.getElementById("stripe-error");
    if (err) err.textContent = "Stripe could not be loaded; check your connection and reload the page.";
    return;
  }
  const stripe = window.Stripe(form.dataset.publishableKey);
  const elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
  elements.create("payment").mount("#stripe-payment-element");
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const err = document.getElementById("stripe-error");
    button.disabled = true;
    err.textContent = "";
    const result = await stripe.confirmSetup({
      elements: elements,
      confirmParams: { return_url: new URL(form.dataset.returnUrl, window.location.href).href },
    });
    // Only reached when Stripe could not confirm (a redirect follows success).
    if (result && result.error) err.textContent = result.error.message || "The card was not saved.";
    button.disabled = false;
  });
})();
