#!/usr/bin/env python3
"""Fit a Kokoro voice (style vector) to a reference recording as a convex blend of stock voices.

This is NOT voice cloning: the result can only sound like a mix of the stock Kokoro voices.
It maximises the cosine similarity, under Resemblyzer's speaker encoder (numpy port in
speaker_embed.py, weights from the PyPI wheel Resemblyzer==0.1.4), between the reference and
speech synthesised with the blend.

Run with the fastkokoro venv's python (numpy, onnxruntime, fastkokoro), e.g.
  PYTHONPATH=docs/research/custom-voices/deps $KOKORO_VENV/bin/python voice_blend.py ref.wav --out out/myvoice

Outputs: OUT.npy (510,1,256 float32 style vector), OUT.json (weights + report),
OUT.sample.wav (the check sentence spoken with the blend).
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# The numpy Resemblyzer port is the product's (scripts/engines/speaker_embed.py).
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "scripts", "engines"))
if os.path.isdir(os.path.join(HERE, "deps")):
    sys.path.insert(0, os.path.join(HERE, "deps"))


def _default_tts_dir():
    hits = sorted(glob.glob(os.path.expanduser("~/.cache/avb-engines/tts-fastkokoro-*")))
    return hits[-1] if hits else None


SCORE_TEXT = ("Thanks for calling. I can help you check the status of your order, "
              "or change the delivery address.")
CHECK_TEXT = "The weather should be clear tomorrow morning, so we can leave early for the lake."


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference", help="16-bit PCM WAV, mono (first channel used), any rate")
    ap.add_argument("--out", required=True, help="output prefix (writes .npy, .json, .sample.wav)")
    ap.add_argument("--tts-dir", default=os.environ.get("AVB_TTS_DIR") or _default_tts_dir())
    ap.add_argument("--lang", default="en-us")
    ap.add_argument("--voices", default="english", help="english | all | comma list")
    ap.add_argument("--exclude", default="", help="comma list of stock voices to leave out")
    ap.add_argument("--topk", type=int, default=5)
    ap.add_argument("--budget", type=float, default=120.0, help="seconds for the search")
    ap.add_argument("--bank", default=os.path.join(HERE, "cache", "voice_bank.npz"),
                    help="cache of stock-voice embeddings (made once, reused)")
    args = ap.parse_args()

    t_start = time.time()
    tts = args.tts_dir
    os.environ.setdefault("FASTKOKORO_MODEL_PATH", os.path.join(tts, "kokoro-v1.0.int8.onnx"))
    os.environ.setdefault("FASTKOKORO_VOICES_PATH", os.path.join(tts, "voices-v1.0.npz"))
    os.environ.setdefault("FASTKOKORO_CACHE_DIR", os.path.join(tts, "cache"))
    os.environ.setdefault("FASTKOKORO_WARMUP", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import numpy as np
    from fastkokoro.engine import FastKokoro
    import speaker_embed as se

    eng = FastKokoro()
    enc = se.SpeakerEncoder()
    stock = np.load(os.environ["FASTKOKORO_VOICES_PATH"])
    names = sorted(stock.files)
    if args.voices == "english":
        names = [n for n in names if n[:1] in ("a", "b")]
    elif args.voices != "all":
        names = [n.strip() for n in args.voices.split(",") if n.strip()]
    excl = {n.strip() for n in args.exclude.split(",") if n.strip()}
    names = [n for n in names if n not in excl]
    V = {n: stock[n].astype(np.float32) for n in names}

    def synth(style, text):
        audio, sr = eng._create_samples(text, voice=style, speed=1.0, lang=args.lang)
        return np.asarray(audio, dtype=np.float32), sr

    def embed_style(style, text=SCORE_TEXT):
        audio, sr = synth(style, text)
        return enc.embed(audio, sr)

    # reference embedding
    ref_wav, ref_sr = se.read_wav(args.reference)
    dur = len(ref_wav) / ref_sr
    ref = enc.embed(ref_wav, ref_sr)

    # stock-voice embeddings for the scoring sentence (cached; independent of the reference)
    key = hashlib.sha1((SCORE_TEXT + args.lang + os.environ["FASTKOKORO_VOICES_PATH"]).encode()).hexdigest()[:12]
    bank = {}
    if os.path.exists(args.bank):
        z = np.load(args.bank)
        if str(z["key"]) == key:
            bank = {n: z[n] for n in z.files if n != "key"}
    missing = [n for n in names if n not in bank]
    t0 = time.time()
    for n in missing:
        bank[n] = embed_style(V[n])
    if missing:
        os.makedirs(os.path.dirname(args.bank), exist_ok=True)
        np.savez(args.bank, key=np.array(key), **bank)
    bank_seconds = time.time() - t0

    E = np.stack([bank[n] for n in names])
    sims = E @ ref
    order = np.argsort(-sims)
    best_single = names[order[0]]
    best_single_sim = float(sims[order[0]])
    # surrogate over ALL candidates: the embedding of a blend is approximated by the normalised
    # blend of embeddings; exponentiated-gradient ascent of its cosine on the simplex. Its largest
    # weights pick the k voices the real search works on (plain top-k by similarity misses
    # constituents: for a 50/50 af_heart+bf_emma reference af_heart ranks only 6th on its own).
    w = np.ones(len(names)) / len(names)
    for _ in range(3000):
        m = w @ E
        nm = np.linalg.norm(m)
        c = m @ ref / nm
        g = E @ (ref / nm - c * m / nm ** 2)
        w = w * np.exp(0.5 * g)
        w /= w.sum()
    sur_order = [i for i in np.argsort(-w) if i != order[0]]
    idx = [order[0]] + sur_order[: args.topk - 1]
    K = [names[i] for i in idx]
    k = len(K)
    w_sur = w[idx] / w[idx].sum()
    surrogate_cos = float((w @ E) @ ref / np.linalg.norm(w @ E))

    cache = {}
    evals = []

    def score(w):
        w = np.maximum(np.asarray(w, dtype=np.float64), 0)
        w = w / w.sum()
        kk = tuple(np.round(w, 3))
        if kk in cache:
            return cache[kk]
        style = sum(float(wi) * V[n] for wi, n in zip(w, K)).astype(np.float32)
        s = float(embed_style(style) @ ref)
        cache[kk] = s
        evals.append({"weights": dict(zip(K, map(float, np.round(w, 3)))), "similarity": round(s, 4)})
        return s

    t_search = time.time()
    deadline = t_search + args.budget
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
            # one random probe around the best before shrinking the step
            if time.time() < deadline:
                cand = rng.dirichlet(best_w * 40 + 0.5)
                s = score(cand)
                if s > best_s + 1e-4:
                    best_w, best_s = cand, s
                    continue
            step /= 2
    search_seconds = time.time() - t_search

    best_w = best_w / best_w.sum()
    weights = {n: round(float(x), 4) for n, x in zip(K, best_w) if x > 1e-4}
    style = sum(float(x) * V[n] for n, x in zip(K, best_w)).astype(np.float32)

    # held-out check on a sentence the search never saw
    blend_audio, sr = synth(style, CHECK_TEXT)
    check_blend = float(enc.embed(blend_audio, sr) @ ref)
    check_single = float(embed_style(V[best_single], CHECK_TEXT) @ ref)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.save(args.out + ".npy", style.reshape(510, 1, 256))
    se.write_wav(args.out + ".sample.wav", blend_audio, sr)
    report = {
        "kind": "stock-voice blend (not a clone)",
        "reference": os.path.abspath(args.reference),
        "reference_seconds": round(dur, 2),
        "candidates": len(names),
        "excluded": sorted(excl),
        "best_single_voice": best_single,
        "best_single_similarity": round(best_single_sim, 4),
        "blend_similarity": round(best_s, 4),
        "gain": round(best_s - best_single_sim, 4),
        "check_sentence": {"best_single_similarity": round(check_single, 4),
                           "blend_similarity": round(check_blend, 4)},
        "weights": weights,
        "search_voices": {n: round(float(sims[names.index(n)]), 4) for n in K},
        "surrogate_cosine": round(surrogate_cos, 4),
        "surrogate_weights": {n: round(float(x), 3) for n, x in zip(K, w_sur)},
        "evaluations": len(evals),
        "bank_seconds": round(bank_seconds, 1),
        "search_seconds": round(search_seconds, 1),
        "seconds": round(time.time() - t_start, 1),
        "trace": evals,
    }
    with open(args.out + ".json", "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps({k: v for k, v in report.items() if k != "trace"}, indent=1))


if __name__ == "__main__":
    main()
