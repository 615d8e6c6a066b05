// Usage: node realtime.mjs BASE_URL API_KEY [EVENTS_OUT]
// Connects with the official `openai` package's OpenAIRealtimeWS (GA, always wss://), runs a text
// turn and prints a JSON summary; with EVENTS_OUT, writes every server event there as a JSON
// array (for check_types.mjs). Trust a self-signed server with NODE_EXTRA_CA_CERTS.
import fs from "node:fs";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const [base, apiKey, eventsOut] = process.argv.slice(2);
const client = new OpenAI({ apiKey, baseURL: `${base}/v1` });
const rt = await OpenAIRealtimeWS.create(client, { model: "local-model" });
const seen = [];
const all = [];
let text = "";
const timer = setTimeout(() => { console.error("timed out", seen); process.exit(2); }, 30000);
rt.on("error", (err) => { console.error("realtime error", err.message); process.exit(3); });
rt.on("event", (event) => {
  seen.push(event.type);
  all.push(event);
  if (event.type === "session.created") {
    rt.send({ type: "session.update", session: { type: "realtime", output_modalities: ["text"] } });
    rt.send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: "Say hello" }] } });
    rt.send({ type: "response.create" });
  }
  if (event.type === "response.output_text.delta") text += event.delta;
  if (event.type === "response.done") {
    clearTimeout(timer);
    if (eventsOut) fs.writeFileSync(eventsOut, JSON.stringify(all));
    console.log(JSON.stringify({ events: seen, text, status: event.response.status }));
    rt.close();
    process.exit(0);
  }
});
