// Salescope pages: the region map (Leaflet, no tile server) and small conveniences.
// No inline script anywhere (the Content-Security-Policy forbids it): everything is here.
(function () {
  "use strict";

  function el(tag, text, href) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text; // never innerHTML: names come from data
    if (href) node.setAttribute("href", href);
    return node;
  }

  const COLOURS = { served: "#1565c0", prospect: "#b0bec5", add: "#2e7d32", drop: "#c62828" };
  const REP_COLOURS = ["#6a1b9a", "#00838f", "#ef6c00", "#2e7d32", "#ad1457", "#4e342e", "#283593", "#827717"];

  function drawMap(container) {
    if (typeof L === "undefined") return;
    fetch(container.dataset.src, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        const map = L.map(container, { zoomSnap: 0.25, attributionControl: false });
        const bounds = [];
        if (data.outline && data.outline.length) {
          L.polygon(data.outline, { color: "#90a4ae", weight: 2, fillColor: "#ffffff", fillOpacity: 1 }).addTo(map);
          data.outline.forEach(function (p) { bounds.push(p); });
        }
        data.reps.forEach(function (rep, i) {
          const colour = REP_COLOURS[i % REP_COLOURS.length];
          if (rep.territory && rep.territory.length) {
            L.polygon(rep.territory, { color: colour, weight: 1, fillOpacity: 0.08 }).addTo(map);
          }
          const popup = el("div");
          popup.appendChild(el("strong", rep.name));
          popup.appendChild(el("div", rep.id + " · " + (rep.role || "rep")));
          L.circleMarker([rep.lat, rep.lon], { radius: 8, color: "#212121", weight: 2, fillColor: colour, fillOpacity: 1 })
            .bindPopup(popup).addTo(map);
          bounds.push([rep.lat, rep.lon]);
        });
        data.shops.forEach(function (shop) {
          const popup = el("div");
          popup.appendChild(el("strong", shop.name));
          popup.appendChild(el("div", shop.id + " · " + shop.kind));
          if (shop.rec_id) popup.appendChild(el("a", "recommendation: " + shop.recommendation, "/recommendations/" + shop.rec_id));
          L.circleMarker([shop.lat, shop.lon], {
            radius: shop.kind === "add" || shop.kind === "drop" ? 5 : 3.5,
            color: COLOURS[shop.kind], weight: 1, fillColor: COLOURS[shop.kind], fillOpacity: 0.85,
          }).bindPopup(popup).addTo(map);
          bounds.push([shop.lat, shop.lon]);
        });
        if (bounds.length) map.fitBounds(bounds, { padding: [12, 12] });
        else map.setView([0, 0], 2);
        container.dataset.ready = "1";
      })
      .catch(function () { container.textContent = "The map could not be loaded."; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const map = document.getElementById("map");
    if (map) drawMap(map);
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  });
})();
