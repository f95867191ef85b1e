// Corner Shop: progressive enhancement of the "Add to cart" buttons. Without
// JavaScript the buttons post a plain form; with it they call the JSON API,
// update the cart count in the header and show the degraded banner when the
// response carries the X-Session-Degraded header.
"use strict";
(function () {
  const banner = document.getElementById("degraded-banner");
  const count = document.getElementById("cart-count");
  const flash = document.getElementById("flash");

  function showFlash(kind, text) {
    if (!flash) return;
    flash.className = "flash " + kind;
    flash.textContent = text;
    flash.hidden = false;
  }

  function noteDegraded(resp) {
    if (banner) banner.hidden = resp.headers.get("X-Session-Degraded") !== "true";
  }

  async function add(form) {
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const resp = await fetch("/api/cart/items", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ productId: form.elements.productId.value, quantity: 1 }),
        credentials: "same-origin",
      });
      noteDegraded(resp);
      const body = await resp.json();
      if (!resp.ok) {
        showFlash("error", "Sorry: " + body.error + ".");
        return;
      }
      count.textContent = String(body.count);
      showFlash("ok", "Added " + button.dataset.name + " to your cart.");
      button.classList.add("added");
    } catch (e) {
      form.submit(); // the API failed in an unexpected way: post the plain form
    } finally {
      button.disabled = false;
    }
  }

  // Requests run one after the other: a visitor without a session who
  // clicks twice quickly would otherwise get two new sessions, and the
  // browser would keep only the second cookie.
  let queue = Promise.resolve();
  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (!form.classList || !form.classList.contains("add-form") || !window.fetch) return;
    ev.preventDefault();
    queue = queue.then(() => add(form));
  });
})();
