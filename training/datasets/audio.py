"""Audio data sets of MLPerf Tiny, read from the user's copy of the files (no download here).

* ``speech_commands`` -- Google Speech Commands v2 in its own folder layout
  (``<root>/<word>/<speaker>_nohash_<n>.wav``, ``_background_noise_/``, ``testing_list.txt``):
  12 classes, the 10 words of MLPerf's keyword-spotting benchmark (in MLPerf's / TFDS's label
  order), ``_silence_`` (1 s slices of the background-noise files) and ``_unknown_`` (every
  other word). Each 1 s, 16 kHz clip becomes a 49x10 MFCC map exactly as MLPerf's
  ``keyword_spotting/get_dataset.py`` computes it with ``tf.signal`` (see :func:`kws_mfcc`).
  ``testing_list.txt`` is the fixed test split when present.
* ``toyadmos`` -- DCASE 2020 task 2 development data, machine ToyCar
  (``<root>/ToyCar/train/normal_id_*.wav``, ``<root>/ToyCar/test/{normal,anomaly}_id_*.wav``):
  5 consecutive frames of a 128-bin log-mel spectrogram = 640 features per vector, as MLPerf's
  ``anomaly_detection/common.py`` (see :func:`toyadmos_vectors`). Normal training clips train;
  the test clips (normal = 0, anomaly = 1) are the fixed test split, so anomalies are only ever
  used to score (AUC), never to train.

Features are computed once and cached next to the data (``features-<key>.npz``, keyed by the
file list, sizes and feature parameters).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.datasets.cache import cache_dir, cached_features
from training.datasets.registry import DatasetError, DatasetUnavailableError, register_dataset

KWS_WORDS = ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes"]
KWS_CLASSES = [*KWS_WORDS, "_silence_", "_unknown_"]
KWS = dict(
    sample_rate=16_000,
    clip_ms=1000,
    window_ms=30,
    stride_ms=20,
    mel_bins=40,
    lower_hz=20.0,
    upper_hz=4000.0,
    coefficients=10,
)
TOYADMOS = dict(n_mels=128, frames=5, n_fft=1024, hop_length=512, power=2.0, first=50, last=250)
SPEECH_COMMANDS_URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
TOYADMOS_URL = "https://zenodo.org/record/3678171 (dev_data_ToyCar.zip)"

ORDER = 2  # in the listing: after the downloads


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples (first channel) and the sample rate; a clear error for a broken file."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except (ValueError, OSError) as exc:
        raise DatasetError(
            f"{path} is not a readable WAV file ({exc}). Remove or replace it."
        ) from exc
    data = np.asarray(data)
    if data.ndim > 1:
        data = data[:, 0]
    if data.dtype.kind == "i":  # PCM: the float value TensorFlow's decode_wav gives
        data = data.astype("float32") / float(np.iinfo(data.dtype).max + 1)
    elif data.dtype.kind == "u":  # 8-bit PCM
        data = (data.astype("float32") - 128.0) / 128.0
    return data.astype("float32"), int(rate)


# --------------------------------------------------------------------------- keyword spotting


def kws_mfcc(
    clips: np.ndarray,
    *,
    sample_rate=16_000,
    clip_ms=1000,
    window_ms=30,
    stride_ms=20,
    mel_bins=40,
    lower_hz=20.0,
    upper_hz=4000.0,
    coefficients=10,
) -> np.ndarray:
    """(n, samples) float clips -> (n, 49, 10, 1) MFCCs, MLPerf's ``get_dataset.py`` step by step:
    divide by the clip's maximum, pad/cut to 1 s, STFT (30 ms Hann window, 20 ms stride, FFT
    length the next power of two), magnitude, 40 mel bins 20-4000 Hz, ``log(x + 1e-6)``, the
    first 10 MFCCs."""
    import tensorflow as tf

    n_samples = sample_rate * clip_ms // 1000
    window = sample_rate * window_ms // 1000
    stride = sample_rate * stride_ms // 1000
    frames = 1 + (n_samples - window) // stride
    peak = clips.max(axis=1, keepdims=True)  # MLPerf: wav / reduce_max(wav) (not the absolute peak)
    x = clips / np.where(peak > 0, peak, 1.0)
    stft = tf.signal.stft(
        tf.constant(x, tf.float32),
        frame_length=window,
        frame_step=stride,
        window_fn=tf.signal.hann_window,
    )
    spec = tf.abs(stft)
    mel = tf.signal.linear_to_mel_weight_matrix(
        mel_bins, spec.shape[-1], sample_rate, lower_hz, upper_hz
    )
    log_mel = tf.math.log(tf.tensordot(spec, mel, 1) + 1e-6)
    mfcc = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :coefficients]
    return mfcc.numpy().reshape(len(clips), frames, coefficients, 1).astype("float32")


def _fit_clip(samples: np.ndarray, n: int) -> np.ndarray:
    return samples[:n] if len(samples) >= n else np.pad(samples, (0, n - len(samples)))


def _kws_root() -> Path:
    root = cache_dir() / "speech_commands"
    if not root.is_dir() or not any((root / w).is_dir() for w in KWS_WORDS):
        raise DatasetUnavailableError(
            f"Data set 'speech_commands' is not at {root}: extract Google Speech Commands v2 "
            f"({SPEECH_COMMANDS_URL}) there, so that {root}/yes/*.wav, {root}/_background_noise_/ "
            f"and {root}/testing_list.txt exist, or set EDGEZOO_DATA to the folder that holds "
            "speech_commands/. It cannot be downloaded automatically."
        )
    return root


def speech_commands_files(root: Path) -> tuple[list[tuple[Path, int]], list[Path]]:
    """(clip, label) of every word clip, and the background-noise files (for _silence_)."""
    clips = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        label = (
            KWS_CLASSES.index(folder.name)
            if folder.name in KWS_WORDS
            else KWS_CLASSES.index("_unknown_")
        )
        clips += [(f, label) for f in sorted(folder.glob("*.wav"))]
    noise = sorted((root / "_background_noise_").glob("*.wav"))
    silence_dir = root / "_silence_"  # a prepared silence folder (some copies ship one)
    clips += [(f, KWS_CLASSES.index("_silence_")) for f in sorted(silence_dir.glob("*.wav"))]
    return clips, noise


@register_dataset(
    "speech_commands",
    "Google Speech Commands v2, 12 classes (10 words, _silence_, _unknown_) as 49x10x1 MFCC, "
    "MLPerf Tiny KWS (your copy in $EDGEZOO_DATA/speech_commands)",
    False,
)
def _speech_commands(_cache):
    root = _kws_root()
    clips, noise = speech_commands_files(root)
    if not clips:
        raise DatasetError(f"{root} holds no <word>/*.wav clips: not the Speech Commands layout.")
    test_list = root / "testing_list.txt"
    test = set(test_list.read_text().split()) if test_list.exists() else set()

    def compute():
        n = KWS["sample_rate"] * KWS["clip_ms"] // 1000
        waves, labels, is_test = [], [], []
        for path, label in clips:
            samples, rate = read_wav(path)
            if rate != KWS["sample_rate"]:
                raise DatasetError(
                    f"{path}: {rate} Hz; Speech Commands clips are {KWS['sample_rate']} Hz."
                )
            waves.append(_fit_clip(samples, n))
            labels.append(label)
            is_test.append(path.relative_to(root).as_posix() in test)
        for path in noise:  # _silence_: consecutive 1 s slices of the background noise
            samples, _ = read_wav(path)
            for start in range(0, len(samples) - n + 1, n):
                waves.append(samples[start : start + n])
                labels.append(KWS_CLASSES.index("_silence_"))
                is_test.append(False)
        feats = np.concatenate(
            [kws_mfcc(np.stack(waves[i : i + 1024]), **KWS) for i in range(0, len(waves), 1024)]
        )
        return {"x": feats, "y": np.array(labels, "int64"), "test": np.array(is_test, bool)}

    data = cached_features(
        "speech_commands",
        root,
        [p for p, _ in clips] + noise + ([test_list] if test else []),
        {"features": "kws_mfcc", **KWS},
        compute,
    )
    order = np.argsort(data["test"], kind="stable")  # the fixed test split goes last
    n_test = int(data["test"].sum())
    return data["x"][order], data["y"][order], KWS_CLASSES, "audio", n_test or None


# --------------------------------------------------------------------------- anomaly detection


def log_mel(
    samples: np.ndarray, rate: int, *, n_mels=128, n_fft=1024, hop_length=512, power=2.0
) -> np.ndarray:
    """(frames, n_mels) log-mel energies as ``librosa.feature.melspectrogram`` + ``20/power*log10``
    (centered frames, periodic Hann window), with ``tf.signal``'s mel filters (HTK mel scale;
    librosa's default is Slaney's, so values differ slightly from MLPerf's files)."""
    import tensorflow as tf

    padded = np.pad(samples, n_fft // 2)
    stft = tf.signal.stft(
        tf.constant(padded[None], tf.float32),
        frame_length=n_fft,
        frame_step=hop_length,
        fft_length=n_fft,
        window_fn=tf.signal.hann_window,
    )
    spec = tf.abs(stft) ** power
    mel = tf.signal.linear_to_mel_weight_matrix(n_mels, n_fft // 2 + 1, rate, 0.0, rate / 2.0)
    energies = tf.tensordot(spec, mel, 1).numpy()[0]
    return (20.0 / power * np.log10(energies + np.finfo(float).eps)).astype("float32")


def toyadmos_vectors(
    samples: np.ndarray,
    rate: int,
    *,
    n_mels=128,
    frames=5,
    n_fft=1024,
    hop_length=512,
    power=2.0,
    first=50,
    last=250,
) -> np.ndarray:
    """(n, frames * n_mels) vectors of one clip: MLPerf's ``file_to_vector_array`` (the central
    frames ``first:last`` of the log-mel spectrogram, ``frames`` consecutive frames per vector)."""
    spec = log_mel(samples, rate, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length, power=power)[
        first:last
    ]
    n = len(spec) - frames + 1
    if n < 1:
        return np.empty((0, frames * n_mels), "float32")
    return np.concatenate([spec[t : t + n] for t in range(frames)], axis=1)


def _toyadmos_root() -> Path:
    base = cache_dir() / "toyadmos"
    for root in (base / "ToyCar", base):
        if (root / "train").is_dir():
            return root
    raise DatasetUnavailableError(
        f"Data set 'toyadmos' is not at {base}: unzip the DCASE 2020 task 2 development data for "
        f"ToyCar ({TOYADMOS_URL}) so that {base}/ToyCar/train/normal_id_*.wav and "
        f"{base}/ToyCar/test/{{normal,anomaly}}_id_*.wav exist, or set EDGEZOO_DATA to the folder "
        "that holds toyadmos/. It cannot be downloaded automatically."
    )


@register_dataset(
    "toyadmos",
    "ToyADMOS ToyCar (DCASE 2020 task 2): 5 frames x 128 log-mel = 640 features; normal clips train, "
    "test clips labelled normal/anomaly, MLPerf Tiny AD (your copy in $EDGEZOO_DATA/toyadmos)",
    False,
)
def _toyadmos(_cache):
    root = _toyadmos_root()
    train = sorted((root / "train").glob("*.wav"))
    test = sorted((root / "test").glob("*.wav"))
    if not train:
        raise DatasetError(
            f"{root / 'train'} holds no WAV files: not the DCASE 2020 task 2 layout."
        )
    anomalous_train = [p.name for p in train if p.name.startswith("anomaly")]
    if anomalous_train:
        raise DatasetError(
            f"{root / 'train'} holds anomalous clips ({anomalous_train[0]}, ...): "
            "training must see normal sounds only; move them to test/."
        )

    def compute():
        xs, ys, clip = [], [], []
        for i, path in enumerate(train + test):
            samples, rate = read_wav(path)
            v = toyadmos_vectors(samples, rate, **TOYADMOS)
            xs.append(v)
            ys.append(np.full(len(v), int(path.name.startswith("anomaly")), "int64"))
            clip.append(np.full(len(v), i, "int64"))
        return {"x": np.concatenate(xs), "y": np.concatenate(ys), "clip": np.concatenate(clip)}

    data = cached_features(
        "toyadmos", root, train + test, {"features": "toyadmos_vectors", **TOYADMOS}, compute
    )
    n_test = int((data["clip"] >= len(train)).sum())
    return data["x"], data["y"], ["normal", "anomaly"], "tabular", n_test or None
