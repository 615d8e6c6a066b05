"""OpenAI-compatible text to speech over Piper (fast CPU voices), streaming raw PCM.

POST /v1/audio/speech {"input", "voice", "speed", "response_format": "pcm"|"wav", "stream"}
streams 16-bit mono PCM at the voice's rate (22,050 Hz for joe-medium) sentence by sentence;
GET /v1/models, GET /health. Piper voices are single-speaker: any requested voice name is
spoken by the loaded voice. Standard library HTTP server.

    python piper_server.py VOICE.onnx HOST PORT
"""

import io
import json
import socket
import sys
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from piper import PiperVoice, SynthesisConfig

MAX_INPUT = 4096
VOICE_PATH, HOST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
voice = PiperVoice.load(VOICE_PATH)
RATE = voice.config.sample_rate
busy = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Streamed chunks are small writes: send them now, not after the peer's delayed ACK.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_json(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def fail(self, status, message):
        self.send_json(status, {"error": {"message": message, "type": "invalid_request_error"}})

    def do_GET(self):
        if self.path in ("/health", "/v1/health"):
            self.send_json(200, {"status": "ok", "sample_rate": RATE})
        elif self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [{"id": "piper", "object": "model"}]})
        else:
            self.fail(404, "not found")

    def chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_POST(self):
        if self.path != "/v1/audio/speech":
            return self.fail(404, "not found")
        length = int(self.headers.get("content-length") or 0)
        if not 0 < length <= 64 * 1024:
            return self.fail(400, "expected a JSON body up to 64 KiB")
        try:
            req = json.loads(self.rfile.read(length))
            text = str(req["input"]).strip()
            speed = float(req.get("speed") or 1.0)
        except (ValueError, KeyError, TypeError):
            return self.fail(400, "expected JSON with input (and optional voice, speed)")
        fmt = req.get("response_format", "pcm")
        if not text or len(text) > MAX_INPUT:
            return self.fail(400, f"input must be 1 to {MAX_INPUT} characters")
        if fmt not in ("pcm", "wav") or not 0.25 <= speed <= 4.0:
            return self.fail(400, "response_format must be pcm or wav; speed 0.25 to 4.0")
        config = SynthesisConfig(length_scale=1.0 / speed)
        with busy:
            if fmt == "wav":
                buf = io.BytesIO()
                with wave.open(buf, "wb") as w:
                    voice.synthesize_wav(text, w, syn_config=config)
                self.send_response(200)
                self.send_header("content-type", "audio/wav")
                self.send_header("content-length", str(buf.tell()))
                self.end_headers()
                self.wfile.write(buf.getvalue())
                return
            self.send_response(200)
            self.send_header("content-type", "audio/pcm")
            self.send_header("x-sample-rate", str(RATE))
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for part in voice.synthesize(text, syn_config=config):
                self.chunk(part.audio_int16_bytes)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()


if __name__ == "__main__":
    print(f"text to speech (piper, {RATE} Hz) on http://{HOST}:{PORT}/v1", flush=True)
    ThreadingHTTPServer((HOST, PORT), Handler).serve_forever()
