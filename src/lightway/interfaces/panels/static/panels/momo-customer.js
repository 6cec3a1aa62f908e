/* LightWay MoMo customer pages (/app/momo/). Forms that make a payment are sent once; the
   status page reads the payment's status.json every few seconds and updates in place until
   the payment is final. Without JavaScript the page reloads itself (a <noscript> refresh). */
"use strict";
(function () {
  // A form that makes a payment is sent once: a second click while it is on its way does
  // nothing (the server would answer the same payment anyway, by its idempotency key).
  document.querySelectorAll("form[data-once]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (form.dataset.sent === "1") { event.preventDefault(); return; }
      form.dataset.sent = "1";
      window.setTimeout(() => { form.dataset.sent = ""; }, 8000);
    });
  });

  const root = document.querySelector("[data-momo-status]");
  if (!root) return;
  const url = root.dataset.momoStatus;
  const baseDelay = parseInt(root.dataset.pollMs || "2500", 10);
  let terminal = root.dataset.terminal === "true";
  let delay = baseDelay;
  const started = Date.now();

  function setText(name, value) {
    root.querySelectorAll('[data-field="' + name + '"]').forEach((el) => {
      const text = value === undefined || value === null || value === "" ? "–" : String(value);
      if (el.textContent !== text) el.textContent = text;
    });
  }

  function renderSteps(steps) {
    const list = root.querySelector('[data-field="steps"]');
    if (!list || !Array.isArray(steps)) return;
    const items = steps.map((step) => {
      const li = document.createElement("li");
      li.className = "step step-" + step.state;
      if (step.state === "current") li.setAttribute("aria-current", "step");
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.setAttribute("aria-hidden", "true");
      const label = document.createElement("span");
      label.className = "step-label";
      label.textContent = step.label;
      const state = document.createElement("span");
      state.className = "visually-hidden";
      state.textContent = " (" + (step.state_text || step.state) + ")";
      li.append(dot, label, state);
      return li;
    });
    list.replaceChildren(...items);
  }

  function render(data) {
    root.className = root.className.replace(/\bphase-\S+/g, "").trim() + " phase-" + data.phase;
    const badge = root.querySelector('[data-field="status_label"]');
    if (badge) badge.className = "badge phase-" + data.phase;
    ["status_label", "headline", "detail", "balance_text", "momo_transaction_id"].forEach((name) => {
      setText(name, data[name]);
    });
    renderSteps(data.steps);
    document.title = data.kind_label + ": " + data.status_label + " · LightWay MoMo";
    if (data.terminal) {
      root.dataset.terminal = "true";
      root.querySelectorAll("[data-refresh]").forEach((el) => { el.hidden = true; });
      root.querySelectorAll("[data-terminal-actions]").forEach((el) => { el.hidden = false; });
    }
  }

  async function tick() {
    if (terminal) return;
    try {
      const response = await fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (response.ok) {
        const data = await response.json();
        render(data);
        terminal = Boolean(data.terminal);
        delay = baseDelay;
      } else if (response.status === 401 || response.status === 403 || response.status === 404) {
        return; // signed out or gone: the "Refresh now" link is still there
      } else {
        delay = Math.min(delay * 2, 30000);
      }
    } catch (error) {
      delay = Math.min(delay * 2, 30000); // offline for a moment: try again later
    }
    if (terminal) return;
    // After ten minutes, ask less often (MoMo may take a while; the sweep finishes it).
    const wait = Date.now() - started > 600000 ? Math.max(delay, 15000) : delay;
    window.setTimeout(tick, wait);
  }

  if (!terminal) window.setTimeout(tick, delay);
})();
