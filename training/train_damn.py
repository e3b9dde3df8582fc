"""Trains the DAMN emitter super-resolution network on a live stream from `rayleigh simulate`.

Reproduce the shipped model:
    /usr/bin/python3 training/train_damn.py --minutes 45
then export with `/usr/bin/python3 training/export.py`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from damn_model import SCALE, DamnNet, normalise_input, unit_sum  # noqa: E402
from macs import macs_per_input_pixel, receptive_field_radius  # noqa: E402
from sim_stream import ReplayBuffer, Sample, collect, sim_args  # noqa: E402

# Published training ranges (Vasinka et al. 2025). PSF width 10^-0.25..10^1.25 px.
PUBLISHED = dict(psf="gauss,airy", psf_width="0.5623:17.78", photons="1:100000", background="1:100", density="5:500")
# The conditions the product is judged on live in the middle of those ranges; a second stream
# oversamples them so that capacity is not spent mostly on hopeless (1-photon) or extreme frames.
FOCUSED = dict(psf="gauss,airy", psf_width="0.7:6", photons="200:50000", background="2:50", density="5:300")
# Scenes as real cameras deliver them (issue #13): brightness spread within a frame, ADU frames
# from sCMOS / EMCCD / astro-CMOS cameras, structured backgrounds, aberrated and elliptical PSFs,
# undersampling down to 0.5 px. Same photon/background/density ranges as FOCUSED.
REALISM = dict(psf="gauss,airy,pupil", psf_width="0.5:6", photons="200:50000", background="2:50", density="5:300",
               brightness="equal,damn,wide", camera="ideal,scmos,emccd,cmos-astro",
               background_structure="none,gradient,blobs,both", psf_ellipticity="1:2", aberration="0.05:0.3")

# Held-out validation conditions (seeds below 1e6, disjoint from training seeds and from the
# evaluation seeds >= 1e6).
VAL_CONDITIONS = {
    "default": dict(psf="gauss", psf_width="2:2", photons="5000:5000", background="10:10", density="50:50"),
    "sparse10": dict(psf="gauss", psf_width="2:2", photons="5000:5000", background="10:10", density="10:10"),
    "dense200": dict(psf="gauss", psf_width="2:2", photons="5000:5000", background="10:10", density="200:200"),
    "sigma1": dict(psf="gauss", psf_width="1:1", photons="5000:5000", background="10:10", density="50:50"),
    "sigma4": dict(psf="gauss", psf_width="4:4", photons="5000:5000", background="10:10", density="50:50"),
    "airy2": dict(psf="airy", psf_width="2:2", photons="5000:5000", background="10:10", density="50:50"),
    "photons500": dict(psf="gauss", psf_width="2:2", photons="500:500", background="10:10", density="50:50"),
}
# With --realism-weight the validation also holds the realistic scenes the product is judged on.
VAL_REALISM = {
    "default_damn": dict(psf="gauss", psf_width="2:2", photons="5000:5000", background="10:10", density="50:50",
                         brightness="damn"),
    "sparse_damn": dict(psf="gauss", psf_width="2:2", photons="5000:5000", background="10:10", density="10:10",
                        brightness="damn"),
    "aberrated": dict(psf="pupil", psf_width="2:2", photons="5000:5000", background="10:10", density="50:50",
                      aberration="0.15:0.15"),
    "emccd_wide": dict(psf="gauss", psf_width="1.5:1.5", photons="5000:5000", background="10:10", density="50:50",
                       brightness="wide", camera="emccd"),
}
VAL_SEED_BASE = 900_000
VAL_PER_CONDITION = 16
CROP = 64  # camera px, training crops and validation frames
TRAIN_SEED_BASE = 10_000


def binned(m: torch.Tensor, k: int) -> torch.Tensor:
    return F.avg_pool2d(m, k) * (k * k)


def loss_fn(out: torch.Tensor, truth: torch.Tensor, w_bin: float, w_mse: float) -> torch.Tensor:
    """L1 on unit-sum maps (the evaluation metric), plus L1 after sum-binning both maps 2x2 and 4x4.

    The binned terms give a gradient towards the right fine pixel when mass lands one pixel off,
    where plain L1 only sees 'wrong pixel'; the 4x4 term is the camera-grid metric itself.
    (Non-overlapping pooling instead of a Gaussian blur: on a shared 2-core CPU a stride-1 blur
    of the 256x256 maps cost more than the network.) An optional MSE term (the published DAMN
    loss) is kept for comparison.
    """
    p = unit_sum(out)
    t = unit_sum(truth)
    n = p.shape[0]

    def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).abs().reshape(n, -1).sum(1).mean()

    loss = l1(p, t)
    if w_bin > 0:
        loss = loss + w_bin * 0.5 * (l1(binned(p, 2), binned(t, 2)) + l1(binned(p, 4), binned(t, 4)))
    if w_mse > 0:
        # Scaled by the number of camera pixels so its magnitude is comparable to the L1 terms.
        loss = loss + w_mse * ((p - t) ** 2).reshape(n, -1).sum(1).mean() * (truth.shape[-1] * truth.shape[-2] / 16)
    return loss


def subpixel_ce(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the per-camera-pixel sub-pixel softmax against where the truth's mass sits
    inside that pixel, weighted by the pixel's share of the frame's truth mass (empty pixels: 0)."""
    t = F.pixel_unshuffle(truth, truth.shape[-1] // logits.shape[-1])
    n = t.shape[0]
    t = t / t.reshape(n, -1).sum(1).clamp_min(1e-12).view(n, 1, 1, 1)
    return -(t * F.log_softmax(logits, 1)).reshape(n, -1).sum(1).mean()


def to_tensors(samples: list[Sample], scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = samples[0].frame.shape
    frames = torch.from_numpy(np.stack([s.frame for s in samples])[:, None])
    truths = np.zeros((len(samples), h * scale * w * scale), np.float32)
    for i, s in enumerate(samples):
        truths[i, s.truth_idx] = s.truth_val
    return frames, torch.from_numpy(truths.reshape(len(samples), 1, h * scale, w * scale))


def maes(model: torch.nn.Module, frames: torch.Tensor, truths: torch.Tensor, scale: int) -> tuple[float, float]:
    """Mean absolute error between unit-sum maps, on the fine grid and sum-binned to the camera grid."""
    with torch.no_grad():
        p = unit_sum(model(normalise_input(frames)))
    t = unit_sum(truths)
    fine = (p - t).abs().mean().item()
    return fine, (binned(p, scale) - binned(t, scale)).abs().mean().item()


def validation_set(path: Path, per_condition: int = VAL_PER_CONDITION, size: int = CROP,
                   scale: int = SCALE, conditions: dict | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The held-out validation frames and truths per condition, simulated once and cached in `path`."""
    conditions = VAL_CONDITIONS if conditions is None else conditions
    cached = np.load(path) if path.exists() else None
    if cached is not None and all(f"{k}_frames" in cached and len(cached[f"{k}_frames"]) == per_condition
                                  and cached[f"{k}_frames"].shape[-1] == size
                                  and cached[f"{k}_truth"].shape[-1] == size * scale for k in conditions):
        return {k: (torch.from_numpy(cached[f"{k}_frames"]), torch.from_numpy(cached[f"{k}_truth"])) for k in conditions}
    val = {}
    for i, (name, cond) in enumerate(conditions.items()):
        val[name] = to_tensors(collect(sim_args(VAL_SEED_BASE + i, size, scale, **cond), per_condition), scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{f"{k}_frames": v[0].numpy() for k, v in val.items()},
                        **{f"{k}_truth": v[1].numpy() for k, v in val.items()})
    return val


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=45.0, help="wall-clock training budget; the LR schedule follows it")
    ap.add_argument("--steps", type=int, default=0, help="fixed step count instead of a time budget")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=CROP)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--w-bin", type=float, default=1.0)
    ap.add_argument("--w-mse", type=float, default=0.0)
    ap.add_argument("--w-ce", type=float, default=0.5, help="weight of the sub-pixel cross-entropy term")
    ap.add_argument("--focused-weight", type=float, default=0.6)
    ap.add_argument("--realism-weight", type=float, default=0.0,
                    help="share of a third stream of realistic scenes (REALISM); the other two share the rest")
    ap.add_argument("--resume", action="store_true",
                    help="continue from ckpt-dir/last.pt (weights, optimiser, step) on the same --steps schedule")
    ap.add_argument("--val-per-condition", type=int, default=VAL_PER_CONDITION)
    ap.add_argument("--val-every", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", type=Path, default=None, help="start from these weights (state_dict)")
    ap.add_argument("--out", type=Path, default=HERE / "damn.pt")
    ap.add_argument("--ckpt-dir", type=Path, default=HERE / "checkpoints")
    ap.add_argument("--summary", type=Path, default=HERE / "logs" / "damn-train-summary.json",
                    help="where the run's summary JSON goes")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    args.ckpt_dir.mkdir(parents=True, exist_ok=True)
    scale = SCALE

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)

    model = DamnNet()
    if args.init is not None:
        # Non-strict so a checkpoint of an earlier head still seeds the body; say what was not loaded.
        missing, unexpected = model.load_state_dict(torch.load(args.init), strict=False)
        if missing or unexpected:
            print(f"init {args.init}: new {missing}, ignored {unexpected}", flush=True)
    macs = macs_per_input_pixel(model, args.size)
    rf = receptive_field_radius(DamnNet)
    log(f"model params={sum(p.numel() for p in model.parameters())} macs_per_input_px={macs:.0f} rf_radius_px={rf}")
    log(f"args {json.dumps({k: str(v) for k, v in vars(args).items()})}")

    rest = 1.0 - args.realism_weight
    # A resumed run must not replay the samples it already saw: its simulator seeds move on.
    resumed = torch.load(args.ckpt_dir / "last.pt") if args.resume and (args.ckpt_dir / "last.pt").exists() else None
    seed_shift = 1000 * (resumed["step"] if resumed else 0)
    streams = [
        (sim_args(TRAIN_SEED_BASE + args.seed * 10 + 1 + seed_shift, args.size, scale, **PUBLISHED),
         rest * (1.0 - args.focused_weight)),
        (sim_args(TRAIN_SEED_BASE + args.seed * 10 + 2 + seed_shift, args.size, scale, **FOCUSED), rest * args.focused_weight),
    ]
    if args.realism_weight > 0:
        streams.append((sim_args(TRAIN_SEED_BASE + args.seed * 10 + 3 + seed_shift, args.size, scale, **REALISM),
                        args.realism_weight))
    for a, w in streams:
        log(f"stream w={w:.2f}: {' '.join(a[2:])}")
    buf = ReplayBuffer(streams, capacity=8192)

    val_path = args.ckpt_dir / "val.npz"
    val = validation_set(val_path, args.val_per_condition, args.size, scale,
                         {**VAL_CONDITIONS, **VAL_REALISM} if args.realism_weight > 0 else VAL_CONDITIONS)
    log(f"validation set: {len(val)} conditions x {args.val_per_condition} samples ({val_path})")

    while not buf.ready(args.batch):
        if buf.errors:
            raise SystemExit(f"simulator failed: {buf.errors}")
        time.sleep(0.5)
    log(f"buffer primed: {buf.received}")

    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    warmup = 100
    t_start = time.time()
    budget_s = args.minutes * 60
    best = float("inf")
    step = 0
    if resumed is not None:
        if not args.steps:
            raise SystemExit("--resume needs the run's --steps (a wall-clock schedule cannot be continued)")
        model.load_state_dict(resumed["model"])
        opt.load_state_dict(resumed["opt"])
        step = resumed["step"]
        best = resumed.get("best", best)
        log(f"resumed at step {step} of {args.steps} from {args.ckpt_dir / 'last.pt'}")
    ema = None
    last_ckpt = t_start
    t_log = time.time()
    while True:
        frac = step / args.steps if args.steps else (time.time() - t_start) / budget_s
        if frac >= 1.0:
            break
        # Linear warm-up, then cosine decay to 3% over the budget (steps or wall-clock).
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.03 + 0.97 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        frames, truths, _params = buf.batch(args.batch, rng)
        x = normalise_input(torch.from_numpy(frames))
        mass, logits = model.heads(x)
        truth_t = torch.from_numpy(truths)
        loss = loss_fn(model.combine(mass, logits), truth_t, args.w_bin, args.w_mse)
        if args.w_ce > 0:
            loss = loss + args.w_ce * subpixel_ce(logits, truth_t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 20 == 0:
            now = time.time()
            log(f"step {step} loss {loss.item():.4f} ema {ema:.4f} gnorm {gn:.3f} lr {lr:.2e} "
                f"{20 / (now - t_log):.2f} step/s received {sum(buf.received)} {buf.received} "
                f"fresh {buf.used_fresh} replay {buf.used_replay}")
            t_log = now
            if buf.errors:
                log(f"stream errors: {buf.errors}")
        if step % args.val_every == 0:
            model.eval()
            res = {name: maes(model, f, t, scale) for name, (f, t) in val.items()}
            model.train()
            mean_fine = sum(r[0] for r in res.values()) / len(res)
            log(f"val step {step} mean_fine_mae {mean_fine:.3e} " +
                " ".join(f"{n}={r[0]:.3e}/{r[1]:.3e}" for n, r in res.items()))
            if mean_fine < best:
                best = mean_fine
                torch.save(model.state_dict(), args.ckpt_dir / "best.pt")
        if time.time() - last_ckpt > 180:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "best": best},
                       args.ckpt_dir / "last.pt")
            last_ckpt = time.time()

    model.eval()
    res = {name: maes(model, f, t, scale) for name, (f, t) in val.items()}
    mean_fine = sum(r[0] for r in res.values()) / len(res)
    elapsed = time.time() - t_start
    log(f"final step {step} elapsed {elapsed / 60:.1f} min mean_fine_mae {mean_fine:.3e} " +
        " ".join(f"{n}={r[0]:.3e}/{r[1]:.3e}" for n, r in res.items()))
    torch.save(model.state_dict(), args.ckpt_dir / "final.pt")
    if mean_fine <= best:
        best = mean_fine
        torch.save(model.state_dict(), args.ckpt_dir / "best.pt")
    # The shipped weights are the best validated state (usually the final one under cosine decay).
    state = torch.load(args.ckpt_dir / "best.pt")
    torch.save(state, args.out)
    summary = {"steps": step, "minutes": round(elapsed / 60, 1), "best_mean_fine_mae": best,
               "final": {n: {"fine_mae": r[0], "binned_mae": r[1]} for n, r in res.items()},
               "macs_per_input_px": macs, "rf_radius_px": rf, "batch": args.batch, "size": args.size,
               "samples_fresh": buf.used_fresh, "samples_replayed": buf.used_replay}
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(json.dumps(summary, indent=2))
    log(f"saved {args.out}; summary {json.dumps(summary)}")
    buf.close()


if __name__ == "__main__":
    main()
