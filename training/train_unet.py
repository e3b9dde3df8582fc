"""Trains the nanohole residual U-Net (training/unet_model.py) on live streams from the scalar simulator,
optionally mixed with FDTD fine-tuning sets (`--fdtd`, made apart from the FDTD test set).

Data: `rayleigh simulate --task unet --stream` (src/optics/nanohole.ts, the one physics definition;
scalar Kirchhoff apertures + angular spectrum, NOT full-Maxwell), mixed from three streams:
random scenes of 1..10 holes (noiseless), the same with shot + read noise, and the two-hole sweep
0.158..0.677 lambda. Loss: binary cross-entropy on the logits + soft Dice (class-balanced: the
holes cover 0.3-3 % of the map). The learning-rate schedule is a function of the step count only
(`--steps`), so a run is reproduced by its step count; checkpoints every `--ckpt-minutes`, and
`--resume` continues from the last one.

    /usr/bin/python3 training/train_unet.py --steps 12000 > training/logs/unet-train.log 2>&1
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sim_stream import ReplayBuffer, Sample, collect, d4, unet_physics_flags, unet_sim_args  # noqa: E402
from unet_model import IN_SIZE, NanoholeUNet, build, load_trained, macs_per_frame, nanohole_input, widen  # noqa: E402

TRAIN_SEED_BASE = 20_000
VAL_SEED_BASE = 930_000  # below the evaluation's seeds (>= 1e6)
NOISY = dict(frame_photons="1e5:1e8", read_noise="0:3")
# name -> (stream arguments, validation samples)
VAL_SETS = {
    "clusters": (dict(holes="1:10"), 96),
    "pairs": (dict(holes="2:2", pair_fraction=1.0), 48),
    "noisy": (dict(holes="1:10", **NOISY), 32),
}
# A film that transmits t (src/optics/nanohole.ts FilmTransmission): |t| and phase (degrees) around
# the values that make the scalar intensity match the FDTD total intensity of 12 FDTD test samples
# (|t| = 0.06, 106 deg: Pearson 0.977; opaque: -0.32). Only these two numbers came from the test set.
FILM = dict(film_amplitude="0.03:0.15", film_phase="70:150")
VAL_FILM = ("film", (dict(holes="1:10", **FILM), 32))
# Vector holes (src/optics/nanohole.ts HoleDipoles): the magnetic-dipole pattern the FDTD set shows, with
# an electric-dipole share |eta| <= 0.3 at any phase as a margin (not fitted; on the 12 FDTD samples made
# for the film fit, training/fdtd/film-fit-data, |eta| 0..0.3 changed the scattered-field match by < 0.002).
DIPOLES = dict(dipole_ratio="0:0.3", dipole_phase="0:360")
VAL_VECTOR = ("vector-film", (dict(holes="1:10", **FILM, **DIPOLES), 32))


# FDTD fine-tuning sets (training/fdtd/make_set.py, another seed than the test set's): the recorded
# intensity as a camera sees it. The illumination is polarised along x, so only the flips that keep
# that axis augment them (d4's k = 0, 2, 5, 7: identity, 180 degrees, and the two mirror flips).
FDTD_TEST_DIR = HERE / "fdtd" / "data"
FDTD_FLIPS = (0, 2, 5, 7)
# every FDTD_HOLDOUT-th sample of the pool is held out as the "fdtd" validation set
FDTD_HOLDOUT = 10


class FdtdPool:
    """FDTD samples in memory: frames [S,128,128], truth maps (src/optics/nanohole.ts holeMap via
    training/fdtd_truth.ts, the eval's definition) and largest sub-Rayleigh cluster sizes."""

    def __init__(self, dirs: list[Path], cache: Path) -> None:
        test = json.loads((FDTD_TEST_DIR / "samples.json").read_text())
        frames, truths, clusters = [], [], []
        cache.mkdir(parents=True, exist_ok=True)
        for i, d in enumerate(dirs):
            meta = json.loads((d / "samples.json").read_text())
            if d.resolve() == FDTD_TEST_DIR.resolve() or meta.get("seed") == test.get("seed"):
                raise SystemExit(f"{d}: the FDTD test set (or its plan seed {test.get('seed')}) is never trained on")
            with gzip.open(d / "intensity.npy.gz") as f:
                inten = np.load(f).astype(np.float32)
            out = cache / f"fdtd-truth-{i}.npy"
            subprocess.run(["node", "--import", "tsx", str(HERE / "fdtd_truth.ts"), str(d), str(out)],
                           check=True, cwd=HERE.parent, stdout=subprocess.DEVNULL)
            t = np.load(out)
            if len(t) != len(inten) or len(t) != len(meta["samples"]):
                raise SystemExit(f"{d}: {len(inten)} frames, {len(t)} truth maps, {len(meta['samples'])} samples")
            frames.append(inten.reshape(-1, IN_SIZE, IN_SIZE))
            truths.append(t.reshape(-1, IN_SIZE, IN_SIZE))
            clusters += [s["largestCluster"] for s in meta["samples"]]
        self.frames = np.concatenate(frames)
        self.truths = np.concatenate(truths)
        self.clusters = np.asarray(clusters, np.float32)
        idx = np.arange(len(self.frames))
        self.val_idx = idx[idx % FDTD_HOLDOUT == 0]
        self.train_idx = idx[idx % FDTD_HOLDOUT != 0]

    def batch(self, n: int, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
        frames = np.empty((n, 1, IN_SIZE, IN_SIZE), np.float32)
        truths = np.empty((n, 1, IN_SIZE, IN_SIZE), np.float32)
        for k in range(n):
            i = int(self.train_idx[rng.randrange(len(self.train_idx))])
            frames[k, 0], truths[k, 0] = d4(self.frames[i], self.truths[i], rng.choice(FDTD_FLIPS))
        return frames, truths

    def validation(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        v = self.val_idx
        params = np.zeros((len(v), 8), np.float32)
        params[:, 1] = self.clusters[v]
        return (torch.from_numpy(self.frames[v][:, None].copy()), torch.from_numpy(self.truths[v][:, None].copy()),
                torch.from_numpy(params))


def to_tensors(samples: list[Sample]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    frames = torch.from_numpy(np.stack([s.frame for s in samples])[:, None])
    truths = np.zeros((len(samples), IN_SIZE * IN_SIZE), np.float32)
    for i, s in enumerate(samples):
        truths[i, s.truth_idx] = s.truth_val
    params = torch.from_numpy(np.stack([s.params for s in samples]))
    return frames, torch.from_numpy(truths.reshape(len(samples), 1, IN_SIZE, IN_SIZE)), params


def validation_set(path: Path, sets: dict = VAL_SETS) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Held-out samples per set, simulated once and cached in `path`."""
    if path.exists():
        c = np.load(path)
        if all(f"{k}_frames" in c and len(c[f"{k}_frames"]) == n for k, (_, n) in sets.items()):
            return {k: (torch.from_numpy(c[f"{k}_frames"]), torch.from_numpy(c[f"{k}_truth"]),
                        torch.from_numpy(c[f"{k}_params"])) for k in sets}
    val = {}
    for i, (name, (kw, n)) in enumerate(sets.items()):
        val[name] = to_tensors(collect(unet_sim_args(VAL_SEED_BASE + i, count=n, **kw), n))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{f"{k}_frames": v[0].numpy() for k, v in val.items()},
                        **{f"{k}_truth": v[1].numpy() for k, v in val.items()},
                        **{f"{k}_params": v[2].numpy() for k, v in val.items()})
    return val


def pearson(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Per-sample Pearson correlation of two [N,1,H,W] maps."""
    n = p.shape[0]
    a = p.reshape(n, -1) - p.reshape(n, -1).mean(1, keepdim=True)
    b = t.reshape(n, -1) - t.reshape(n, -1).mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


def evaluate(model: NanoholeUNet, val: dict, batch: int = 16) -> dict[str, float]:
    """Mean Pearson per validation set, per largest-cluster size (clusters set) and overall."""
    res: dict[str, float] = {}
    by_cluster: dict[int, list[float]] = {}
    with torch.no_grad():
        for name, (frames, truths, params) in val.items():
            rs = []
            for i in range(0, len(frames), batch):
                p = model(nanohole_input(frames[i:i + batch]))
                rs.append(pearson(p, truths[i:i + batch]))
            r = torch.cat(rs)
            res[name] = r.mean().item()
            if name == "clusters":
                for k, v in zip(params[:, 1].tolist(), r.tolist()):
                    by_cluster.setdefault(int(k), []).append(v)
    for k in sorted(by_cluster):
        res[f"k{k}"] = float(np.mean(by_cluster[k]))
    res["mean"] = float(np.mean([res[k] for k in val]))
    return res


def dice_loss(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    n = logits.shape[0]
    p = torch.sigmoid(logits).reshape(n, -1)
    t = truth.reshape(n, -1)
    return (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, required=True, help="schedule length; the LR follows step/steps")
    ap.add_argument("--stop-steps", type=int, default=0, help="stop early at this step (the schedule still spans --steps)")
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--w-dice", type=float, default=1.0)
    ap.add_argument("--weights", default="0.45,0.3,0.25", help="stream weights: clusters, noisy clusters, pairs")
    ap.add_argument("--val-every", type=int, default=500)
    ap.add_argument("--ckpt-minutes", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true", help="continue from CKPT_DIR/last.pt")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from these weights (fine-tuning); narrower weights are widened to --width")
    ap.add_argument("--width", default="base", help="channel plan (unet_model.WIDTHS)")
    ap.add_argument("--film-weight", type=float, default=0.0,
                    help="share of every stream drawn with a partially transmitting film (FILM ranges)")
    ap.add_argument("--vector-weight", type=float, default=0.0,
                    help="share of every stream drawn with vector holes (DIPOLES ranges), film or not")
    ap.add_argument("--fdtd", default=None,
                    help="comma-separated FDTD fine-tuning sets (never training/fdtd/data, the test set)")
    ap.add_argument("--fdtd-weight", type=float, default=0.0, help="share of every batch drawn from the --fdtd sets")
    ap.add_argument("--out", type=Path, default=HERE / "unet.pt")
    ap.add_argument("--ckpt-dir", type=Path, default=HERE / "checkpoints" / "unet")
    ap.add_argument("--summary", type=Path, default=HERE / "logs" / "unet-train-summary.json")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    args.ckpt_dir.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)

    model = build(args.width)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, best, ema = 0, -1.0, None
    last_path = args.ckpt_dir / "last.pt"
    if args.init is not None and not (args.resume and last_path.exists()):
        init = load_trained(args.init)
        if init.config == model.config:
            model.load_state_dict(init.state_dict())
            log(f"init from {args.init}")
        else:
            widen(init, model)
            log(f"init from {args.init}, widened {init.config} -> {model.config}")
    if args.resume and last_path.exists():
        ck = torch.load(last_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, best, ema = ck["step"], ck["best"], ck["ema"]
        rng.setstate(ck["rng"])
        log(f"resumed {last_path} at step {step} (best val {best:.4f})")
    macs = macs_per_frame(model)
    log(f"model params={sum(p.numel() for p in model.parameters())} macs_per_frame={macs:.3e} "
        f"macs_per_input_px={macs / IN_SIZE ** 2:.0f}")
    log(f"args {json.dumps({k: str(v) for k, v in vars(args).items()})}")

    w = [float(v) for v in args.weights.split(",")]
    # resumed runs draw fresh seeds so they do not replay the samples seen before the restart
    s0 = TRAIN_SEED_BASE + args.seed * 100 + 10 * (step // 100 % 1000)
    streams = [
        (unet_sim_args(s0 + 1, holes="1:10"), w[0]),
        (unet_sim_args(s0 + 2, holes="1:10", **NOISY), w[1]),
        (unet_sim_args(s0 + 3, holes="2:2", pair_fraction=1.0), w[2]),
    ]
    if args.film_weight > 0:
        fw = args.film_weight
        streams = [(a, wt * (1 - fw)) for a, wt in streams] + [
            (unet_sim_args(s0 + 4, holes="1:10", **FILM), w[0] * fw),
            (unet_sim_args(s0 + 5, holes="1:10", **NOISY, **FILM), w[1] * fw),
            (unet_sim_args(s0 + 6, holes="2:2", pair_fraction=1.0, **FILM), w[2] * fw),
        ]
    if args.vector_weight > 0:
        vw = args.vector_weight
        dip = unet_physics_flags(**DIPOLES)
        # the vector twin of each stream: same arguments, its own seed (+50)
        twins = []
        for a, wt in streams:
            b = list(a)
            b[b.index("--seed") + 1] = str(int(b[b.index("--seed") + 1]) + 50)
            twins.append((b + dip, wt * vw))
        streams = [(a, wt * (1 - vw)) for a, wt in streams] + twins
    for a, wt in streams:
        log(f"stream w={wt:.2f}: {' '.join(a[2:])}")
    buf = ReplayBuffer(streams, capacity=3000)
    val_sets = dict(VAL_SETS, **({VAL_FILM[0]: VAL_FILM[1]} if args.film_weight > 0 else {}),
                    **({VAL_VECTOR[0]: VAL_VECTOR[1]} if args.vector_weight > 0 else {}))
    val = validation_set(args.ckpt_dir / "val.npz", val_sets)
    pool = None
    if args.fdtd:
        pool = FdtdPool([Path(d) for d in args.fdtd.split(",")], args.ckpt_dir)
        val["fdtd"] = pool.validation()
        log(f"FDTD pool: {len(pool.train_idx)} training samples, {len(pool.val_idx)} held out; batch share {args.fdtd_weight}")
    n_fdtd = round(args.batch * args.fdtd_weight) if pool is not None else 0
    log("validation set: " + ", ".join(f"{k} {len(v[0])}" for k, v in val.items()))
    while not buf.ready(args.batch):
        if buf.errors:
            raise SystemExit(f"simulator failed: {buf.errors}")
        time.sleep(0.5)

    def weights() -> dict:
        return {"model": model.state_dict(), "config": model.config}

    def save_last() -> None:
        torch.save({"model": model.state_dict(), "config": model.config, "opt": opt.state_dict(), "step": step, "best": best,
                    "ema": ema, "rng": rng.getstate()}, last_path.with_suffix(".tmp"))
        last_path.with_suffix(".tmp").replace(last_path)

    # SIGTERM/SIGINT end the run cleanly after the current step: checkpoint, final validation, weights
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))

    if step == 0 and args.init is not None:
        model.eval()
        log("val step 0 (init) pearson " + " ".join(f"{k}={v:.4f}" for k, v in evaluate(model, val).items()))
        model.train()
    warmup = 200
    last_ckpt = time.time()
    t_log = time.time()
    t_start = time.time()
    stop = args.stop_steps or args.steps
    while step < stop and not stopping:
        frac = step / args.steps
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        frames, truths, _ = buf.batch(args.batch - n_fdtd, rng)
        if n_fdtd:
            ff, ft = pool.batch(n_fdtd, rng)
            frames, truths = np.concatenate([frames, ff]), np.concatenate([truths, ft])
        x = nanohole_input(torch.from_numpy(frames))
        t = torch.from_numpy(truths)
        logits = model.logits(x)
        bce = F.binary_cross_entropy_with_logits(logits, t)
        dice = dice_loss(logits, t)
        loss = bce + args.w_dice * dice
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 50 == 0:
            now = time.time()
            log(f"step {step} loss {loss.item():.4f} bce {bce.item():.4f} dice {dice.item():.4f} ema {ema:.4f} "
                f"gnorm {gn:.3f} lr {lr:.2e} {50 / (now - t_log):.2f} step/s received {buf.received} "
                f"fresh {buf.used_fresh} replay {buf.used_replay}")
            t_log = now
            if buf.errors:
                log(f"stream errors: {buf.errors}")
        if step % args.val_every == 0 or step == stop:
            model.eval()
            res = evaluate(model, val)
            model.train()
            log(f"val step {step} pearson " + " ".join(f"{k}={v:.4f}" for k, v in res.items()))
            if res["mean"] > best:
                best = res["mean"]
                torch.save(weights(), args.ckpt_dir / "best.pt")
        if time.time() - last_ckpt > 60 * args.ckpt_minutes:
            save_last()
            last_ckpt = time.time()
    save_last()
    if stopping:
        log(f"stopped by signal at step {step} of a {args.steps}-step schedule")
    model.eval()
    res = evaluate(model, val)
    torch.save(weights(), args.ckpt_dir / "final.pt")
    # ship the final weights (cosine decay ends there); best.pt is kept for comparison
    torch.save(weights(), args.out)
    summary = {"steps": step, "schedule_steps": args.steps, "stopped_by_signal": bool(stopping), "batch": args.batch, "lr": args.lr,
               "minutes_this_session": round((time.time() - t_start) / 60, 1), "final_val_pearson": res,
               "best_val_mean": best, "film_weight": args.film_weight, "vector_weight": args.vector_weight,
               "fdtd": args.fdtd, "fdtd_weight": args.fdtd_weight,
               "fdtd_samples": None if pool is None else {"train": len(pool.train_idx), "held_out": len(pool.val_idx)},
               "width": args.width, "config": model.config, "macs_per_frame": macs, "macs_per_input_px": macs / IN_SIZE ** 2,
               "samples_fresh": buf.used_fresh, "samples_replayed": buf.used_replay,
               "data": "scalar simulator (rayleigh simulate --task unet)" + (" + FDTD fine-tuning sets" if pool is not None else "")}
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(json.dumps(summary, indent=2))
    log(f"saved {args.out}; summary {json.dumps(summary)}")
    buf.close()


if __name__ == "__main__":
    main()
