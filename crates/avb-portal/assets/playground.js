// The playground page (/voice/playground): microphone -> /v1/realtime (GA dialect, with an
// ek_ secret minted by the portal) -> the answer played back, with the live transcript,
// barge-in and each turn's latency marks. No inline script: the page only links this file.
(() => {
  'use strict';
  const form = document.getElementById('playground');
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const startBtn = $('start');
  const stopBtn = $('stop');
  const statusEl = $('pg-status');
  const errorsEl = $('pg-errors');
  const transcript = $('transcript');
  const bytesEl = $('audio-bytes');
  const sessionEl = $('session-id');
  const turnsBody = document.querySelector('#turns tbody');
  const RATE = 24000;

  let ws = null;
  let audio = null; // AudioContext
  let stream = null;
  let tap = null; // AudioWorkletNode or ScriptProcessorNode
  let source = null;
  let playing = []; // scheduled AudioBufferSourceNodes
  let playHead = 0;
  let audioBytes = 0;
  let realtimeId = '';
  let turn = null; // marks of the turn under way
  let turnNo = 0;
  let assistantLine = null;
  const userLines = new Map(); // item_id -> <li>

  function status(text) { statusEl.textContent = text; }
  function fail(text) {
    const p = document.createElement('p');
    p.className = 'error';
    p.textContent = text;
    errorsEl.replaceChildren(p);
  }

  function line(role, text) {
    const li = document.createElement('li');
    li.className = role;
    const who = document.createElement('span');
    who.className = 'role';
    who.textContent = role === 'user' ? 'You' : 'Agent';
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.append(who, body);
    transcript.append(li);
    return li;
  }
  function setText(li, text) { li.querySelector('.text').textContent = text; }

  function wsURL(path) {
    const u = new URL(path, location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  }

  function b64(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  function send(event) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(event));
  }

  // ---- playback ---------------------------------------------------------------------------
  function play(base64) {
    const raw = atob(base64);
    audioBytes += raw.length;
    bytesEl.textContent = String(audioBytes);
    bytesEl.dataset.bytes = String(audioBytes);
    const n = raw.length >> 1;
    if (!audio || n === 0) return;
    const buf = audio.createBuffer(1, n, RATE);
    const ch = buf.getChannelData(0);
    for (let i = 0; i < n; i++) {
      let v = raw.charCodeAt(2 * i) | (raw.charCodeAt(2 * i + 1) << 8);
      if (v >= 0x8000) v -= 0x10000;
      ch[i] = v / 0x8000;
    }
    const node = audio.createBufferSource();
    node.buffer = buf;
    node.connect(audio.destination);
    const at = Math.max(playHead, audio.currentTime + 0.03);
    node.start(at);
    playHead = at + buf.duration;
    playing.push(node);
    node.onended = () => { playing = playing.filter((x) => x !== node); };
  }

  function stopPlayback() {
    for (const node of playing) { try { node.stop(); } catch (_) { /* not started */ } }
    playing = [];
    playHead = 0;
  }

  // ---- per-turn marks ----------------------------------------------------------------------
  function mark(name) {
    if (turn && turn[name] === undefined) turn[name] = performance.now();
  }
  function ms(name) {
    if (!turn || turn[name] === undefined || turn.stopped === undefined) return '—';
    return String(Math.round(turn[name] - turn.stopped));
  }
  function finishTurn(responseStatus) {
    if (!turn) return;
    mark('done');
    turnNo += 1;
    const tr = document.createElement('tr');
    const cells = [
      ['Turn', `${turnNo}${responseStatus && responseStatus !== 'completed' ? ` (${responseStatus})` : ''}`],
      ['Transcribed', ms('transcribed')],
      ['First text', ms('text')],
      ['First audio', ms('audio')],
      ['Response done', ms('done')],
    ];
    for (const [label, value] of cells) {
      const td = document.createElement('td');
      td.dataset.label = label;
      td.textContent = value;
      tr.append(td);
    }
    const td = document.createElement('td');
    td.dataset.label = 'Session';
    if (form.dataset.sessions && realtimeId) {
      const a = document.createElement('a');
      a.href = form.dataset.sessions + encodeURIComponent(realtimeId);
      a.textContent = 'Recorded session';
      td.append(a);
    } else {
      td.textContent = realtimeId || '—';
    }
    tr.append(td);
    turnsBody.append(tr);
    turn = null;
  }

  // ---- events ------------------------------------------------------------------------------
  function onEvent(e) {
    switch (e.type) {
      case 'session.created': {
        realtimeId = (e.session && e.session.id) || '';
        sessionEl.textContent = realtimeId || '—';
        const session = {
          type: 'realtime',
          audio: {
            input: {
              format: { type: 'audio/pcm', rate: RATE },
              transcription: { model: 'whisper-1' },
              turn_detection: { type: 'server_vad' },
            },
            output: { format: { type: 'audio/pcm', rate: RATE } },
          },
        };
        // A chosen persona supplies instructions, voice and speed; the fields override it.
        const persona = $('persona') && $('persona').selectedOptions[0];
        if (persona && persona.value) {
          session.instructions = persona.dataset.instructions;
          session.audio.output.voice = persona.dataset.voice;
          session.audio.output.speed = Number(persona.dataset.speed);
        }
        const voice = $('voice').value;
        if (voice) session.audio.output.voice = voice;
        const instructions = $('instructions').value.trim();
        if (instructions) session.instructions = instructions;
        send({ type: 'session.update', session });
        break;
      }
      case 'session.updated':
        status('Connected: speak now. Speaking while the agent answers interrupts it.');
        startMic().catch((err) => {
          fail(`The microphone could not be opened: ${err && err.message || err}. Allow microphone access for this site and start again.`);
          stop();
        });
        break;
      case 'input_audio_buffer.speech_started':
        // Barge-in: the server truncates the answer; stop what is queued here.
        stopPlayback();
        status('Listening…');
        break;
      case 'input_audio_buffer.speech_stopped':
        turn = { stopped: performance.now() };
        status('Thinking…');
        break;
      case 'conversation.item.input_audio_transcription.completed': {
        mark('transcribed');
        const text = (e.transcript || '').trim() || '(nothing recognised)';
        const li = userLines.get(e.item_id);
        if (li) setText(li, text); else userLines.set(e.item_id, line('user', text));
        break;
      }
      case 'response.created':
        assistantLine = null;
        break;
      case 'response.output_audio_transcript.delta':
      case 'response.output_text.delta':
        mark('text');
        if (!assistantLine) assistantLine = line('assistant', '');
        setText(assistantLine, assistantLine.querySelector('.text').textContent + (e.delta || ''));
        break;
      case 'response.output_audio_transcript.done':
        if (!assistantLine) assistantLine = line('assistant', '');
        if (e.transcript) setText(assistantLine, e.transcript);
        break;
      case 'response.output_audio.delta':
        mark('audio');
        play(e.delta || '');
        status('The agent is answering…');
        break;
      case 'response.done':
        finishTurn(e.response && e.response.status);
        assistantLine = null;
        status('Connected: speak now.');
        break;
      case 'error':
        fail(`The server reported: ${(e.error && (e.error.message || e.error.code)) || 'an error'}.`);
        break;
      default:
        break;
    }
  }

  // ---- microphone ----------------------------------------------------------------------------
  async function startMic() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error('this page is not a secure context (use https or localhost)');
    }
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
    if (!audio) return;
    source = audio.createMediaStreamSource(stream);
    const forward = (buffer) => {
      send({ type: 'input_audio_buffer.append', audio: b64(new Uint8Array(buffer)) });
    };
    if (audio.audioWorklet && window.AudioWorkletNode) {
      await audio.audioWorklet.addModule(form.dataset.worklet);
      tap = new AudioWorkletNode(audio, 'mic-tap', { numberOfInputs: 1, numberOfOutputs: 0 });
      tap.port.onmessage = (m) => forward(m.data);
      source.connect(tap);
    } else {
      // Fallback: ScriptProcessor at the context's rate (24 kHz), 40 ms-ish blocks.
      tap = audio.createScriptProcessor(1024, 1, 1);
      tap.onaudioprocess = (ev) => {
        const f = ev.inputBuffer.getChannelData(0);
        const out = new Int16Array(f.length);
        for (let i = 0; i < f.length; i++) {
          const s = Math.max(-1, Math.min(1, f[i]));
          out[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
        }
        forward(out.buffer);
      };
      source.connect(tap);
      tap.connect(audio.destination);
    }
  }

  // ---- start / stop --------------------------------------------------------------------------
  async function start() {
    errorsEl.replaceChildren();
    startBtn.disabled = true;
    stopBtn.disabled = false;
    status('Getting a session secret…');
    try {
      audio = new AudioContext({ sampleRate: RATE });
    } catch (_) {
      audio = new AudioContext();
    }
    await audio.resume().catch(() => {});
    let secret;
    try {
      const body = new URLSearchParams({
        csrf: form.elements.csrf.value,
        project: $('project').value,
      });
      const res = await fetch(form.dataset.secretUrl, {
        method: 'POST',
        body,
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
      });
      const json = await res.json().catch(() => null);
      if (!res.ok || !json || !json.value) {
        const why = json && json.error && json.error.message;
        throw new Error(why || `the portal answered ${res.status}`);
      }
      secret = json.value;
    } catch (err) {
      fail(`No session secret: ${err.message}. Reload the page and try again.`);
      stop();
      return;
    }
    status('Connecting…');
    const model = form.dataset.model ? `?model=${encodeURIComponent(form.dataset.model)}` : '';
    ws = new WebSocket(wsURL(`/v1/realtime${model}`), ['realtime', `openai-insecure-api-key.${secret}`]);
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onmessage = (m) => {
      let e;
      try { e = JSON.parse(m.data); } catch (_) { return; }
      onEvent(e);
    };
    ws.onerror = () => {
      if (!opened) fail('The realtime socket could not be opened (is the gateway or an engine down?).');
    };
    ws.onclose = (ev) => {
      if (ws && ev.code !== 1000 && ev.code !== 1005) {
        fail(`The session ended: ${ev.reason || `code ${ev.code}`}.`);
      }
      stop();
    };
  }

  function stop() {
    const socket = ws;
    ws = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, 'stopped');
    stopPlayback();
    if (tap) { try { tap.disconnect(); } catch (_) { /* gone */ } tap = null; }
    if (source) { try { source.disconnect(); } catch (_) { /* gone */ } source = null; }
    if (stream) { for (const t of stream.getTracks()) t.stop(); stream = null; }
    if (audio) { audio.close().catch(() => {}); audio = null; }
    turn = null;
    startBtn.disabled = false;
    stopBtn.disabled = true;
    if (!errorsEl.childElementCount) status('Not connected.');
    else status('Stopped.');
  }

  startBtn.addEventListener('click', () => { start(); });
  stopBtn.addEventListener('click', () => { stop(); });
})();
