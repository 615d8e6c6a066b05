// Usage: node realtime.mjs BASE_URL API_KEY [EVENTS_OUT [PCM_FILE]]
// Connects with the official `openai` package's OpenAIRealtimeWS (GA, always wss://), runs a text
// turn and prints a JSON summary; with EVENTS_OUT, writes every server event there as a JSON
// array (for check_types.mjs). With PCM_FILE (pcm16, 24 kHz, mono speech then silence) a voice
// turn follows: server VAD, the speech appended in 100 ms pieces, a spoken answer; its summary is
// `voice`. Trust a self-signed server with NODE_EXTRA_CA_CERTS.
import fs from "node:fs";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const [base, apiKey, eventsOut, pcmFile] = process.argv.slice(2);
const client = new OpenAI({ apiKey, baseURL: `${base}/v1` });
const rt = await OpenAIRealtimeWS.create(client, { model: "local-model" });
const seen = [];
const all = [];
let text = "";
let status = null;
let phase = "text";
const voice = { heard: null, said: "", audio_bytes: 0, status: null };
const timer = setTimeout(() => { console.error("timed out", seen); process.exit(2); }, 30000);
rt.on("error", (err) => { console.error("realtime error", err.message); process.exit(3); });

const finish = () => {
  clearTimeout(timer);
  if (eventsOut) fs.writeFileSync(eventsOut, JSON.stringify(all));
  console.log(JSON.stringify({ events: seen, text, status, ...(pcmFile ? { voice } : {}) }));
  rt.close();
  process.exit(0);
};

const speak = () => {
  phase = "voice";
  rt.send({
    type: "session.update",
    session: {
      type: "realtime",
      output_modalities: ["audio"],
      audio: { input: { transcription: { model: "whisper-1" }, turn_detection: { type: "server_vad", silence_duration_ms: 300 } } },
    },
  });
  const pcm = fs.readFileSync(pcmFile);
  for (let i = 0; i < pcm.length; i += 4800) {
    rt.send({ type: "input_audio_buffer.append", audio: pcm.subarray(i, i + 4800).toString("base64") });
  }
};

rt.on("event", (event) => {
  seen.push(event.type);
  all.push(event);
  if (event.type === "session.created") {
    rt.send({ type: "session.update", session: { type: "realtime", output_modalities: ["text"] } });
    rt.send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: "Say hello" }] } });
    rt.send({ type: "response.create" });
  }
  if (event.type === "response.output_text.delta") text += event.delta;
  if (event.type === "conversation.item.input_audio_transcription.completed") voice.heard = event.transcript;
  if (event.type === "response.output_audio_transcript.delta") voice.said += event.delta;
  if (event.type === "response.output_audio.delta") voice.audio_bytes += Buffer.from(event.delta, "base64").length;
  if (event.type === "response.done") {
    if (phase === "text") {
      status = event.response.status;
      if (pcmFile) return speak();
      return finish();
    }
    voice.status = event.response.status;
    finish();
  }
});
