// AgentVoiceBox portal: the little behaviour pages need beyond htmx. No inline handlers (the CSP
// forbids them): everything is wired here from data attributes.
(function () {
  "use strict";

  // Toasts: server-rendered ones (.toast) and those raised by htmx responses
  // (HX-Trigger: {"toast": {"message": "...", "kind": "success|error"}}).
  function region() {
    var r = document.getElementById("toasts");
    if (!r) {
      r = document.createElement("div");
      r.id = "toasts";
      r.setAttribute("aria-live", "polite");
      document.body.appendChild(r);
    }
    return r;
  }
  function dismissLater(el) {
    setTimeout(function () { el.remove(); }, 6000);
  }
  function toast(message, kind) {
    var el = document.createElement("div");
    el.className = "toast " + (kind === "error" ? "toast-error" : "toast-success");
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.textContent = message;
    region().appendChild(el);
    dismissLater(el);
  }
  document.querySelectorAll(".toast").forEach(dismissLater);
  document.body.addEventListener("toast", function (e) {
    var d = e.detail || {};
    toast(d.message || String(d.value || ""), d.kind);
  });
  document.body.addEventListener("htmx:responseError", function (e) {
    // An error page of the portal raises its own toast (HX-Trigger) saying what went wrong.
    var xhr = e.detail && e.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Trigger")) { return; }
    toast("Refreshing failed; it will be retried.", "error");
  });
  document.body.addEventListener("htmx:sendError", function () {
    toast("The server cannot be reached; it will be retried.", "error");
  });

  // The phone menu: a disclosure button announcing whether the navigation is open.
  var menu = document.getElementById("menu");
  if (menu) {
    menu.addEventListener("click", function () {
      var open = menu.getAttribute("aria-expanded") !== "true";
      menu.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // Copy buttons: <button data-copy="element-id">.
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var src = document.getElementById(b.getAttribute("data-copy"));
      if (!src || !navigator.clipboard) { return; }
      navigator.clipboard.writeText((src.value || src.textContent).trim()).then(function () {
        toast("Copied to the clipboard.", "success");
      }, function () {
        toast("Copying failed: select the text and copy it by hand.", "error");
      });
    });
  });

  // Forms that need a confirmation first: <form data-confirm="question">.
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });

  // Ordered lists (persona solvers): rows can be dragged; the Up/Down buttons are the keyboard
  // alternative and work without script. The hidden input named by data-reorder keeps the order.
  document.querySelectorAll("ol[data-reorder]").forEach(function (list) {
    var input = list.form && list.form.elements[list.getAttribute("data-reorder")];
    var dragged = null;
    function sync() {
      if (!input) { return; }
      var names = [];
      list.querySelectorAll("li[data-solver]").forEach(function (li) { names.push(li.getAttribute("data-solver")); });
      input.value = names.join(",");
    }
    list.addEventListener("dragstart", function (e) {
      dragged = e.target.closest("li");
      if (e.dataTransfer) { e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", ""); }
    });
    list.addEventListener("dragover", function (e) {
      var over = e.target.closest("li");
      if (!dragged || !over || over === dragged) { return; }
      e.preventDefault();
      var after = e.clientY > over.getBoundingClientRect().top + over.offsetHeight / 2;
      list.insertBefore(dragged, after ? over.nextSibling : over);
    });
    list.addEventListener("drop", function (e) { e.preventDefault(); sync(); });
    list.addEventListener("dragend", function () { dragged = null; sync(); });
  });

  // Offline indicator; when the connection returns, live regions refresh at once.
  function online(on) {
    var banner = document.getElementById("offline");
    if (banner) { banner.hidden = on; }
    if (on && window.htmx) { window.htmx.trigger(document.body, "resume"); }
  }
  window.addEventListener("offline", function () { online(false); });
  window.addEventListener("online", function () { online(true); });

  // Voice previews follow the speed slider: <input data-preview-speed> rewrites the speed of
  // every <audio data-preview> source and its <output>.
  var speed = document.querySelector("input[data-preview-speed]");
  if (speed) {
    speed.addEventListener("input", function () {
      var out = document.getElementById("speed-value");
      if (out) { out.textContent = Number(speed.value).toFixed(2) + "\u00d7"; }
      document.querySelectorAll("audio[data-preview]").forEach(function (a) {
        var url = new URL(a.getAttribute("src"), window.location.href);
        url.searchParams.set("speed", speed.value);
        a.setAttribute("src", url.pathname + url.search);
      });
    });
  }
})();
