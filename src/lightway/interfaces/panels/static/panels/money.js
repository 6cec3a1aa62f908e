/* LightWay customer money pages: the countdown of an FX price on the send review. The page
   says the expiry time in text; this keeps the seconds left up to date, and says when the
   price has expired (the server refuses an expired price anyway). */
"use strict";
(function () {
  const box = document.querySelector("[data-expires]");
  if (!box) return;
  const expires = Date.parse(box.dataset.expires);
  if (Number.isNaN(expires)) return;
  function tick() {
    const left = Math.ceil((expires - Date.now()) / 1000);
    if (left <= 0) {
      box.textContent = box.dataset.expiredText;
      box.classList.add("expired");
      return;
    }
    box.textContent = box.dataset.leftText.replace("%(s)s", String(left));
    window.setTimeout(tick, 1000);
  }
  tick();
})();
