"""Rebuild the shipped lift and PhysNet checkpoints, and measure Table 2 and throughput.

This is the exact recipe behind finephys_cli/assets/{lifter,physnet,physnet_mlp}:

    python benchmarks/train_pose_models.py --phase lift --out OUTDIR --dm-train ... --dm-val ...
    python benchmarks/train_pose_models.py --phase physnet --lifter finephys_cli/assets/lifter \
        --out OUTDIR \
        --dm-train dm_train.h5 --dm-val dm_val.h5 [--lift-steps 6000] [--phys-steps 3000]

with dm_train.h5 / dm_val.h5 made by
    finephys synth --motion deepmimic --clips crawl,dance_a,getup_facedown,kick,punch,roll,run,spin,walk --per-class 10 --seed 1 -o dm_train.h5
    finephys synth --motion deepmimic --clips dance_b,getup_faceup,jump --per-class 6 --seed 2 -o dm_val.h5
The reserved clips (backflip, cartwheel, spinkick) are in neither.
Synthetic training data uses seeds 1..N; the held-out synth test set uses seed 1000.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path



def make_synth(args: tuple[int, int, str]) -> str:
    seed, per_class, out = args
    from finephys_cli.stages.synth import SynthConfig, run_synth

    return str(run_synth(SynthConfig(per_class=per_class, seed=seed), Path(out), progress="none"))


def train_lift_job(args: tuple) -> str:
    data, runs, name, steps, use_prompt, device, limit = args
    from finephys_cli.configs import load_config
    from finephys_cli.stages.train_lift import TrainLiftConfig, run_train_lift

    cfg = load_config(TrainLiftConfig, None, [f"model.use_prompt={str(use_prompt).lower()}"],
                      data=data, name=name, steps=steps, batch_size=256, eval_every=500,
                      time_limit_s=limit)
    return str(run_train_lift(cfg, Path(runs), device=device, progress="plain"))


def train_phys_job(args: tuple) -> str:
    data, runs, name, steps, model_type, seed, lifter, device, limit = args
    from finephys_cli.configs import load_config
    from finephys_cli.stages.train_physnet import TrainPhysnetConfig, run_train_physnet

    cfg = load_config(TrainPhysnetConfig, None, None, data=data, name=name, steps=steps,
                      batch_size=256, model_type=model_type, seed=seed, lifter=lifter,
                      eval_every=500, time_limit_s=limit)
    return str(run_train_physnet(cfg, Path(runs), device=device, progress="plain"))


def lifter_ablation(lifter_dir: str, noprompt_dir: str, files: list[str], device: str) -> dict:
    """Held-out lifter metrics: shipped model, mean prior alone, query 2D + prior depth,
    the model trained without prompts."""
    import torch

    from finephys_cli.data.lift_data import load_training_clips
    from finephys_cli.models.lifter import InContextLifter
    from finephys_cli.stages.train_lift import evaluate_lifter, mpjpe, n_mpjpe, windows_of

    out = {}
    for f in files:
        win = windows_of(load_training_clips([f]), 16, 16)
        model = InContextLifter.from_pretrained(Path(lifter_dir), device=device)
        nop = InContextLifter.from_pretrained(Path(noprompt_dir), device=device)
        res = {"shipped": evaluate_lifter(model, win, device),
               "no_prompt_model": evaluate_lifter(nop, win, device, use_prompt=False)}
        t = torch.as_tensor(win["target"], dtype=torch.float32)
        m = torch.as_tensor(win["valid"])
        q = torch.as_tensor(win["query"], dtype=torch.float32)
        prior = model.mean_prior.cpu()[None].expand_as(t)
        tr = t - t[..., :1, :]
        res["mean_prior_alone"] = {"mpjpe": float(mpjpe(prior, tr, m)),
                                   "n_mpjpe": float(n_mpjpe(prior, tr, m))}
        xyz = torch.cat([q[..., :2], prior[..., 2:]], -1)
        xyz = xyz - xyz[..., :1, :]
        res["query2d_plus_prior_depth"] = {"mpjpe": float(mpjpe(xyz, tr, m)),
                                           "n_mpjpe": float(n_mpjpe(xyz, tr, m))}
        res["windows"] = int(len(t))
        out[Path(f).name] = res
    return out


def throughput(lifter_dir: str, phys_dir: str, device: str, clips: int = 1024,
               flip_average: bool = False) -> dict:
    import torch

    from finephys_cli.models.batching import map_pieces
    from finephys_cli.models.lifter import InContextLifter
    from finephys_cli.models.physnet import PhysNet

    lifter = InContextLifter.from_pretrained(Path(lifter_dir), device=device)
    phys = PhysNet.from_pretrained(Path(phys_dir), device=device)
    # One clip = one lifter window of the lifter's own length (16, or 32 for lifter v0.8: each
    # window then costs more, at the same window count per video, since `lift` steps by 8
    # frames either way) and one 16-frame PhysNet window of its S_dd.
    q = torch.randn(clips, lifter.config.frames, 17, 3, device=device) * 0.3
    q[..., 2] = 1.0
    phys_frames = getattr(phys.config, "frames", 16)
    res = {}
    # As `lift` and `physnet` run them (models/batching.py): the lifter in pieces of 16 windows
    # on CPU (cache-sized; on CUDA the whole batch), PhysNet in pieces of 256 (before session 8
    # it ran the whole batch); on CPU the pieces run on one single-threaded worker per
    # intra-op thread.
    chunk = 16 if device == "cpu" else clips

    def lift_then_refine():
        s_dd = torch.cat(map_pieces(lambda x: lifter.lift(x, flip_average=flip_average)[0].float(), q, chunk, device))
        return map_pieces(lambda x: phys(x, sample_noise=False), s_dd[:, :phys_frames], 256,
                          device)

    for dtype in (torch.float32, torch.bfloat16):
        if device == "cpu" and dtype == torch.bfloat16:
            continue
        with torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32):
            for _ in range(2):
                lift_then_refine()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            reps = 5
            for _ in range(reps):
                lift_then_refine()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            res[str(dtype).replace("torch.", "")] = round(clips * reps /
                                                          (time.perf_counter() - t0), 1)
    return res


def _limit_threads() -> None:
    import torch

    torch.set_num_threads(2)   # several training processes share the host's cores


def bundle_out(work: Path, out: Path, folders: dict[str, str], runs: list[str]) -> None:
    """Everything travels back as one archive (the device returns at most 8 files)."""
    bundle = work / "bundle"
    if bundle.exists():
        shutil.rmtree(bundle)
    for dst, src in folders.items():
        shutil.copytree(src, bundle / dst)
    for run in runs:
        shutil.copy(Path(run) / "metrics.csv", bundle / f"metrics_{Path(run).name}.csv")
    with tarfile.open(out / f"models_{Path(folders and next(iter(folders))).name}.tar.gz", "w:gz") as tar:
        tar.add(bundle, arcname="bundle")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phase", choices=("lift", "physnet"), required=True)
    ap.add_argument("--work", default="/tmp/fp")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dm-train", required=True)
    ap.add_argument("--dm-val", required=True)
    ap.add_argument("--lifter", default="finephys_cli/assets/lifter")
    ap.add_argument("--synth-seeds", type=int, default=16)
    ap.add_argument("--per-class", type=int, default=3)
    ap.add_argument("--lift-steps", type=int, default=5000)
    ap.add_argument("--phys-steps", type=int, default=2000)
    ap.add_argument("--phys-seeds", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--train-s", type=float, default=0.0, help="time limit per training run")
    args = ap.parse_args()
    work, out = Path(args.work), Path(args.out)
    (work / "data").mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    jobs = [(s, args.per_class, str(work / "data" / f"synth_s{s}.h5"))
            for s in range(1, args.synth_seeds + 1)]
    jobs.append((1000, 4, str(work / "data" / "synth_test_s1000.h5")))
    with ProcessPoolExecutor(max_workers=min(16, os.cpu_count() or 2)) as pool:
        files = list(pool.map(make_synth, jobs))
    train_files, test_file = files[:-1], files[-1]
    data = tuple(train_files + [args.dm_train])
    print(f"synth data ready in {time.time() - t0:.0f}s", flush=True)
    runs = work / "runs"
    shutil.rmtree(runs, ignore_errors=True)       # a fresh benchmark (a rerun into a run is refused)
    spawn = __import__("multiprocessing").get_context("spawn")
    device_name = __import__("torch").cuda.get_device_name(0) if args.device == "cuda" \
        else platform.processor()
    if args.phase == "lift":
        with ProcessPoolExecutor(max_workers=2, mp_context=spawn,
                                 initializer=_limit_threads) as pool:
            lift_runs = list(pool.map(train_lift_job, [
                (data, str(runs), "lift", args.lift_steps, True, args.device, args.train_s),
                (data, str(runs), "lift_noprompt", args.lift_steps, False, args.device,
                 args.train_s)]))
        print(f"lift trained at {time.time() - t0:.0f}s", flush=True)
        lifter = str(Path(lift_runs[0]) / "model-best")
        result = {"device": device_name,
                  "lifter_ablation": lifter_ablation(lifter, str(Path(lift_runs[1]) / "model-best"),
                                                     [test_file, args.dm_val], args.device),
                  "seconds": round(time.time() - t0, 1)}
        (out / "lift.json").write_text(json.dumps(result, indent=2, default=float))
        bundle_out(work, out, {"lifter": lifter,
                               "lifter_noprompt": str(Path(lift_runs[1]) / "model-best")},
                   lift_runs)
        print(json.dumps(result, indent=1, default=float))
        return
    lifter = args.lifter
    phys_jobs = [(data, str(runs), f"{kind}_seed{s}", args.phys_steps, kind, s, lifter,
                  args.device, args.train_s) for kind in ("physnet", "mlp") for s in range(args.phys_seeds)]
    with ProcessPoolExecutor(max_workers=len(phys_jobs), mp_context=spawn,
                             initializer=_limit_threads) as pool:
        phys_runs = list(pool.map(train_phys_job, phys_jobs))
    print(f"physnet trained at {time.time() - t0:.0f}s", flush=True)
    # Table 2 on the held-out synth split and the DeepMimic validation clips, per seed.
    from finephys_cli.stages.eval_poses import evaluate_file
    from finephys_cli.stages.lift import LiftConfig, run_lift
    from finephys_cli.stages.physnet import RefineConfig, run_physnet

    table: dict = {}
    for name, src in (("synth_test", test_file), ("deepmimic_val", args.dm_val)):
        p3 = run_lift(LiftConfig(model=lifter), Path(src), work / f"{name}.pose3d.h5",
                      device=args.device, progress="none", overwrite=True)
        for s in range(args.phys_seeds):
            ph = run_physnet(RefineConfig(model=str(Path(phys_runs[s]) / "model-best"),
                                           mlp_model=str(Path(phys_runs[args.phys_seeds + s])
                                                         / "model-best")),
                             p3, work / f"{name}.seed{s}.phys.h5", device=args.device,
                             progress="none", overwrite=True)
            table.setdefault(name, []).append(evaluate_file(ph))
    result = {"device": device_name, "table2_per_seed": table,
              "throughput_clips_per_s": throughput(lifter, str(Path(phys_runs[0]) / "model-best"),
                                                   args.device),
              "seconds": round(time.time() - t0, 1)}
    (out / "physnet.json").write_text(json.dumps(result, indent=2, default=float))
    bundle_out(work, out, {"physnet": str(Path(phys_runs[0]) / "model-best"),
                           "physnet_mlp": str(Path(phys_runs[args.phys_seeds]) / "model-best")},
               phys_runs)
    print(json.dumps({k: v for k, v in result.items() if k != "table2_per_seed"}, indent=1))
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
