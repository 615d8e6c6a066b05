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

  // Record in the browser: <button data-record="input-id"> records the microphone with
  // MediaRecorder and puts the recording into that file input (DataTransfer), ready to submit.
  document.querySelectorAll("button[data-record]").forEach(function (b) {
    var input = document.getElementById(b.getAttribute("data-record"));
    var status = document.querySelector("[data-record-status='" + b.getAttribute("data-record") + "']");
    if (!input || !window.MediaRecorder || !navigator.mediaDevices || !window.DataTransfer) { return; }
    b.hidden = false;
    var recorder = null, chunks = [];
    function say(text) { if (status) { status.textContent = text; } }
    b.addEventListener("click", function () {
      if (recorder && recorder.state === "recording") { recorder.stop(); return; }
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
        chunks = [];
        recorder = new MediaRecorder(stream);
        recorder.addEventListener("dataavailable", function (e) { if (e.data.size) { chunks.push(e.data); } });
        recorder.addEventListener("stop", function () {
          stream.getTracks().forEach(function (t) { t.stop(); });
          var type = (recorder.mimeType || "audio/webm").split(";")[0];
          var ext = type.indexOf("ogg") >= 0 ? "ogg" : (type.indexOf("mp4") >= 0 ? "mp4" : "webm");
          var file = new File(chunks, "recording." + ext, { type: type });
          var dt = new DataTransfer();
          dt.items.add(file);
          input.files = dt.files;
          b.textContent = "Record again";
          say("Recorded " + Math.round(file.size / 1024) + " KB: press Transcribe.");
        });
        recorder.start();
        b.textContent = "Stop recording";
        say("Recording…");
      }, function (err) {
        say("The microphone cannot be used: " + err.message);
      });
    });
  });

  // Streamed answers: <form data-stream="url" data-output="element-id"> posts the form with
  // fetch and shows the server-sent events (token, done, error) as they arrive. Without
  // script the form posts normally and the page shows the whole answer.
  document.querySelectorAll("form[data-stream]").forEach(function (f) {
    if (!window.fetch || !window.TextDecoder) { return; }
    f.addEventListener("submit", function (e) {
      var out = document.getElementById(f.getAttribute("data-output"));
      if (!out) { return; }
      e.preventDefault();
      var reply = out.querySelector("[data-part='reply']");
      var timing = out.querySelector("[data-part='timing']");
      var heading = out.querySelector("h3");
      if (heading) { heading.hidden = false; }
      reply.textContent = "";
      timing.textContent = "Waiting for the first token…";
      var button = f.querySelector("button[type='submit']");
      if (button) { button.disabled = true; }
      function finish() { if (button) { button.disabled = false; } }
      function handle(event, data) {
        var v;
        try { v = JSON.parse(data); } catch (err) { v = data; }
        if (event === "token") {
          reply.textContent += v;
        } else if (event === "done") {
          var parts = ["Time to first token " + (v.ttft_ms == null ? "—" : Math.round(v.ttft_ms) + " ms"),
            "total " + Math.round(v.total_ms) + " ms",
            v.output_tokens + " tokens" + (v.tokens_estimated ? " (counted from the stream)" : "")];
          if (v.tokens_per_sec != null) { parts.push(v.tokens_per_sec.toFixed(1) + " tokens/s"); }
          timing.textContent = parts.join(", ") + " · " + v.model;
        } else if (event === "error") {
          timing.textContent = "";
          toast(String(v), "error");
          reply.textContent = String(v);
        }
      }
      fetch(f.getAttribute("data-stream"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(new FormData(f)).toString()
      }).then(function (res) {
        if (!res.ok || !res.body) {
          return res.text().then(function (t) { timing.textContent = ""; reply.textContent = t; toast(t, "error"); finish(); });
        }
        var reader = res.body.getReader(), decoder = new TextDecoder(), buffer = "";
        function pump() {
          return reader.read().then(function (r) {
            if (r.done) { finish(); return; }
            buffer += decoder.decode(r.value, { stream: true });
            var blocks = buffer.split("\n\n");
            buffer = blocks.pop();
            blocks.forEach(function (block) {
              var event = "message", data = [];
              block.split("\n").forEach(function (line) {
                if (line.indexOf("event:") === 0) { event = line.slice(6).trim(); }
                else if (line.indexOf("data:") === 0) { data.push(line.slice(5).replace(/^ /, "")); }
              });
              if (data.length) { handle(event, data.join("\n")); }
            });
            return pump();
          });
        }
        return pump();
      }).catch(function () {
        timing.textContent = "";
        toast("The server cannot be reached.", "error");
        finish();
      });
    });
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
