/* Service worker of the crisis console (served at /sw.js, scope: the whole origin).
 *
 * Network first, always: a tablet with a network sees the live console. What it keeps for a
 * dropped network is decided by the server: only GET answers marked "X-Offline: cache" are
 * stored (default deny); an unmarked answer removes any older copy of the same request. An
 * answer holding grant-opened data is never marked: when it names an unrestricted variant
 * ("X-Offline-Alternate"), that variant is stored in its place. Without network, a stored copy
 * is served with "X-Offline-Served: cache" (the page shows the offline banner); a page never
 * stored is answered by the "/offline" page; anything else fails as the network did.
 * Signing out clears it all (Clear-Site-Data, and offline.js asks for "clear").
 */
"use strict";

var CACHE = "crisis-offline-v1";
var FALLBACK = "/offline";
var MARK = "X-Offline";
var ALTERNATE = "X-Offline-Alternate";
var SERVED = "X-Offline-Served";
var SLOW_MS = 8000; // a weak network: after this, answer from the copy and let the network finish
var UNAVAILABLE = [502, 503, 504]; // a proxy in front of a stopped console: as good as offline

function marked(response) {
  return response && response.status === 200 && !response.redirected &&
    response.type === "basic" && response.headers.get(MARK) === "cache";
}

function noop() { return undefined; }

function keep(request, response) {
  // Store or forget: the copy always follows what the server last said about this request.
  // Called before the page reads the answer; only a marked answer is cloned (a clone never
  // read would hold a large download in memory).
  var copy = marked(response) ? response.clone() : null;
  var alternate = !copy && response.status === 200 && response.headers.get(ALTERNATE);
  if (!copy && !(alternate && new URL(alternate, self.location.origin).origin === self.location.origin)) {
    // Nothing to store: forget an older copy, but never create the cache for that (an answer
    // arriving after sign-out cleared the tablet must not bring the cache back).
    return caches.has(CACHE).then(function (exists) {
      return exists ? caches.open(CACHE).then(function (cache) { return cache.delete(request); }) : undefined;
    });
  }
  return caches.open(CACHE).then(function (cache) {
    if (copy) {
      return cache.put(request, copy);
    }
    return fetch(alternate, { credentials: "same-origin", headers: request.headers })
      .then(function (other) {
        return marked(other) ? cache.put(request, other) : cache.delete(request);
      })
      .catch(noop);
  });
}

function fromCache(request) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(request);
  }).then(function (found) {
    if (!found) { return null; }
    var headers = new Headers(found.headers);
    headers.set(SERVED, "cache");
    return found.blob().then(function (body) {
      return new Response(body, { status: found.status, statusText: found.statusText, headers: headers });
    });
  });
}

function offlineAnswer(request) {
  return fromCache(request).then(function (copy) {
    if (copy) { return copy; }
    if (request.mode === "navigate") {
      return fromCache(new Request(FALLBACK)).then(function (page) {
        return page || Response.error();
      });
    }
    return Response.error();
  });
}

function networkFirst(event) {
  var request = event.request;
  var timer = null;
  var network = fetch(request).then(function (response) {
    if (UNAVAILABLE.indexOf(response.status) !== -1) {
      // The console behind its proxy is down: the copy if there is one, else its error page.
      return fromCache(request).then(function (copy) { return copy || response; });
    }
    event.waitUntil(keep(request, response).catch(noop));
    return response;
  });
  var slow = new Promise(function (resolve) {
    timer = setTimeout(function () {
      fromCache(request).then(function (copy) { if (copy) { resolve(copy); } });
    }, SLOW_MS);
  });
  event.waitUntil(network.catch(noop)); // the network may finish (and refresh the copy) later
  return Promise.race([network, slow]).then(function (response) {
    clearTimeout(timer);
    return response;
  }, function () {
    clearTimeout(timer);
    return offlineAnswer(request);
  });
}

self.addEventListener("install", function (event) {
  event.waitUntil(
    fetch(FALLBACK, { credentials: "same-origin" }).then(function (response) {
      return keep(new Request(FALLBACK), response);
    }).catch(noop).then(function () {
      return self.skipWaiting();
    })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) { return name !== CACHE; })
        .map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin ||
      (request.headers.get("Accept") || "").indexOf("text/event-stream") !== -1) {
    return; // writes, other origins and event streams: straight to the network, never stored
  }
  event.respondWith(networkFirst(event));
});

// Fill the gaps of what a page needs offline (it was loaded before this worker controlled it):
// items are {key, url, htmx}; the answer to url is stored under key when the server marks it.
function warm(items) {
  return caches.open(CACHE).then(function (cache) {
    return items.reduce(function (done, item) {
      return done.then(function () {
        var headers = item.htmx ? { "HX-Request": "true" } : {};
        var key = new Request(item.key, { headers: headers, credentials: "same-origin" });
        return cache.match(key).then(function (found) {
          if (found) { return undefined; }
          return fetch(item.url || item.key, { headers: headers, credentials: "same-origin" })
            .then(function (response) {
              return marked(response) ? cache.put(key, response) : undefined;
            });
        }).catch(noop);
      });
    }, Promise.resolve());
  });
}

self.addEventListener("message", function (event) {
  var data = event.data || {};
  var reply = function (answer) {
    if (event.ports && event.ports[0]) { event.ports[0].postMessage(answer); }
  };
  if (data.type === "warm" && Array.isArray(data.items)) {
    event.waitUntil(warm(data.items).then(function () { reply({ type: "warmed" }); }));
  } else if (data.type === "clear") {
    event.waitUntil(caches.keys().then(function (names) {
      return Promise.all(names.map(function (name) { return caches.delete(name); }));
    }).then(function () { reply({ type: "cleared" }); }));
  }
});
