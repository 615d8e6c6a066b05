// Usage: node check_types.mjs EVENTS_JSON [ga|beta]
// Type-checks server events (a JSON array, as the server sent them) against the official `openai`
// package's own `RealtimeServerEvent` type (GA: openai/resources/realtime; beta:
// openai/resources/beta/realtime) with the TypeScript compiler: each event becomes an
// object literal of that type, so a wrong field type, a missing required field or a field the
// type does not know is a compile error. Prints {"checked": N, "errors": [{type, message}]}.
// The types declare fields the API may leave empty as optional (`?: T`), while the API (and so
// the server) sends them as `null` (`"noise_reduction": null`, `"usage": null` in
// `response.created`); such null fields are dropped before the check. So are the `id`, `object`
// and `expires_at` of a `session.created`/`session.updated` session: OpenAI sends them (see
// spec/realtime-protocol.md) but the package types that session as the create request, which
// has none of them. Nothing else is dropped.
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

const withoutNulls = (v) =>
  Array.isArray(v)
    ? v.map(withoutNulls)
    : v && typeof v === "object"
      ? Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, withoutNulls(x)]))
      : v;
const SESSION_WIRE_ONLY = ["id", "object", "expires_at"];
const withoutWireOnly = (e) => {
  if ((e.type === "session.created" || e.type === "session.updated") && e.session) {
    e.session = Object.fromEntries(Object.entries(e.session).filter(([k]) => !SESSION_WIRE_ONLY.includes(k)));
  }
  return e;
};
const events = JSON.parse(fs.readFileSync(process.argv[2], "utf8")).map(withoutNulls).map(withoutWireOnly);
const here = path.dirname(new URL(import.meta.url).pathname);
const file = path.join(here, `.events-${process.pid}.ts`);
const module = process.argv[3] === "beta" ? "openai/resources/beta/realtime/realtime" : "openai/resources/realtime/realtime";
const lines = [`import type { RealtimeServerEvent } from "${module}";`];
for (const [i, e] of events.entries()) {
  lines.push(`export const e${i}: RealtimeServerEvent = ${JSON.stringify(e)};`);
}
fs.writeFileSync(file, lines.join("\n") + "\n");
try {
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  });
  const errors = ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
    const event = events[line - 1];
    return {
      type: event ? event.type : null,
      message: ts.flattenDiagnosticMessageText(d.messageText, " "),
    };
  });
  console.log(JSON.stringify({ checked: events.length, errors }));
} finally {
  fs.rmSync(file, { force: true });
}
