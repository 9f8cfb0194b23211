// The silo console's only script. Pages are complete without it; it refreshes the
// inbox table every two seconds so a task that lands shows up without a reload.
// The rows come from the server already escaped (GET /inbox/rows); nothing here builds
// markup from data.
"use strict";
(function () {
  const body = document.querySelector("table[data-testid=inbox] tbody");
  if (!body) return;
  async function refresh() {
    try {
      const r = await fetch("/inbox/rows", { credentials: "same-origin", cache: "no-store" });
      if (r.ok) {
        const html = await r.text();
        if (html !== body.innerHTML) body.innerHTML = html;
      }
    } catch (e) {
      // The server is restarting or gone: try again at the next tick.
    }
  }
  setInterval(refresh, 2000);
})();
