"""OpenAI-compatible speech to text over faster-whisper, tuned for voice turns.

POST /v1/audio/transcriptions (multipart: file, model or model_name, language, prompt,
response_format json|text|verbose_json) -> {"text": ...}; GET /v1/models, GET /health.
Greedy decoding (beam 1), no timestamps, no VAD filter: the gateway already cut the turn.
Standard library HTTP server; one transcription at a time (the CPU is the limit).

    python stt_server.py MODEL_DIR MODEL_NAME HOST PORT
"""

import email.parser
import email.policy
import io
import json
import socket
import sys
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from faster_whisper import WhisperModel

MAX_UPLOAD = 50 * 1024 * 1024
MODEL_DIR, MODEL_NAME, HOST, PORT = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
model = WhisperModel(MODEL_DIR, device="cpu", compute_type="int8", cpu_threads=2,
                     local_files_only=True)
busy = threading.Lock()


def wav_to_16k(data: bytes):
    """A mono 16-bit WAV as float32 at 16 kHz, or None when it is not one (then PyAV decodes)."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            if w.getsampwidth() != 2:
                return None
            rate, channels = w.getframerate(), w.getnchannels()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)
    except (wave.Error, EOFError):
        return None
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1)
    pcm /= 32768.0
    if rate != 16000 and len(pcm):
        n = int(len(pcm) * 16000 / rate)
        pcm = np.interp(np.linspace(0, len(pcm) - 1, n), np.arange(len(pcm)), pcm)
    return pcm.astype(np.float32)


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
            self.send_json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [{"id": MODEL_NAME, "object": "model"}]})
        else:
            self.fail(404, "not found")

    def do_POST(self):
        if self.path != "/v1/audio/transcriptions":
            return self.fail(404, "not found")
        length = int(self.headers.get("content-length") or 0)
        ctype = self.headers.get("content-type") or ""
        if not ctype.startswith("multipart/form-data") or not 0 < length <= MAX_UPLOAD:
            return self.fail(400, "expected multipart/form-data up to 50 MiB")
        body = self.rfile.read(length)
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"content-type: " + ctype.encode() + b"\r\n\r\n" + body)
        fields, audio = {}, None
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if name == "file":
                audio = data
            elif name:
                fields[name] = data.decode("utf-8", "replace")
        if not audio:
            return self.fail(400, "the file field is required")
        requested = fields.get("model_name") or fields.get("model") or MODEL_NAME
        if requested not in (MODEL_NAME, "whisper-1"):
            return self.fail(400, f"model {requested!r} is not served here; use {MODEL_NAME!r}")
        source = wav_to_16k(audio)
        started = time.time()
        with busy:
            segments, info = model.transcribe(
                source if source is not None else io.BytesIO(audio),
                language=fields.get("language") or None,
                initial_prompt=fields.get("prompt") or None,
                beam_size=1, vad_filter=False, without_timestamps=True,
                condition_on_previous_text=False)
            text = "".join(s.text for s in segments).strip()
        fmt = fields.get("response_format", "json")
        if fmt == "text":
            raw = text.encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain; charset=utf-8")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        elif fmt == "verbose_json":
            self.send_json(200, {"text": text, "language": info.language,
                                 "duration": info.duration})
        else:
            self.send_json(200, {"text": text})
        sys.stderr.write(f"transcribed {info.duration:.2f}s in {time.time() - started:.3f}s\n")


if __name__ == "__main__":
    print(f"speech to text ({MODEL_NAME}) on http://{HOST}:{PORT}/v1", flush=True)
    ThreadingHTTPServer((HOST, PORT), Handler).serve_forever()
