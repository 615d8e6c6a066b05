// The wake-word test (ours, /voice/wake-words only): records the microphone through the
// playground's AudioWorklet (24 kHz Int16 PCM), posts it to the page's test URL with the form's
// CSRF token, and draws each phrase's score over time (uPlot, through charts.js's data-island
// contract) with its maximum. Up to 20 seconds.
(function () {
  "use strict";
  const form = document.getElementById("wake-test");
  if (!form) return;
  const start = form.querySelector("[data-act=start]");
  const stop = form.querySelector("[data-act=stop]");
  const status = document.getElementById("wake-test-status");
  const out = document.getElementById("wake-test-result");
  const MAX_SAMPLES = 24000 * 20;
  let ctx, stream, tap, parts = [], samples = 0, timer;

  function say(text) { status.textContent = text; }

  function toBase64(int16) {
    const bytes = new Uint8Array(int16.buffer, int16.byteOffset, int16.byteLength);
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(bin);
  }

  function show(report) {
    out.replaceChildren();
    for (const r of report.results) {
      const fig = document.createElement("figure");
      fig.className = "chart";
      fig.dataset.x = "seconds";
      const cap = document.createElement("figcaption");
      cap.textContent = `${r.phrase} (${r.engine}, ${r.accuracy}): max ${r.max.toFixed(3)}` +
        (r.max_t_ms != null ? ` at ${(r.max_t_ms / 1000).toFixed(2)} s` : "");
      const data = document.createElement("script");
      data.type = "application/json";
      data.className = "chart-data";
      data.textContent = JSON.stringify({
        x: r.scores.map((s) => s.t_ms / 1000),
        series: [{ label: "score", values: r.scores.map((s) => s.score) }],
      });
      fig.append(cap, data);
      out.append(fig);
    }
    document.dispatchEvent(new Event("htmx:afterSettle"));
  }

  async function finish() {
    clearTimeout(timer);
    stop.disabled = true;
    start.disabled = false;
    if (tap) tap.disconnect();
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (ctx) await ctx.close().catch(() => {});
    const all = new Int16Array(samples);
    let at = 0;
    for (const p of parts) { all.set(p, at); at += p.length; }
    if (samples < 2400) { say("Nothing was recorded: allow the microphone and speak."); return; }
    say("Scoring…");
    const body = new URLSearchParams({ csrf: form.elements.csrf.value, rate: "24000", audio: toBase64(all) });
    const res = await fetch(form.action, { method: "POST", body, headers: { Accept: "application/json" } });
    const json = await res.json().catch(() => null);
    if (!res.ok || !json || !json.results) {
      say(`Could not score: ${(json && json.error) || res.status}`);
      return;
    }
    say(`Scored ${(json.duration_ms / 1000).toFixed(1)} s of audio.`);
    show(json);
  }

  start.addEventListener("click", async () => {
    parts = []; samples = 0;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true } });
      ctx = new AudioContext();
      await ctx.audioWorklet.addModule(form.dataset.worklet);
      tap = new AudioWorkletNode(ctx, "mic-tap");
      tap.port.onmessage = (m) => {
        const chunk = new Int16Array(m.data);
        if (samples + chunk.length > MAX_SAMPLES) { finish(); return; }
        parts.push(chunk); samples += chunk.length;
      };
      ctx.createMediaStreamSource(stream).connect(tap);
    } catch (e) {
      say(`The microphone is not available: ${e.message}`);
      return;
    }
    start.disabled = true;
    stop.disabled = false;
    say("Recording… say the wake word, then press Stop (20 s at most).");
    timer = setTimeout(finish, 20000);
  });
  stop.addEventListener("click", finish);
})();
