"""Reads simulated samples from `rayleigh simulate --task damn|unet --stream` (physics lives in TS).

Stream format (little-endian): a 32-byte header "RLSM", u32 version=1, u32 H, u32 W, u32 scale,
u32 task (0 damn, 1 unet), 2x u32 0; then per sample float32[8] params, float32[H*W] camera frame,
float32[(H*s)*(W*s)] truth (src/optics/stream.ts). A unet stream has H = W = 128 (the 22 lambda
scalar intensity), scale 1 (the 128x128 0/1 hole map over 2.5 lambda) and params
[holeCount, largestCluster, pairDistance, radius, framePhotons, readNoise, binning + 16*pixelInt, mode].
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "bin" / "rayleigh.mjs"


@dataclass
class Sample:
    # float32[8]: psfShape, psfWidth, photons, background, emitterCount, camera + 16*structure,
    # brightness, psfExtra (the last three 0 for the original simulator; src/optics/stream.ts)
    params: np.ndarray
    frame: np.ndarray  # float32[H, W]
    # Truth is sparse (one fine pixel per emitter); storing indices keeps a large replay buffer small.
    truth_idx: np.ndarray  # int32 flat indices into the fine grid
    truth_val: np.ndarray  # float32 photons at those indices


def sim_args(seed: int, size: int = 64, scale: int = 4, psf: str = "gauss,airy", psf_width: str = "0.5623:17.78",
             photons: str = "1:100000", background: str = "1:100", density: str = "5:500",
             count: int | None = None, brightness: str | None = None, camera: str | None = None,
             background_structure: str | None = None, psf_ellipticity: str | None = None,
             aberration: str | None = None) -> list[str]:
    # The realism options (src/optics; `rayleigh simulate --help`) are passed only when given, so
    # the default command line - and the stream it produces - is the original simulator's:
    #   brightness "equal,damn,wide", camera "ideal,scmos,emccd,cmos-astro" (ADU frames; the
    #   input normalisation's min-subtraction removes the offset), background_structure
    #   "none,gradient,blobs,both", psf "gauss,airy,pupil" with aberration "0.05:0.3" (waves RMS),
    #   psf_ellipticity "1:2" (axis ratio, gauss samples). params[5:8] then say what was drawn.
    # DAMN_SIM_PREFIX (a JSON argument list) swaps the simulator command, e.g. for smoke tests.
    prefix = json.loads(os.environ["DAMN_SIM_PREFIX"]) if os.environ.get("DAMN_SIM_PREFIX") else ["node", str(CLI)]
    args = [*prefix, "simulate", "--task", "damn", "--stream", "--size", str(size), "--scale", str(scale),
            "--seed", str(seed), "--psf", psf, "--psf-width", psf_width, "--photons", photons,
            "--background", background, "--density", density]
    for flag, value in (("--brightness", brightness), ("--camera", camera),
                        ("--background-structure", background_structure),
                        ("--psf-ellipticity", psf_ellipticity), ("--aberration", aberration)):
        if value is not None:
            args += [flag, value]
    if count is not None:
        args += ["--count", str(count)]
    return args


def unet_physics_flags(film_amplitude: str | None = None, film_phase: str | None = None,
                       dipole_ratio: str | None = None, dipole_phase: str | None = None) -> list[str]:
    """`simulate --task unet` flags for a film (when `film_amplitude` is given) and vector holes (when `dipole_ratio` is)."""
    flags: list[str] = []
    if film_amplitude is not None:
        flags += ["--film-amplitude", film_amplitude, "--film-phase", film_phase or "0"]
    if dipole_ratio is not None:
        flags += ["--vector", "--dipole-ratio", dipole_ratio, "--dipole-phase", dipole_phase or "0"]
    return flags


def unet_sim_args(seed: int, holes: str = "1:10", pair_fraction: float = 0.0, pair_distance: str | None = None,
                  frame_photons: str = "0", read_noise: str = "0", binning: int = 1, pixel_integration: bool = False,
                  count: int | None = None, film_amplitude: str | None = None, film_phase: str | None = None,
                  dipole_ratio: str | None = None, dipole_phase: str | None = None) -> list[str]:
    """`rayleigh simulate --task unet --stream` (the nanohole simulator, src/optics/nanohole.ts: scalar, or
    vector holes when `dipole_ratio` is given)."""
    prefix = json.loads(os.environ["DAMN_SIM_PREFIX"]) if os.environ.get("DAMN_SIM_PREFIX") else ["node", str(CLI)]
    args = [*prefix, "simulate", "--task", "unet", "--stream", "--seed", str(seed), "--holes", holes,
            "--pair-fraction", str(pair_fraction), "--frame-photons", frame_photons, "--read-noise", read_noise,
            "--binning", str(binning)]
    if pair_distance is not None:
        args += ["--pair-distance", pair_distance]
    if pixel_integration:
        args.append("--pixel-integration")
    args += unet_physics_flags(film_amplitude, film_phase, dipole_ratio, dipole_phase)
    if count is not None:
        args += ["--count", str(count)]
    return args


def _read_exact(f, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            raise EOFError(f"stream ended after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def read_samples(f, limit: int | None = None):
    """Yields (H, W, scale, Sample) from a binary stream."""
    head = _read_exact(f, 32)
    magic, version, h, w, scale, task = head[:4], *struct.unpack("<5I", head[4:24])
    if magic != b"RLSM" or version != 1 or task not in (0, 1):
        raise ValueError(f"bad stream header {magic!r} v{version} task {task}")
    n_fine = h * scale * w * scale
    rec = 4 * (8 + h * w + n_fine)
    k = 0
    while limit is None or k < limit:
        try:
            raw = _read_exact(f, rec)
        except EOFError:
            if limit is None:
                return
            raise
        arr = np.frombuffer(raw, dtype="<f4")
        params = arr[:8].copy()
        frame = arr[8 : 8 + h * w].reshape(h, w).copy()
        truth = arr[8 + h * w :]
        idx = np.flatnonzero(truth).astype(np.int32)
        yield h, w, scale, Sample(params, frame, idx, truth[idx].copy())
        k += 1


def collect(args: list[str], n: int) -> list[Sample]:
    """Runs one simulator process to completion for a fixed set (validation)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        out = [s for *_, s in read_samples(proc.stdout, n)]
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()
    return out


class ReplayBuffer:
    """Background readers feed bounded per-stream buffers; training draws from them with D4 augmentation.

    Every stream keeps a queue of not-yet-used samples, consumed first, so each fresh sample is
    trained on at least once while training keeps up. When training outpaces the simulator, batches
    are filled with replayed samples under random flips/rotations instead of stalling.
    Streams are mixed by weight, independent of how fast each one generates.
    """

    def __init__(self, streams: list[tuple[list[str], float]], capacity: int = 4096) -> None:
        self.lock = threading.Lock()
        self.errors: list[str] = []
        self.shape: tuple[int, int, int] | None = None
        total_w = sum(w for _, w in streams)
        self.weights = [w / total_w for _, w in streams]
        self.bufs: list[deque[Sample]] = [deque(maxlen=max(64, int(capacity * w))) for w in self.weights]
        self.fresh: list[deque[Sample]] = [deque(maxlen=max(64, int(capacity * w))) for w in self.weights]
        self.received = [0] * len(streams)
        self.fresh_cap = 64
        self.used_fresh = 0
        self.used_replay = 0
        self.procs: list[subprocess.Popen] = []
        for i, (args, _w) in enumerate(streams):
            p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.procs.append(p)
            threading.Thread(target=self._pump, args=(i, p), daemon=True).start()

    def _pump(self, i: int, proc: subprocess.Popen) -> None:
        try:
            for h, w, s, sample in read_samples(proc.stdout):
                self.shape = (h, w, s)
                # Back-pressure: a full fresh queue leaves the simulator blocked on its pipe, so it
                # never burns the CPU that training needs on samples that would be dropped.
                while len(self.fresh[i]) >= self.fresh_cap:
                    time.sleep(0.02)
                with self.lock:
                    self.bufs[i].append(sample)
                    self.fresh[i].append(sample)
                    self.received[i] += 1
        except Exception as e:  # noqa: BLE001 - reported in the training log; other streams keep going
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            self.errors.append(f"stream {i}: {e} {err}")
        else:
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            self.errors.append(f"stream {i} ended: {err}")

    def ready(self, min_per_stream: int) -> bool:
        return all(len(b) >= min_per_stream for b in self.bufs)

    def batch(self, n: int, rng: random.Random) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns frames [n,1,H,W], dense truth [n,1,Hs,Ws], params [n,8]."""
        assert self.shape is not None
        h, w, s = self.shape
        picks: list[Sample] = []
        with self.lock:
            for _ in range(n):
                i = rng.choices(range(len(self.weights)), self.weights)[0]
                if self.fresh[i]:
                    picks.append(self.fresh[i].popleft())
                    self.used_fresh += 1
                else:
                    picks.append(self.bufs[i][rng.randrange(len(self.bufs[i]))])
                    self.used_replay += 1
        frames = np.empty((n, 1, h, w), np.float32)
        truths = np.zeros((n, 1, h * s, w * s), np.float32)
        params = np.empty((n, 8), np.float32)
        for k, smp in enumerate(picks):
            t = np.zeros(h * s * w * s, np.float32)
            t[smp.truth_idx] = smp.truth_val
            f, tt = d4(smp.frame, t.reshape(h * s, w * s), rng.randrange(8))
            frames[k, 0] = f
            truths[k, 0] = tt
            params[k] = smp.params
        return frames, truths, params

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def d4(frame: np.ndarray, truth: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Flips/rotations of a square frame; a camera-grid flip is exactly a fine-grid flip."""
    if k & 4:
        frame, truth = frame.T, truth.T
    r = k & 3
    return np.ascontiguousarray(np.rot90(frame, r)), np.ascontiguousarray(np.rot90(truth, r))
