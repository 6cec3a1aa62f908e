/* LightWay panels: small progressive enhancements. Everything works without it. */
"use strict";
(function () {
  // Move focus to the error summary so screen readers announce the problems.
  const summary = document.querySelector("[data-focus]");
  if (summary) summary.focus();

  // Print buttons (backup codes).
  document.querySelectorAll("[data-print]").forEach((button) => {
    button.addEventListener("click", () => window.print());
  });

  // Installable app: register the service worker (customer pages only).
  const sw = document.querySelector('meta[name="app-sw"]');
  if (sw && "serviceWorker" in navigator) {
    window.addEventListener("load", () => {
      navigator.serviceWorker.register(sw.content, { scope: "/app/" }).catch(() => {});
    });
  }
})();
