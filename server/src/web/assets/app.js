// Pinchwork's pages: keeps the live parts of a page current. Parts marked data-live are
// replaced by the same parts of a fresh copy of the page, either when the owner's event
// stream (data-stream) says something happened, or every data-poll milliseconds. A part
// holding the focus (a form being filled in) is left alone.
"use strict";
(function () {
  var body = document.body;
  var status = document.getElementById("live-status");
  function say(text) { if (status) { status.textContent = text; } }
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || !r.ok) { throw new Error("status " + r.status); }
        return r.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (part) {
          if (part.contains(document.activeElement)) { return; }
          var next = fresh.getElementById(part.id);
          if (next) { part.replaceWith(document.importNode(next, true)); }
        });
        say("Live · updated " + new Date().toLocaleTimeString());
      })
      .catch(function () { say("Live · offline, retrying"); })
      .finally(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }
  var stream = body.getAttribute("data-stream");
  if (stream && window.EventSource) {
    var timer = null;
    var source = new EventSource(stream);
    source.onopen = function () { say("Live"); };
    source.onerror = function () { say("Live · reconnecting"); };
    source.onmessage = null;
    var kinds = ["task_claimed", "task_delivered", "task_approved", "task_rejected",
      "task_cancelled", "task_expired", "deadline_expired", "rejection_grace_expired",
      "claim_timeout_expired", "task_question", "question_answered", "task_message", "refresh"];
    kinds.forEach(function (kind) {
      source.addEventListener(kind, function () {
        clearTimeout(timer);
        timer = setTimeout(refresh, 150);
      });
    });
  }
  var poll = parseInt(body.getAttribute("data-poll") || "0", 10);
  if (poll > 0) {
    say("Live");
    setInterval(refresh, poll);
  }
})();
