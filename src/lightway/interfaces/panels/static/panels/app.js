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

  // Phone navigation (customer pages): a disclosure button folds the menu on narrow
  // screens (CSS shows the list as it is on wide ones). Without this script the menu is a
  // plain list and the button stays hidden.
  const menuButton = document.querySelector("[data-menu-button]");
  const menu = menuButton && document.getElementById(menuButton.getAttribute("aria-controls"));
  if (menuButton && menu) {
    const setOpen = (open) => {
      menuButton.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("is-open", open);
    };
    menuButton.hidden = false;
    menu.classList.add("is-collapsible");
    setOpen(false);
    menuButton.addEventListener("click", () => {
      setOpen(menuButton.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && menuButton.getAttribute("aria-expanded") === "true") {
        setOpen(false);
        menuButton.focus();
      }
    });
  }

  // Installable app: register the service worker (customer pages only).
  const sw = document.querySelector('meta[name="app-sw"]');
  if (sw && "serviceWorker" in navigator) {
    window.addEventListener("load", () => {
      navigator.serviceWorker.register(sw.content, { scope: "/app/" }).catch(() => {});
    });
  }
})();
