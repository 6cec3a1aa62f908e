/* LightWay service worker (docs/panels.md, "Installable app and the offline page").
   - Caches the app shell: the panel's CSS, JS and icons, and the offline page in each
     language (/app/offline/?lang=en|fr). Nothing personal is ever cached: pages and API
     answers always come from the network.
   - A page that cannot be reached (offline, server down) shows the offline page, in the
     language of the last page seen (its Content-Language header). */
"use strict";
const CACHE = "lightway-shell-v2";
const ASSETS = __ASSETS__;
const OFFLINE = __OFFLINE__; // {"en": "/app/offline/?lang=en", ...}
const PREFIX = "__PREFIX__";
const LANGUAGE_KEY = "/app/offline/__language__";

self.addEventListener("install", (event) => {
  const pages = Object.values(OFFLINE);
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(ASSETS.concat(pages))).then(() => self.skipWaiting())
  );
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

function rememberLanguage(response) {
  const language = (response.headers.get("Content-Language") || "").slice(0, 2);
  if (!OFFLINE[language]) return;
  caches.open(CACHE).then((cache) => cache.put(LANGUAGE_KEY, new Response(language)));
}

function offlinePage() {
  return caches.open(CACHE).then((cache) =>
    cache.match(LANGUAGE_KEY)
      .then((hit) => (hit ? hit.text() : "en"))
      .then((language) => cache.match(OFFLINE[language] || OFFLINE.en))
      .then((page) => page || cache.match(OFFLINE.en))
      .then((page) => page || new Response("Offline", { status: 503, headers: { "Content-Type": "text/plain" } }))
  );
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (request.mode === "navigate" && url.origin === self.location.origin) {
    // Pages: always the network (never cached); the offline page when it cannot answer.
    event.respondWith(
      fetch(request)
        .then((response) => {
          rememberLanguage(response);
          return response;
        })
        .catch(() => offlinePage())
    );
    return;
  }
  if (!isStatic(url)) return; // forms, API, JSON: straight to the network
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
