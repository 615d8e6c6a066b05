#!/usr/bin/env python3
"""fastkokoro 0.7.0's OpenAI-compatible server, plus Kokoro-FastAPI's voice-blend syntax.

Run with the fastkokoro venv's python; configured by the same FASTKOKORO_* environment variables as
the `fastkokoro` command (scripts/engines.sh run tts sets them), and serves the same app.

The one addition: `POST /v1/audio/speech` also accepts a `voice` such as
`af_heart(0.51)+bf_emma(0.49)`: stock voice names joined by `+`, each with an optional positive
weight in parentheses (default 1), weights normalised to sum 1, at most 8 parts. The style vector is
the weighted sum of the stock (510,1,256) vectors. The language of a blend is the request's `lang`
if given, else the server's default (en-us), the language the voice lab fits blends in. A malformed blend is rejected like an unknown voice
(HTTP 400, `Voice '...' is not available: <why>`). Plain stock names behave exactly as before and
`GET /v1/audio/voices` still lists only the stock voices.

Pinned to fastkokoro==0.7.0. What this wraps, and nothing else:
  - FastKokoro.resolve_request (subclass override): blend strings are parsed and validated here;
    anything else goes to the original method unchanged.
  - FastKokoro._voice_styles (private dict, name -> style array, filled in __init__ and read by
    _create_resolved / create_stream): replaced after __init__ by a dict subclass holding the same
    stock entries whose __missing__ builds a blend from its canonical name (a few recent blends
    are kept, least recently used dropped).
The app itself is fastkokoro.server.create_app(engine=...), the same factory the CLI's module-level
app uses, run by uvicorn with the CLI's arguments (fastkokoro/cli.py).
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict

import numpy as np
import uvicorn
from fastkokoro.config import Settings
from fastkokoro.engine import FastKokoro
from fastkokoro.server import create_app
from fastkokoro.voices import normalize_language

MAX_PARTS = 8
RECENT_BLENDS = 16
_PART = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:\(\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\))?\s*$")


def is_blend(voice: str) -> bool:
    return "+" in voice or "(" in voice or ")" in voice


def parse_blend(voice: str, stock: frozenset[str]) -> list[tuple[str, float]]:
    """`a(0.6)+b(0.4)` -> [(a, 0.6), (b, 0.4)] with weights summing to 1 (repeated names merged).
    Raises ValueError with fastkokoro's unknown-voice wording plus the reason."""

    def bad(why: str) -> ValueError:
        return ValueError(f"Voice {voice!r} is not available: {why}")

    parts = voice.split("+")
    if len(parts) > MAX_PARTS:
        raise bad(f"a blend has at most {MAX_PARTS} parts")
    merged: dict[str, float] = {}
    for part in parts:
        m = _PART.match(part)
        if m is None:
            raise bad("a blend is stock voice names joined by '+', each with an optional "
                      "positive weight in parentheses, e.g. af_heart(0.6)+bf_emma(0.4)")
        name, weight = m.group(1), float(m.group(2)) if m.group(2) is not None else 1.0
        if name not in stock:
            raise bad(f"{name!r} is not a stock voice")
        if not (weight > 0 and np.isfinite(weight)):
            raise bad(f"the weight of {name!r} must be positive")
        merged[name] = merged.get(name, 0.0) + weight
    total = sum(merged.values())
    return [(name, w / total) for name, w in merged.items()]


def canonical(parts: list[tuple[str, float]]) -> str:
    return "+".join(f"{name}({w:.6g})" for name, w in parts)


class _Styles(dict):
    """The stock styles, plus blends built on first use from their canonical name."""

    def __init__(self, stock: dict[str, np.ndarray]):
        super().__init__(stock)
        self._stock = frozenset(stock)
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __missing__(self, key: str) -> np.ndarray:
        parts = parse_blend(key, self._stock)  # KeyError-free: key came from resolve_request
        style = sum(w * dict.__getitem__(self, n).astype(np.float64) for n, w in parts)
        style = np.ascontiguousarray(style, dtype=np.float32)
        with self._lock:
            self[key] = style
            self._recent[key] = None
            while len(self._recent) > RECENT_BLENDS:
                old, _ = self._recent.popitem(last=False)
                self.pop(old, None)
        return style

    def __getitem__(self, key: str) -> np.ndarray:
        value = super().__getitem__(key)  # __missing__ for a blend not (or no longer) cached
        if key not in self._stock:
            with self._lock:
                if key in self._recent:
                    self._recent.move_to_end(key)
        return value


class BlendingKokoro(FastKokoro):
    def __init__(self, settings: Settings | None = None):
        super().__init__(settings)
        self._voice_styles = _Styles(dict(self._voice_styles))

    def resolve_request(self, voice: str | None, lang: str | None) -> tuple[str, str]:
        if not voice or not is_blend(voice):
            return super().resolve_request(voice, lang)
        parts = parse_blend(voice, self._voice_set)
        # The server's default language (en-us), not the heaviest part's: the voice lab fits
        # and scores blends in it, so a blend sounds as it was measured.
        resolved_lang = normalize_language(lang, None, self.settings.default_lang)
        key = canonical(parts)
        self._voice_styles[key]  # build (or refresh) now, so a bad blend fails before streaming
        return key, resolved_lang


def main() -> None:
    settings = Settings.from_env()
    engine = BlendingKokoro(settings)
    app = create_app(engine=engine, settings=settings)
    uvicorn.run(app, host=settings.host, port=settings.port, loop="auto", reload=False)


if __name__ == "__main__":
    main()
