"""Wake-word scoring sidecar: openWakeWord for the built-in words, PocketSphinx for any other phrase.

    python wakeword_server.py HOST PORT      (scripts/ovos.sh wakeword [PORT], default 8085)

Standard library HTTP server, JSON in and out; bad input is a 400 {"error": "..."}.

GET /health
    {"ok": true, "builtin": ["hey_jarvis", "hey_mycroft", "alexa", "okay_nabu", "hey_rhasspy"]}

POST /v1/wakeword/score?phrases=hey jarvis,hey computer&format=s16le[&threshold=1e-20]
    Body: raw 16 kHz mono signed 16-bit little-endian PCM, any length (up to 2 minutes); a last
    partial 80 ms chunk is padded with silence. Per phrase:
      {"phrase", "engine": "openwakeword"|"pocketsphinx", "accuracy": "high"|"experimental",
       "model" (built-in name) or "keyphrase" + "threshold", "max", "max_t_ms" (null when max is 0),
       "scores": [{"t_ms": 80, "score": 0.0}, ...]}   one per 80 ms chunk, t_ms = chunk end
    Built-in phrases (by name, "hey jarvis" or "hey_jarvis") use the openWakeWord models: each
    request starts from a stream that has heard 8 s of silence (the library's own warm-up,
    precomputed once), so there are no warm-up scores. Other phrases use PocketSphinx keyword
    spotting (kws_threshold = `threshold`): score 1.0 at the chunk where it fires, else 0.0.
    Also "duration_ms", "chunks" and "cpu_ms" ({"openwakeword"|"pocketsphinx": {"total",
    "per_chunk"}}: process CPU time, one request scored at a time).

POST /v1/wakeword/validate   {"phrase": "hey computer"}
    Checks a custom phrase against PocketSphinx's bundled CMU dictionary: >= 2 words and
    >= 6 phonemes, every word known. Returns {"ok", "problems": [...], "pronunciation":
    "HH EY . K AH M P Y UW T ER", "words": [{"word", "phones"|null}], "missing": [...],
    "phonemes", "engine", "accuracy", "note"}. Built-in phrases are always ok (engine
    openwakeword). Real-microphone accuracy of custom phrases is unknown: they are experimental.
"""

import collections
import json
import math
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
from pocketsphinx import Decoder
from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures

SAMPLE_RATE = 16000
CHUNK_SAMPLES = 1280  # 80 ms
CHUNK_BYTES = CHUNK_SAMPLES * 2
CHUNK_MS = 80
MAX_BODY = SAMPLE_RATE * 2 * 120  # two minutes of audio
MAX_JSON = 64 * 1024
MAX_PHRASES = 8
BUILTIN = ["hey_jarvis", "hey_mycroft", "alexa", "okay_nabu", "hey_rhasspy"]
DEFAULT_THRESHOLD = 1e-20
MIN_WORDS = 2
MIN_PHONEMES = 6
CUSTOM_NOTE = ("Custom phrases use PocketSphinx keyword spotting and are experimental: accuracy "
               "on real microphones is unknown. Measure detection and false-positive rates with "
               "synthesised speech before relying on one.")


class BadRequest(Exception):
    pass


def words_of(phrase: str) -> list:
    """Lower-case words of a phrase; '_' and '-' separate words like spaces."""
    words = [w for w in re.split(r"[\s_\-]+", phrase.strip().lower()) if w]
    for w in words:
        if not re.fullmatch(r"[a-z']+", w):
            raise BadRequest(f"word {w!r} has characters other than letters and apostrophes")
    return words


def builtin_name(words: list):
    name = "_".join(words)
    return name if name in BUILTIN else None


class OpenWakeWordScorer:
    """Shared features (mel + embedding) plus one model per built-in word.

    The library pre-fills 8 s of silence and yields 76 warm-up scores on a fresh stream; that state
    (after one more 80 ms chunk of silence) is computed once and restored for every request.
    """

    def __init__(self):
        self.features = OpenWakeWordFeatures.from_builtin()
        self.models = {name: OpenWakeWord.from_builtin(Model(name)) for name in BUILTIN}
        silence = bytes(CHUNK_BYTES)
        for emb in self.features.process_streaming(silence):
            for model in self.models.values():
                for _ in model.process_streaming(emb):
                    pass
        self.f_state = self._save(self.features, ("audio", "new_audio_samples", "mels", "new_mels"))
        self.m_state = {n: self._save(m, ("embeddings", "new_embeddings"))
                        for n, m in self.models.items()}

    @staticmethod
    def _save(obj, names):
        return {n: (getattr(obj, n).copy() if isinstance(getattr(obj, n), np.ndarray)
                    else getattr(obj, n)) for n in names}

    @staticmethod
    def _restore(obj, state):
        for n, v in state.items():
            setattr(obj, n, v.copy() if isinstance(v, np.ndarray) else v)

    def score(self, chunks: list, names: list) -> dict:
        self._restore(self.features, self.f_state)
        for n in names:
            self._restore(self.models[n], self.m_state[n])
        out = {n: [] for n in names}
        last = {n: 0.0 for n in names}
        for chunk in chunks:
            new = {n: None for n in names}
            for emb in self.features.process_streaming(chunk):
                for n in names:
                    for p in self.models[n].process_streaming(emb):
                        new[n] = p
            for n in names:
                if new[n] is not None:
                    last[n] = float(new[n])
                out[n].append(last[n])
        return out


class PocketSphinxScorer:
    """Keyword spotting; one decoder per (keyphrase, threshold), the most recent 16 kept."""

    def __init__(self):
        self.decoders = collections.OrderedDict()
        self.dict_decoder = Decoder(keyphrase="hey", kws_threshold=DEFAULT_THRESHOLD,
                                    loglevel="FATAL")
        self.dict_lock = threading.Lock()

    def lookup(self, word: str):
        with self.dict_lock:
            return self.dict_decoder.lookup_word(word)

    def decoder(self, keyphrase: str, threshold: float) -> Decoder:
        key = (keyphrase, threshold)
        if key in self.decoders:
            self.decoders.move_to_end(key)
            return self.decoders[key]
        d = Decoder(keyphrase=keyphrase, kws_threshold=threshold, loglevel="FATAL")
        self.decoders[key] = d
        while len(self.decoders) > 16:
            self.decoders.popitem(last=False)
        return d

    @staticmethod
    def score(d: Decoder, chunks: list) -> list:
        scores = []
        d.start_utt()
        for chunk in chunks:
            d.process_raw(chunk, False, False)
            if d.hyp() is not None:
                scores.append(1.0)
                d.end_utt()  # restart, so a later occurrence is detected again
                d.start_utt()
            else:
                scores.append(0.0)
        d.end_utt()
        return scores


OWW = OpenWakeWordScorer()
SPHINX = PocketSphinxScorer()
LOCK = threading.Lock()  # the CPU is the limit: one scoring at a time, and honest cpu_ms


def parse_phrases(query: dict) -> list:
    raw = query.get("phrases")
    if not raw or not raw[0].strip():
        raise BadRequest("query parameter 'phrases' is required (comma-separated)")
    phrases, seen = [], set()
    for part in raw[0].split(","):
        if not part.strip():
            continue
        words = words_of(part)
        key = " ".join(words)
        if key not in seen:
            seen.add(key)
            phrases.append((part.strip(), words))
    if not phrases:
        raise BadRequest("query parameter 'phrases' names no phrase")
    if len(phrases) > MAX_PHRASES:
        raise BadRequest(f"at most {MAX_PHRASES} phrases per request")
    return phrases


def parse_threshold(query: dict) -> float:
    if "threshold" not in query:
        return DEFAULT_THRESHOLD
    try:
        t = float(query["threshold"][0])
    except ValueError:
        raise BadRequest("'threshold' must be a number, e.g. 1e-20") from None
    if not (math.isfinite(t) and 0 < t <= 1):
        raise BadRequest("'threshold' must be in (0, 1], e.g. 1e-20")
    return t


def result_entry(phrase, engine, scores, extra):
    values = [round(s, 4) for s in scores]
    best = max(values) if values else 0.0
    best_i = values.index(best) if values else 0
    return {"phrase": phrase, "engine": engine,
            "accuracy": "high" if engine == "openwakeword" else "experimental", **extra,
            "max": best, "max_t_ms": (best_i + 1) * CHUNK_MS if best > 0 else None,
            "scores": [{"t_ms": (i + 1) * CHUNK_MS, "score": v} for i, v in enumerate(values)]}


def score(query: dict, body: bytes) -> dict:
    fmt = query.get("format", ["s16le"])[0]
    if fmt != "s16le":
        raise BadRequest("'format' must be s16le (16 kHz mono signed 16-bit little-endian PCM)")
    phrases = parse_phrases(query)
    threshold = parse_threshold(query)
    if not body:
        raise BadRequest("empty body: send raw 16 kHz mono s16le PCM")
    if len(body) % 2:
        raise BadRequest("body length is odd: s16le samples are 2 bytes each")
    plan = []  # (phrase, engine, builtin name or keyphrase)
    for phrase, words in phrases:
        name = builtin_name(words)
        if name:
            plan.append((phrase, "openwakeword", name))
            continue
        missing = [w for w in words if SPHINX.lookup(w) is None]
        if missing:
            raise BadRequest(f"phrase {phrase!r}: not in the pronunciation dictionary: "
                             f"{', '.join(missing)}")
        plan.append((phrase, "pocketsphinx", " ".join(words)))
    if len(body) % CHUNK_BYTES:
        body += bytes(CHUNK_BYTES - len(body) % CHUNK_BYTES)
    chunks = [body[i:i + CHUNK_BYTES] for i in range(0, len(body), CHUNK_BYTES)]
    results, cpu = {}, {}
    with LOCK:
        names = [x[2] for x in plan if x[1] == "openwakeword"]
        if names:
            t = time.process_time()
            oww = OWW.score(chunks, names)
            cpu["openwakeword"] = (time.process_time() - t) * 1000
        sphinx_cpu = 0.0
        for phrase, engine, target in plan:
            if engine == "openwakeword":
                results[phrase] = result_entry(phrase, engine, oww[target], {"model": target})
            else:
                decoder = SPHINX.decoder(target, threshold)  # ~0.2 s when new, not counted
                t = time.process_time()
                scores = SPHINX.score(decoder, chunks)
                sphinx_cpu += (time.process_time() - t) * 1000
                results[phrase] = result_entry(phrase, engine, scores,
                                               {"keyphrase": target, "threshold": threshold})
        if any(x[1] == "pocketsphinx" for x in plan):
            cpu["pocketsphinx"] = sphinx_cpu
    return {"sample_rate": SAMPLE_RATE, "chunk_ms": CHUNK_MS, "chunks": len(chunks),
            "duration_ms": round(len(chunks) * CHUNK_MS),
            "cpu_ms": {k: {"total": round(v, 2), "per_chunk": round(v / len(chunks), 3)}
                       for k, v in cpu.items()},
            "results": [results[p] for p, _, _ in plan]}


def validate(payload) -> dict:
    if not isinstance(payload, dict) or not isinstance(payload.get("phrase"), str):
        raise BadRequest('body must be a JSON object like {"phrase": "hey computer"}')
    phrase = payload["phrase"]
    if not phrase.strip():
        raise BadRequest("'phrase' is empty")
    if len(phrase) > 200:
        raise BadRequest("'phrase' is longer than 200 characters")
    words = words_of(phrase)
    name = builtin_name(words)
    entries, missing, phones = [], [], []
    for w in words:
        p = SPHINX.lookup(w)
        entries.append({"word": w, "phones": p})
        if p is None:
            missing.append(w)
        else:
            phones.append(p)
    n_phonemes = sum(len(p.split()) for p in phones)
    if name:
        return {"ok": True, "problems": [], "pronunciation": " . ".join(phones), "words": entries,
                "missing": missing, "phonemes": n_phonemes, "engine": "openwakeword",
                "accuracy": "high", "model": name,
                "note": "a built-in openWakeWord model: high accuracy"}
    problems = []
    if len(words) < MIN_WORDS:
        problems.append(f"use at least {MIN_WORDS} words (has {len(words)})")
    if missing:
        problems.append("not in the pronunciation dictionary: " + ", ".join(missing))
    if not missing and n_phonemes < MIN_PHONEMES:
        problems.append(f"too short: at least {MIN_PHONEMES} phonemes needed (has {n_phonemes})")
    return {"ok": not problems, "problems": problems, "pronunciation": " . ".join(phones),
            "words": entries, "missing": missing, "phonemes": n_phonemes,
            "engine": "pocketsphinx", "accuracy": "experimental", "note": CUSTOM_NOTE}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self, limit):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            raise BadRequest("chunked bodies are not supported: send Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            self.close_connection = True
            raise BadRequest("bad Content-Length") from None
        if n < 0 or n > limit:
            self.close_connection = True
            raise BadRequest(f"body too large (at most {limit} bytes)")
        return self.rfile.read(n)

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/health":
            self.send_json(200, {"ok": True, "builtin": BUILTIN})
        else:
            self.send_json(404, {"error": f"no such endpoint: GET {path}"})

    def do_POST(self):
        url = urlsplit(self.path)
        try:
            query = parse_qs(url.query, keep_blank_values=True)
            if url.path == "/v1/wakeword/score":
                self.send_json(200, score(query, self.read_body(MAX_BODY)))
            elif url.path == "/v1/wakeword/validate":
                body = self.read_body(MAX_JSON)
                try:
                    payload = json.loads(body or b"null")
                except ValueError:
                    raise BadRequest("body is not valid JSON") from None
                self.send_json(200, validate(payload))
            else:
                self.read_body(MAX_BODY)
                self.send_json(404, {"error": f"no such endpoint: POST {url.path}"})
        except BadRequest as e:
            self.send_json(400, {"error": str(e)})


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    print(f"wakeword server on http://{host}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
