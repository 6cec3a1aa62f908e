/* LightWay service worker: caches the panel's static files (CSS, JS, icons) so the app
   starts fast and offline shows a styled error. Pages and API answers are never cached:
   they hold personal data and must always be fresh. */
"use strict";
const CACHE = "lightway-static-v1";
const ASSETS = __ASSETS__;
const PREFIX = "__PREFIX__";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(ASSETS)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

function isStatic(url) {
  return url.origin === self.location.origin &&
    (url.pathname.startsWith(PREFIX) || url.pathname.startsWith("/app/icons/"));
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (!isStatic(url)) return; // pages, forms, API: straight to the network
  event.respondWith(
    caches.open(CACHE).then((cache) =>
      cache.match(request).then((hit) => {
        const fresh = fetch(request).then((response) => {
          if (response.ok) cache.put(request, response.clone());
          return response;
        });
        return hit || fresh;
      })
    )
  );
});
