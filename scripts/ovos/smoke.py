"""Smoke test of a running ovos-core, over the bus, as the platform's gateway will talk to it.

    "$(scripts/ovos.sh python)" scripts/ovos/smoke.py [UTTERANCE ...]

Bus URL from OVOS_BUS_HOST/PORT/ROUTE/TOKEN (see common.py). Announces the network (the PHAL
role, so network-needing skills load), then sends each utterance as a `recognizer_loop:utterance`
with a fresh session per turn (source "avb-gateway"), answers every `speak` with
`recognizer_loop:audio_output_start`/`_end` (the audio service role) and prints the matched intent,
the spoken text and the ms from sending to the first `speak`. Exits 1 when "what time is it"
gets no `speak` within 5 s.
"""

import json
import re
import socket
import sys
import time
import uuid

import websocket

from common import bus_url

UTTERANCES = ["what time is it", "hello world", "say the quick brown fox", "blorp fizzle wumpus"]
MUST_SPEAK = {"what time is it": 5.0}  # utterance -> seconds within which a speak must come
TURN_TIMEOUT_S = 20.0
SOURCE = "avb-gateway"
FALLBACK_REQUEST = re.compile(r"^ovos\.skills\.fallback\.(.+)\.request$")


def send(ws, msg_type, data=None, context=None):
    ws.send(json.dumps({"type": msg_type, "data": data or {}, "context": context or {}}))


def intent_of(msg_type: str):
    """The match a message reveals: '<skill_id>:<intent>', 'fallback:<skill_id>' or None."""
    m = FALLBACK_REQUEST.match(msg_type)
    if m:
        return f"fallback:{m.group(1)}"
    head, sep, _ = msg_type.partition(":")
    # intent messages are "<skill_id>:<intent name>", and skill ids carry a dot (x.openvoiceos)
    if sep and "." in head and not head.startswith(("ovos.", "mycroft.")):
        return msg_type
    return None


def turn(ws, utterance: str, session_id: str) -> dict:
    context = {"session": {"session_id": session_id, "lang": "en-US"},
               "source": SOURCE, "destination": ["skills"]}
    result = {"intent": None, "speak": [], "first_speak_ms": None, "handled_ms": None}
    t0 = time.perf_counter()
    send(ws, "recognizer_loop:utterance", {"utterances": [utterance], "lang": "en-US"}, context)
    deadline = t0 + TURN_TIMEOUT_S
    while time.perf_counter() < deadline:
        ws.settimeout(max(0.05, deadline - time.perf_counter()))
        try:
            raw = ws.recv()
        except websocket.WebSocketTimeoutException:
            break
        now_ms = (time.perf_counter() - t0) * 1000
        try:
            msg = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(msg, dict):
            continue
        ctx = msg.get("context") or {}
        session = ctx.get("session") or {}
        if session.get("session_id") != session_id:
            continue
        if ctx.get("source") == SOURCE and msg.get("type") in (
                "recognizer_loop:utterance", "recognizer_loop:audio_output_start",
                "recognizer_loop:audio_output_end"):
            continue  # our own echo (the bus relays to the sender too)
        msg_type = msg.get("type", "")
        data = msg.get("data") or {}
        if result["intent"] is None:
            result["intent"] = intent_of(msg_type)
        if msg_type == "speak":
            if result["first_speak_ms"] is None:
                result["first_speak_ms"] = now_ms
            result["speak"].append(data.get("utterance", ""))
            # the audio service's part: "played" at once
            send(ws, "recognizer_loop:audio_output_start", {}, ctx)
            send(ws, "recognizer_loop:audio_output_end", {}, ctx)
        elif msg_type == "complete_intent_failure":
            result["intent"] = result["intent"] or "(complete_intent_failure)"
        elif msg_type == "ovos.utterance.handled":
            result["handled_ms"] = now_ms
            break
    return result


def main(argv) -> int:
    utterances = argv or UTTERANCES
    url = bus_url("avb-smoke")
    ws = websocket.create_connection(url, timeout=5,
                                     sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),))
    # the PHAL role: network-needing skills (spelling, wordnet) load only once this is announced
    send(ws, "mycroft.network.connected", {}, {"source": SOURCE})
    send(ws, "mycroft.internet.connected", {}, {"source": SOURCE})
    run = uuid.uuid4().hex[:8]
    failed = False
    for i, utterance in enumerate(utterances):
        r = turn(ws, utterance, f"avb-smoke:{run}:{i}")
        first = f"{r['first_speak_ms']:.0f} ms" if r["first_speak_ms"] is not None else "none"
        handled = f"{r['handled_ms']:.0f} ms" if r["handled_ms"] is not None else "not seen"
        print(f"{utterance!r}\n  intent: {r['intent']}\n  spoke:  {' | '.join(r['speak']) or '-'}"
              f"\n  first speak: {first}; handled: {handled}", flush=True)
        limit = MUST_SPEAK.get(utterance)
        if limit is not None and (r["first_speak_ms"] is None or r["first_speak_ms"] > limit * 1000):
            print(f"FAIL: {utterance!r} got no speak within {limit:.0f} s", file=sys.stderr)
            failed = True
    ws.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
