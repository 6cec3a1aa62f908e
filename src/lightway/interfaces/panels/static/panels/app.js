/* LightWay panels: small progressive enhancements. Everything works without it. */
"use strict";
(function () {
  // Move focus to the error summary so screen readers announce the problems.
  const summary = document.querySelector("[data-focus]");
  if (summary) summary.focus();

  // A wide table's box that scrolls sideways must be reachable by keyboard and named (the
  // templates say so with <div class="table-scroll" role="region" aria-label tabindex="0">;
  // this covers a box written without them, once it overflows).
  // Its name: the table's caption, else its section's heading and the word "table" (a
  // section named by the same heading is a landmark already; two of one name confuse).
  const tableWord = document.documentElement.lang.startsWith("fr") ? "tableau" : "table";
  const nameOf = (box) => {
    const caption = box.querySelector("caption");
    if (caption) return caption.textContent.trim();
    const section = box.closest("section, .card");
    const heading = section && section.querySelector("h1, h2, h3");
    const title = heading ? heading.textContent.trim().replace(/\s+/g, " ") : "";
    return title ? `${title} (${tableWord})` : tableWord;
  };
  const reachable = () => {
    document.querySelectorAll(".table-scroll, .table-wrap").forEach((box) => {
      if (box.hasAttribute("tabindex") || box.scrollWidth <= box.clientWidth) return;
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      if (!box.hasAttribute("aria-label") && !box.hasAttribute("aria-labelledby")) {
        box.setAttribute("aria-label", nameOf(box));
      }
    });
  };
  reachable();
  window.addEventListener("resize", reachable);
  document.addEventListener("htmx:afterSwap", reachable);

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
