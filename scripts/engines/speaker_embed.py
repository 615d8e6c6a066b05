"""Resemblyzer's speaker encoder (GE2E, 3-layer LSTM 40->256, 256-d embedding) in plain numpy.

The weights are the `pretrained.pt` shipped inside the PyPI wheel `Resemblyzer==0.1.4`
(resemblyzer/pretrained.pt, 17 MB).  That file is a legacy (pre-1.6) torch pickle; it is read here
with the standard library's pickle and numpy, so torch is NOT needed at run time.

Preprocessing follows resemblyzer.audio: resample to 16 kHz, raise volume to -30 dBFS
(increase only), cut long silences, then a 40-band Slaney mel *power* spectrogram
(n_fft 400, hop 160, Hann, centred, zero padded) cut into 160-frame partials at 1.3 partials/s;
the utterance embedding is the L2-normalised mean of the partial embeddings.
Deviation: resemblyzer trims silences with webrtcvad; this uses an energy gate with the same
30 ms windows, moving average and dilation (webrtcvad is a C extension we avoid).

Moved here from docs/research/custom-voices/speaker_embed.py (the research prototype, validated
there against torch + librosa Resemblyzer: cosine 1.000000, max abs diff 1.3e-7; see FINDINGS.md)
for scripts/engines/voicelab.py.
"""
from __future__ import annotations

import io
import os
import pickle
import struct
import wave
from collections import OrderedDict

import numpy as np

SAMPLING_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 40
PARTIAL_FRAMES = 160
VAD_WINDOW = 480  # 30 ms at 16 kHz
VAD_AVG_WIDTH = 8
VAD_MAX_SILENCE = 6
NORM_DBFS = -30.0
INT16_MAX = 2 ** 15 - 1


# ---------------------------------------------------------------- legacy torch checkpoint reader
class _Storage:
    def __init__(self, dtype, numel):
        self.dtype = dtype
        self.numel = numel
        self.data = None


class _LazyTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialize(self):
        item = self.storage.data.itemsize
        return np.lib.stride_tricks.as_strided(
            self.storage.data[self.offset:], shape=self.size,
            strides=tuple(s * item for s in self.stride)).copy()


_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "LongStorage": np.int64,
           "IntStorage": np.int32, "HalfStorage": np.float16}


def _rebuild_tensor(storage, offset, size, stride, *args):
    return _LazyTensor(storage, offset, size, stride)


def load_legacy_torch(path):
    """Read a legacy torch.save file (pickle stream + raw storages) without torch."""
    storages = {}

    class U(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
                return _rebuild_tensor
            if module == "torch" and name in _DTYPES:
                return name
            if module == "collections" and name == "OrderedDict":
                return OrderedDict
            if module == "torch" and name == "device":
                return str
            raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

        def persistent_load(self, pid):
            kind, stype, key, _location, numel = pid[:5]
            assert kind == "storage", pid
            if key not in storages:
                storages[key] = _Storage(_DTYPES[stype], numel)
            return storages[key]

    with open(path, "rb") as f:
        magic = pickle.load(f)
        assert magic == 0x1950A86A20F9469CFC6C, "not a legacy torch file"
        pickle.load(f)  # protocol version
        pickle.load(f)  # sys info
        obj = U(f).load()
        keys = pickle.load(f)
        for key in keys:
            st = storages[key]
            (n,) = struct.unpack("<q", f.read(8))
            st.data = np.frombuffer(f.read(n * np.dtype(st.dtype).itemsize), dtype=st.dtype)

    def walk(o):
        if isinstance(o, _LazyTensor):
            return o.materialize()
        if isinstance(o, dict):
            return OrderedDict((k, walk(v)) for k, v in o.items())
        return o

    return walk(obj)


def default_weights_path():
    """pretrained.pt from an installed Resemblyzer wheel (located without importing it: its
    __init__ imports torch)."""
    import importlib.util
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pip install --no-deps Resemblyzer==0.1.4 (ships pretrained.pt)")
    return os.path.join(list(spec.submodule_search_locations)[0], "pretrained.pt")


# ---------------------------------------------------------------- audio
def read_wav(path):
    """16-bit PCM WAV (mono or the first channel) -> float32 in [-1, 1], rate."""
    with wave.open(path, "rb") as w:
        ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        raw = w.readframes(n)
    if width != 2:
        raise ValueError("need 16-bit PCM WAV")
    x = np.frombuffer(raw, dtype="<i2").reshape(-1, ch)[:, 0].astype(np.float32) / 32768.0
    return x, rate


def write_wav(path, samples, rate):
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    with wave.open(path, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate), w.writeframes(pcm)


def resample(x, sr_in, sr_out=SAMPLING_RATE):
    """Band-limited FFT resampling (as scipy.signal.resample)."""
    if sr_in == sr_out:
        return x.astype(np.float32)
    n_out = int(round(len(x) * sr_out / sr_in))
    X = np.fft.rfft(x.astype(np.float64))
    n_bins = n_out // 2 + 1
    Y = np.zeros(n_bins, dtype=np.complex128)
    m = min(n_bins, len(X))
    Y[:m] = X[:m]
    return (np.fft.irfft(Y, n_out) * (n_out / len(x))).astype(np.float32)


def normalize_volume(wav, target_dbfs=NORM_DBFS):
    rms = np.sqrt(np.mean((wav * INT16_MAX) ** 2)) + 1e-12
    change = target_dbfs - 20 * np.log10(rms / INT16_MAX)
    return wav if change < 0 else wav * (10 ** (change / 20))


def trim_long_silences(wav, gate_db=-45.0):
    wav = wav[: len(wav) - len(wav) % VAD_WINDOW]
    if len(wav) == 0:
        return wav
    frames = wav.reshape(-1, VAD_WINDOW)
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    flags = (db > max(db.max() + gate_db, -70.0)).astype(float)
    w = VAD_AVG_WIDTH
    padded = np.concatenate((np.zeros((w - 1) // 2), flags, np.zeros(w // 2)))
    ret = np.cumsum(padded)
    ret[w:] = ret[w:] - ret[:-w]
    mask = np.round(ret[w - 1:] / w).astype(bool)
    k = VAD_MAX_SILENCE + 1  # binary dilation with a centred structuring element of size k
    dil = np.convolve(mask.astype(float), np.ones(k), mode="same") > 0
    keep = np.repeat(dil, VAD_WINDOW)
    out = wav[keep]
    return out if len(out) > SAMPLING_RATE // 2 else wav


def preprocess(wav, sr):
    return trim_long_silences(normalize_volume(resample(wav, sr)))


def _hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    logstep = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep, mel)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    logstep = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), m * (200.0 / 3))


def _mel_basis():
    fft_f = np.linspace(0, SAMPLING_RATE / 2, 1 + N_FFT // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLING_RATE / 2), N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    w = np.zeros((N_MELS, len(fft_f)))
    for i in range(N_MELS):
        w[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    w *= (2.0 / (mel_f[2:N_MELS + 2] - mel_f[:N_MELS]))[:, None]
    return w


_MEL = _mel_basis()
_WINDOW = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann


def mel_spectrogram(wav):
    """(frames, 40) mel power spectrogram as librosa.feature.melspectrogram (center=True)."""
    y = np.pad(wav.astype(np.float64), (N_FFT // 2, N_FFT // 2))
    n_frames = 1 + (len(y) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    spec = np.abs(np.fft.rfft(y[idx] * _WINDOW, axis=1)) ** 2
    return (spec @ _MEL.T).astype(np.float32)


def partial_slices(n_samples, rate=1.3, min_coverage=0.75):
    spf = HOP
    n_frames = int(np.ceil((n_samples + 1) / spf))
    step = int(np.round((SAMPLING_RATE / rate) / spf))
    wav_sl, mel_sl = [], []
    for i in range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step):
        mel_sl.append(slice(i, i + PARTIAL_FRAMES))
        wav_sl.append(slice(i * spf, (i + PARTIAL_FRAMES) * spf))
    last = wav_sl[-1]
    if (n_samples - last.start) / (last.stop - last.start) < min_coverage and len(mel_sl) > 1:
        mel_sl, wav_sl = mel_sl[:-1], wav_sl[:-1]
    return wav_sl, mel_sl


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


class SpeakerEncoder:
    def __init__(self, weights_path=None):
        ckpt = load_legacy_torch(weights_path or default_weights_path())
        sd = ckpt["model_state"]
        self.layers = []
        for k in range(3):
            self.layers.append((sd[f"lstm.weight_ih_l{k}"].T.astype(np.float32),
                                sd[f"lstm.weight_hh_l{k}"].T.astype(np.float32),
                                (sd[f"lstm.bias_ih_l{k}"] + sd[f"lstm.bias_hh_l{k}"]).astype(np.float32)))
        self.lin_w = sd["linear.weight"].T.astype(np.float32)
        self.lin_b = sd["linear.bias"].astype(np.float32)

    def forward(self, mels):
        """mels (B, T, 40) -> L2-normalised embeddings (B, 256)."""
        x = mels
        for w_ih, w_hh, b in self.layers:
            B, T, _ = x.shape
            H = w_hh.shape[0]
            proj = x @ w_ih + b
            h = np.zeros((B, H), np.float32)
            c = np.zeros((B, H), np.float32)
            outs = np.empty((B, T, H), np.float32)
            for t in range(T):
                g = proj[:, t] + h @ w_hh
                i, f, gg, o = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
                c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(gg)
                h = _sigmoid(o) * np.tanh(c)
                outs[:, t] = h
            x = outs
        e = np.maximum(h @ self.lin_w + self.lin_b, 0)
        return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)

    def embed_utterance(self, wav16k, rate=1.3, min_coverage=0.75):
        """wav16k: preprocessed float32 16 kHz waveform."""
        wav_sl, mel_sl = partial_slices(len(wav16k), rate, min_coverage)
        need = wav_sl[-1].stop
        if need >= len(wav16k):
            wav16k = np.pad(wav16k, (0, need - len(wav16k)))
        mel = mel_spectrogram(wav16k)
        mels = np.stack([mel[s] for s in mel_sl])
        e = self.forward(mels).mean(axis=0)
        return e / np.linalg.norm(e)

    def embed(self, wav, sr):
        return self.embed_utterance(preprocess(wav, sr))
