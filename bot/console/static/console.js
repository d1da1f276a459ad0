// The agent console's only script: keeps the page current from the server's live stream
// (server-sent events that carry re-rendered parts of the page), ticks the waiting times, and
// stops a double click from submitting a form twice. The console works without it, minus the
// live updates.
(function () {
  "use strict";

  function waitingWords(ms) {
    var minutes = Math.floor(ms / 60000);
    if (minutes < 1) { return "under a minute"; }
    if (minutes < 60) { return minutes + " min"; }
    var rest = minutes % 60;
    return Math.floor(minutes / 60) + " h " + (rest < 10 ? "0" : "") + rest + " min";
  }

  function tickWaiting() {
    document.querySelectorAll("time[data-since]").forEach(function (el) {
      el.textContent = waitingWords(Date.now() - Number(el.dataset.since));
    });
  }

  // Forms outside the live parts (reject, message) follow what the status panel allows.
  function applyPermissions() {
    var panel = document.querySelector('[data-fragment="case-status"] .status-panel');
    if (!panel) { return; }
    document.querySelectorAll("[data-needs]").forEach(function (el) {
      el.hidden = panel.getAttribute("data-can-" + el.dataset.needs) !== "yes";
    });
  }

  function scrollTranscript() {
    var box = document.querySelector(".transcript-box");
    if (box) { box.scrollTop = box.scrollHeight; }
  }

  function connect() {
    var base = document.body.dataset.live;
    if (!base || !window.EventSource) { return; }
    var seen = Array.prototype.map.call(
      document.querySelectorAll("[data-fragment]"),
      function (el) { return el.dataset.fragment + ":" + el.dataset.fingerprint; }
    ).join(",");
    var source = new EventSource(base + (base.indexOf("?") < 0 ? "?" : "&") +
                                 "seen=" + encodeURIComponent(seen));
    var banner = document.querySelector("[data-connection]");
    source.addEventListener("open", function () { banner.hidden = true; });
    source.addEventListener("fragment", function (event) {
      var update = JSON.parse(event.data);
      document.querySelectorAll('[data-fragment="' + update.name + '"]').forEach(function (el) {
        el.innerHTML = update.html;
      });
      if (update.name === "case-status") { applyPermissions(); }
      if (update.name === "transcript") { scrollTranscript(); }
      tickWaiting();
    });
    // The login ended or the case is gone: a reload shows the login page or says what happened.
    ["session", "gone"].forEach(function (name) {
      source.addEventListener(name, function () { source.close(); window.location.reload(); });
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) { window.location.reload(); return; }
      banner.hidden = false;
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.busy) { event.preventDefault(); return; }
    form.dataset.busy = "yes";
    setTimeout(function () { delete form.dataset.busy; }, 5000);
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.form &&
        target.tagName === "TEXTAREA") {
      event.preventDefault();
      target.form.requestSubmit();
    }
  });

  tickWaiting();
  setInterval(tickWaiting, 15000);
  scrollTranscript();
  connect();
})();
