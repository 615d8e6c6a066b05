#!/usr/bin/env python3
"""Voicelab: fits a "closest stock-voice blend" to an uploaded voice sample (issue 12 item 6, B13).

NOT voice cloning: the result is a weighted blend of Kokoro's English stock voices (a*, b*), chosen to
maximise the cosine similarity, under Resemblyzer's GE2E speaker encoder (numpy port in
speaker_embed.py, weights `pretrained.pt` from the PyPI wheel Resemblyzer==0.1.4), between the
sample and speech synthesised with the blend. The method is the research prototype's
(docs/research/custom-voices/voice_blend.py, FINDINGS.md). The voice it returns, e.g.
`af_heart(0.51)+bf_emma(0.49)`, is what scripts/engines/kokoro_server.py accepts as `voice`.

Run with the fastkokoro venv's python (numpy, onnxruntime, fastkokoro, fastapi, uvicorn):
  voicelab.py serve --tts-dir TTS_DIR --data-dir DIR [--host 127.0.0.1] [--port 8084]
  voicelab.py build-bank --tts-dir TTS_DIR --data-dir DIR [--lang en-us]
DIR holds deps/resemblyzer/pretrained.pt and the stock-voice banks (bank-<lang>.npz: each
candidate's embedding for the scoring sentence; made at install, other languages on first use).

HTTP:
  GET  /health -> {"status":"ok","stock_voices":N}
  POST /v1/voice-fits?budget_s=5..300 (120)&lang=en-us, body: a 16-bit PCM WAV (<= 25 MB)
       -> 400 {"error":...} for a bad request, else 200 application/x-ndjson: progress lines, then
       one {"type":"done",...} or {"type":"error",...}. One fit at a time.
Uses one private fastkokoro 0.7.0 method, FastKokoro._create_samples (synthesis from a style array),
as the prototype does.
"""

import argparse
import asyncio
import hashlib
import io
import json
import os
import queue
import struct
import sys
import threading
import time
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SCORE_TEXT = ("Thanks for calling. I can help you check the status of your order, "
              "or change the delivery address.")
CHECK_TEXT = "The weather should be clear tomorrow morning, so we can leave early for the lake."
MAX_BODY = 25 * 1024 * 1024
MAX_SAMPLE_SECONDS = 120.0  # only the first two minutes of a sample are embedded
MIN_SAMPLE_SECONDS = 1.0
TOPK = 5
HEARTBEAT_S = 2.0


class Cancelled(Exception):
    pass


class Lab:
    """Kokoro + the speaker encoder + the stock-voice banks, loaded once."""

    def __init__(self, tts_dir: str, data_dir: str):
        os.environ.setdefault("FASTKOKORO_MODEL_PATH", os.path.join(tts_dir, "kokoro-v1.0.int8.onnx"))
        os.environ.setdefault("FASTKOKORO_VOICES_PATH", os.path.join(tts_dir, "voices-v1.0.npz"))
        os.environ.setdefault("FASTKOKORO_CACHE_DIR", os.path.join(tts_dir, "cache"))
        os.environ["FASTKOKORO_WARMUP"] = "0"
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import numpy as np
        from fastkokoro.engine import FastKokoro
        from fastkokoro.voices import normalize_language
        import speaker_embed as se

        self.np, self.se, self.normalize_language = np, se, normalize_language
        self.data_dir = data_dir
        self.engine = FastKokoro()
        self.encoder = se.SpeakerEncoder(os.path.join(data_dir, "deps", "resemblyzer", "pretrained.pt"))
        stock = np.load(os.environ["FASTKOKORO_VOICES_PATH"])
        self.stock_count = len(stock.files)
        self.names = sorted(n for n in stock.files if n[:1] in ("a", "b"))  # English voices
        self.V = {n: stock[n].astype(np.float32) for n in self.names}
        digest = hashlib.sha1(SCORE_TEXT.encode())
        for n in self.names:
            digest.update(n.encode())
            digest.update(self.V[n].tobytes())
        self.voices_digest = digest.hexdigest()[:16]
        self.banks: dict[str, "np.ndarray"] = {}
        self.checks: dict[tuple[str, str], "np.ndarray"] = {}  # (lang, voice) -> CHECK_TEXT embedding
        self.synth(self.V[self.names[0]], "Hello.", "en-us")  # first ONNX run is slow; not in a fit

    # ------------------------------------------------------------------ synthesis + embedding
    def synth(self, style, text, lang):
        audio, sr = self.engine._create_samples(text, voice=style, speed=1.0, lang=lang)
        return self.np.asarray(audio, dtype=self.np.float32), sr

    def embed_style(self, style, text, lang):
        audio, sr = self.synth(style, text, lang)
        return self.encoder.embed(audio, sr)

    def bank(self, lang, progress=lambda done, total: None):
        """(len(names), 256) embeddings of each candidate speaking SCORE_TEXT; cached on disk."""
        np = self.np
        if lang in self.banks:
            return self.banks[lang]
        path = os.path.join(self.data_dir, f"bank-{lang}.npz")
        key = f"{self.voices_digest}:{lang}"
        if os.path.exists(path):
            z = np.load(path)
            if str(z["key"]) == key and all(n in z.files for n in self.names):
                self.banks[lang] = np.stack([z[n] for n in self.names])
                return self.banks[lang]
        rows = {}
        for i, n in enumerate(self.names):
            progress(i, len(self.names))
            rows[n] = self.embed_style(self.V[n], SCORE_TEXT, lang)
        progress(len(self.names), len(self.names))
        tmp = path + ".tmp.npz"
        np.savez(tmp, key=np.array(key), **rows)
        os.replace(tmp, path)
        self.banks[lang] = np.stack([rows[n] for n in self.names])
        return self.banks[lang]

    def check_embedding(self, voice, lang):
        """A stock voice speaking CHECK_TEXT, embedded; independent of the sample, so kept on disk
        (check-<lang>.npz) after its first use."""
        np = self.np
        path = os.path.join(self.data_dir, f"check-{lang}.npz")
        if not self.checks and os.path.exists(path):
            try:
                z = np.load(path)
                if str(z["key"]) == self.voices_digest:
                    self.checks.update({(lang, n): z[n] for n in z.files if n != "key"})
            except (OSError, ValueError, KeyError):
                pass
        if (lang, voice) not in self.checks:
            self.checks[(lang, voice)] = self.embed_style(self.V[voice], CHECK_TEXT, lang)
            rows = {n: e for (l, n), e in self.checks.items() if l == lang}
            tmp = path + ".tmp.npz"
            np.savez(tmp, key=np.array(self.voices_digest), **rows)
            os.replace(tmp, path)
        return self.checks[(lang, voice)]

    # ------------------------------------------------------------------ the fit
    def fit(self, wav, sr, budget_s, lang, emit, cancelled):
        """The prototype's search (voice_blend.py), reporting progress through emit(dict)."""
        np = self.np
        t_start = time.time()
        deadline = t_start + budget_s

        def progress(fraction, stage):
            if cancelled.is_set():
                raise Cancelled()
            emit({"type": "progress", "fraction": round(min(max(fraction, 0.0), 1.0), 3), "stage": stage})

        progress(0.0, "embedding the sample")
        ref = self.encoder.embed(wav[: int(MAX_SAMPLE_SECONDS * sr)], sr)

        progress(0.05, "comparing stock voices")
        E = self.bank(lang, lambda i, n: progress(0.05 + 0.10 * i / n, f"comparing stock voices ({i} of {n})"))
        names = self.names
        sims = E @ ref
        order = np.argsort(-sims)
        best_single = names[order[0]]
        best_single_sim = float(sims[order[0]])

        # Surrogate (normalised weighted mean of the bank embeddings), fitted by exponentiated-
        # gradient ascent on the simplex; its largest weights pick the voices the real search uses.
        w = np.ones(len(names)) / len(names)
        for _ in range(3000):
            m = w @ E
            nm = np.linalg.norm(m)
            c = m @ ref / nm
            g = E @ (ref / nm - c * m / nm ** 2)
            w = w * np.exp(0.5 * g)
            w /= w.sum()
        sur_order = [i for i in np.argsort(-w) if i != order[0]]
        idx = [order[0]] + sur_order[: TOPK - 1]
        K = [names[i] for i in idx]
        k = len(K)
        w_sur = w[idx] / w[idx].sum()

        cache = {}
        evals = [0]
        eval_seconds = []
        search_start = time.time()

        def blend(wv):
            return sum(float(wi) * self.V[n] for wi, n in zip(wv, K)).astype(np.float32)

        def search_progress():
            done = evals[0]
            per = (sum(eval_seconds) / len(eval_seconds)) if eval_seconds else 5.0
            est = done + max(0, int((deadline - time.time()) / per))
            frac = 0.15 + 0.75 * min(1.0, (time.time() - search_start) / max(deadline - search_start, 1e-3))
            progress(frac, f"trying blends ({done + 1} of ~{max(est, done + 1)})")

        def score(wv):
            wv = np.maximum(np.asarray(wv, dtype=np.float64), 0)
            wv = wv / wv.sum()
            kk = tuple(np.round(wv, 3))
            if kk in cache:
                return cache[kk]
            search_progress()
            t0 = time.time()
            s = float(self.embed_style(blend(wv), SCORE_TEXT, lang) @ ref)
            eval_seconds.append(time.time() - t0)
            cache[kk] = s
            evals[0] += 1
            return s

        onehot = np.eye(k)
        best_w, best_s = onehot[0], best_single_sim
        cache[tuple(np.round(onehot[0], 3))] = best_single_sim
        starts = [w_sur]
        if k >= 2:
            starts.append(np.r_[0.5, 0.5, np.zeros(k - 2)])
        if k >= 3:
            starts.append(np.r_[1 / 3, 1 / 3, 1 / 3, np.zeros(k - 3)])
        for s0 in starts:
            if time.time() > deadline:
                break
            s = score(s0)
            if s > best_s:
                best_w, best_s = np.maximum(s0, 0) / np.maximum(s0, 0).sum(), s

        rng = np.random.default_rng(0)
        step = 0.25
        while time.time() < deadline and step >= 0.03:
            improved = False
            for i in range(k):
                for direction in (+1, -1):
                    if time.time() > deadline:
                        break
                    if direction > 0:
                        cand = (1 - step) * best_w + step * onehot[i]
                    else:
                        if best_w[i] <= 1e-6:
                            continue
                        cand = best_w.copy()
                        cand[i] = max(0.0, cand[i] - step)
                        if cand.sum() <= 0:
                            continue
                        cand /= cand.sum()
                    s = score(cand)
                    if s > best_s + 1e-4:
                        best_w, best_s, improved = cand / cand.sum(), s, True
            if not improved:
                if time.time() < deadline:  # one random probe around the best before shrinking
                    cand = rng.dirichlet(best_w * 40 + 0.5)
                    s = score(cand)
                    if s > best_s + 1e-4:
                        best_w, best_s = cand, s
                        continue
                step /= 2

        # The weights as served: 2 decimals, parts below 0.02 dropped, renormalised.
        best_w = best_w / best_w.sum()
        kept = {n: round(float(x), 2) for n, x in zip(K, best_w) if round(float(x), 2) >= 0.02}
        total = sum(kept.values())
        weights = {n: round(x / total, 2) for n, x in sorted(kept.items(), key=lambda p: -p[1])}
        voice = (next(iter(weights)) if len(weights) == 1
                 else "+".join(f"{n}({x:g})" for n, x in weights.items()))
        served = np.array([weights.get(n, 0.0) for n in K])
        served /= served.sum()  # the TTS server normalises the same way

        progress(0.9, "checking on an unseen sentence")
        fit_similarity = cache.get(tuple(np.round(served, 3)))
        if fit_similarity is None and float(np.abs(served - best_w).max()) <= 0.01:
            fit_similarity = best_s  # rounding moved no weight by more than 0.01: same voice
        if fit_similarity is None:  # rounding or dropping moved the weights: score what is served
            fit_similarity = float(self.embed_style(blend(served), SCORE_TEXT, lang) @ ref)
        if len(weights) == 1:  # no blend beat the closest single voice
            check_blend = float(self.check_embedding(voice, lang) @ ref)
        else:
            check_blend = float(self.embed_style(blend(served), CHECK_TEXT, lang) @ ref)
        progress(0.96, "checking the closest single voice on the unseen sentence")
        check_single = float(self.check_embedding(best_single, lang) @ ref)
        return {
            "type": "done",
            "voice": voice,
            "weights": weights,
            "similarity": round(check_blend, 4),
            "fit_similarity": round(fit_similarity, 4),
            "best_single": {"voice": best_single, "similarity": round(check_single, 4)},
            "evaluations": evals[0],
            "seconds": round(time.time() - t_start, 1),
        }


# ---------------------------------------------------------------------- HTTP
def read_sample(body: bytes):
    """WAV bytes -> (float32 first channel, rate); ValueError with a message for the client."""
    import numpy as np
    try:
        with wave.open(io.BytesIO(body), "rb") as w:
            ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError, struct.error, ValueError) as exc:
        raise ValueError(f"the body is not a readable WAV file ({exc or 'it ends too early'})") from None
    if width != 2:
        raise ValueError(f"the WAV must be 16-bit PCM (this one has {8 * width}-bit samples)")
    if ch < 1 or rate < 8000:
        raise ValueError("the WAV has no channels or a sample rate below 8000 Hz")
    usable = len(raw) // (2 * ch)
    x = np.frombuffer(raw[: usable * 2 * ch], dtype="<i2").reshape(-1, ch)[:, 0].astype(np.float32) / 32768.0
    if len(x) < MIN_SAMPLE_SECONDS * rate:
        raise ValueError(f"the sample is {len(x) / rate:.1f} s long; at least {MIN_SAMPLE_SECONDS:g} s of speech is needed")
    if float(np.max(np.abs(x))) < 1e-3:
        raise ValueError("the sample is silent")
    return x, rate


def create_app(lab: Lab):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI(title="voicelab")
    fit_lock = threading.Lock()

    def bad(message, status=400):
        return JSONResponse({"error": message}, status_code=status)

    @app.get("/health")
    def health():
        return {"status": "ok", "stock_voices": lab.stock_count}

    @app.post("/v1/voice-fits")
    async def voice_fits(request: Request):
        q = request.query_params
        try:
            budget = int(q.get("budget_s", "120"))
        except ValueError:
            return bad("budget_s must be a whole number of seconds from 5 to 300")
        if not 5 <= budget <= 300:
            return bad("budget_s must be a whole number of seconds from 5 to 300")
        try:
            lang = lab.normalize_language(q.get("lang") or "en-us", None, "en-us")
        except ValueError as exc:
            return bad(str(exc))
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            return bad("the sample is larger than 25 MB", 413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                return bad("the sample is larger than 25 MB", 413)
            chunks.append(chunk)
        try:
            wav, sr = read_sample(b"".join(chunks))
        except ValueError as exc:
            return bad(str(exc))
        return StreamingResponse(run_fit(wav, sr, budget, lang), media_type="application/x-ndjson")

    async def run_fit(wav, sr, budget, lang):
        def line(obj):
            return (json.dumps(obj) + "\n").encode()

        cancelled = threading.Event()
        owned = False
        try:
            last = time.monotonic() - HEARTBEAT_S
            while not fit_lock.acquire(blocking=False):
                if time.monotonic() - last >= HEARTBEAT_S:
                    yield line({"type": "progress", "fraction": 0, "stage": "waiting for another voice to finish"})
                    last = time.monotonic()
                await asyncio.sleep(0.25)
            owned = True
            events: queue.Queue = queue.Queue()

            def work():
                try:
                    events.put(lab.fit(wav, sr, budget, lang, events.put, cancelled))
                except Cancelled:
                    pass
                except Exception as exc:  # reported to the client; the server keeps running
                    events.put({"type": "error", "message": f"the fit failed: {exc.__class__.__name__}: {exc}"})
                finally:
                    fit_lock.release()

            worker = threading.Thread(target=work, name="voice-fit", daemon=True)
            worker.start()
            owned = False  # the worker releases the lock
            last_progress, last = None, time.monotonic()
            while True:
                try:
                    ev = events.get_nowait()
                except queue.Empty:
                    if not worker.is_alive() and events.empty():
                        yield line({"type": "error", "message": "the fit stopped without a result"})
                        return
                    if last_progress is not None and time.monotonic() - last >= HEARTBEAT_S:
                        yield line(last_progress)
                        last = time.monotonic()
                    await asyncio.sleep(0.2)
                    continue
                yield line(ev)
                last = time.monotonic()
                if ev["type"] == "progress":
                    last_progress = ev
                else:
                    return
        finally:
            cancelled.set()  # a client that went away stops the fit at its next step
            if owned:
                fit_lock.release()

    return app


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["serve", "build-bank"])
    ap.add_argument("--tts-dir", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--lang", default="en-us")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8084)
    args = ap.parse_args()
    t0 = time.time()
    lab = Lab(args.tts_dir, args.data_dir)
    if args.command == "build-bank":
        lab.bank(lab.normalize_language(args.lang, None, "en-us"),
                 lambda i, n: print(f"stock-voice bank: {i} of {n}", file=sys.stderr, flush=True))
        print(f"stock-voice bank for {args.lang} ready in {time.time() - t0:.0f} s", file=sys.stderr)
        return
    lab.bank("en-us", lambda i, n: print(f"stock-voice bank: {i} of {n}", file=sys.stderr, flush=True))
    print(f"voicelab loaded in {time.time() - t0:.1f} s", file=sys.stderr, flush=True)
    import uvicorn
    uvicorn.run(create_app(lab), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
