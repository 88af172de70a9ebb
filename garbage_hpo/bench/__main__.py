"""Measure garbage-hpo on this machine and record the figures:

    python -m garbage_hpo.bench [data.root=DIR] [sections=extract,head,sweep,finetune,latency,startup[,champion]]
                                [trials=30]
                                [images=128] [--no-record]

Runs on the real photos when data.root is given (else the generated demo set) and prints one line per
figure; the last line is one JSON object with every figure. Unless --no-record, a section with the
machine, the command and a table of the figures is appended to BENCHMARKS.md. Sections:

  extract   frozen MobileNetV2 at 224 px, batch 1/16/32/64: our feature engine, MindSpore graph mode, PyTorch
            eager (if torch is installed: `pip install torch==2.13.0`) and ONNX Runtime on the same batch;
            JPEG decode + preprocessing measured separately; feature agreement between engines
  head      one head trial on cached features (20 epochs, full train split), first (compiling) and warm
  sweep     a warm-cache head sweep of `trials` trials (20 epochs) in a child process: wall time, its overhead
            share from the sweep's in-process counters (Optuna, MLflow, config vs training), work counters
            and the sweep's own peak RSS
  finetune  one fine-tune epoch at 160 px, last 2 and 4 blocks: on images and on the cut-point cache (its
            build time too), the speedup and the peak RSS
  latency   single-image latency of the exported MINDIR and of the training-time network
  startup   a whole cached `python -m garbage_hpo.train` (median of 3, temporary MLflow store) and the time
            spent importing the command
  champion  (only when named in sections=) the `champion` sweep with its defaults on warm caches: wall time,
            best CV mean, peak RSS, head graphs compiled / reused
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from garbage_hpo.runtime import WORK, configure_runtime, friendly_errors, split_args
from garbage_hpo.tracking import stop_at_once
from garbage_hpo.training import StageRun, TrainVal

SECTIONS = ("extract", "head", "sweep", "finetune", "latency", "startup", "champion")
DEFAULT_SECTIONS = SECTIONS[:-1]  # champion: on request, it takes the flagship sweep's ten-odd minutes
PROJECT = Path(__file__).resolve().parents[2]
Figures = dict[str, float | int | str | None]


def machine() -> dict[str, str]:
    import mindspore

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    flags = Path("/proc/cpuinfo").read_text()
    simd = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "no AVX2"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    out = {"cpu": f"{model}, {os.cpu_count()} cores ({simd})", "memory": f"{memory:.0f} GiB",
           "python": platform.python_version(), "mindspore": mindspore.__version__}
    for package in ("onnxruntime", "torch"):
        try:
            out[package] = __import__(package).__version__
        except ImportError:
            out[package] = "not installed"
    return out


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up call (compilation, allocation)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def say(name: str, value: float | int | str | None, unit: str = "", note: str = "") -> None:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    print(f"  {name:<34} {text} {unit}{'  ' + note if note else ''}", flush=True)


# -- sections ------------------------------------------------------------------------------------------------
def bench_extract(settings, n_images: int) -> Figures:
    from garbage_hpo.data import preprocess, read_rgb
    from garbage_hpo.features import PooledFeatures, export_onnx, onnxruntime_session, resolve_engine
    from garbage_hpo.models import build_backbone
    from garbage_hpo.pipeline import dataset_and_spec

    index, spec = dataset_and_spec(settings)
    size = 224
    paths = [s.path for s in index.samples][:: max(1, len(index.samples) // n_images)][:n_images]
    start = time.perf_counter()
    images = np.stack([preprocess(read_rgb(p), size, spec.profile.input_scaling) for p in paths])
    out: Figures = {"decode_preprocess_ms_per_img": (time.perf_counter() - start) / len(paths) * 1000}
    say("JPEG decode + preprocess @224", out["decode_preprocess_ms_per_img"], "ms/img", f"{len(paths)} photos")

    import mindspore as ms

    backbone = build_backbone(spec)
    ms_net = PooledFeatures(backbone)
    ms_net.set_train(False)
    torch_net = None
    try:
        import torch

        from garbage_hpo.bench.torch_peer import TorchPooledFeatures

        torch.set_num_threads(os.cpu_count() or 1)
        torch_net = TorchPooledFeatures(backbone)
    except ImportError:
        say("PyTorch eager", "skipped", "", "torch not installed: pip install torch==2.13.0")
    out["feature_engine"] = ours = resolve_engine(settings.data.feature_engine)
    tmp = Path(tempfile.mkdtemp(prefix="bench-onnx-"))
    try:
        for batch in (1, 16, 32, 64):
            x = np.concatenate([images] * (batch // len(images) + 1))[:batch]
            reps = max(3, 64 // batch)
            ort = onnxruntime_session(export_onnx(spec, size, batch, tmp / f"b{batch}.onnx"),
                                      threads=os.cpu_count())
            feed = {ort.get_inputs()[0].name: x}
            engines: dict[str, Callable[[], object]] = {
                "mindspore": lambda x=x: [t.asnumpy() for t in ms_net(ms.Tensor(x))],
                "onnxruntime": lambda ort=ort, feed=feed: ort.run(None, feed),
            }
            if torch_net is not None:
                tx = torch.from_numpy(x)
                engines["torch"] = lambda tx=tx: torch_net(tx)
            for name, fn in engines.items():
                seconds = timed(fn, reps)
                out[f"extract_{name}_b{batch}_img_s"] = batch / seconds
                say(f"extract {name} batch {batch}", batch / seconds, "img/s", f"{seconds / batch * 1000:.1f} ms/img")
            out[f"extract_ours_b{batch}_img_s"] = out[f"extract_{ours}_b{batch}_img_s"]
            if batch == 32:  # the engines must compute the same features, or the comparison means nothing
                ref = np.concatenate([t.asnumpy() for t in ms_net(ms.Tensor(x))], axis=1)
                got = np.concatenate(ort.run(None, feed), axis=1)
                out["features_max_abs_diff_ort_vs_mindspore"] = float(np.abs(got - ref).max())
                if torch_net is not None:
                    got = torch.cat(torch_net(torch.from_numpy(x)), dim=1).numpy()
                    out["features_max_abs_diff_torch_vs_mindspore"] = float(np.abs(got - ref).max())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out | extract_summary(out, torch_net is not None)


def extract_summary(out: Figures, with_torch: bool) -> Figures:
    """Our engine against the others at batch 32, and against the machine's physical limit."""
    ours_32 = out["extract_ours_b32_img_s"]
    more: Figures = {"extract_ratio_vs_ort": ours_32 / out["extract_onnxruntime_b32_img_s"],
                     "extract_ratio_vs_mindspore_graph": ours_32 / out["extract_mindspore_b32_img_s"],
                     "extract_ratio_vs_torch": ours_32 / out["extract_torch_b32_img_s"] if with_torch else None}
    # 0.6 GFLOP per 224-px image (MobileNetV2 1.0, 300 M multiply-adds); peak measured by a large matmul
    peak = matmul_gflops()
    more["physical_limit_ms_per_img"] = 0.6 / peak * 1000
    more["ours_ms_per_img_b32"] = 1000 / ours_32
    say("feature agreement ORT vs MindSpore", out["features_max_abs_diff_ort_vs_mindspore"], "max abs diff")
    say("ours / ONNX Runtime @ batch 32", more["extract_ratio_vs_ort"], "x")
    say("ours / PyTorch eager @ batch 32", more["extract_ratio_vs_torch"], "x")
    say("ours / MindSpore graph @ batch 32", more["extract_ratio_vs_mindspore_graph"], "x")
    say("physical limit (0.6 GFLOP/img)", more["physical_limit_ms_per_img"], "ms/img",
        f"at {peak:.0f} GFLOP/s measured fp32 matmul; ours {more['ours_ms_per_img_b32']:.1f} ms/img")
    return more


def matmul_gflops() -> float:
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    seconds = timed(lambda: a @ a, 5)
    return 2 * 2048**3 / seconds / 1e9


def bench_head(settings) -> Figures:
    from garbage_hpo.pipeline import prepare
    from garbage_hpo.training import train_head

    prepared = prepare(settings)
    head_cfg = settings.train
    labels, split = prepared.labels, prepared.split
    pooled = prepared.features.pooled(settings.head.reduction)
    spec = settings.head.spec(prepared.index.num_classes, pooled.shape[1])
    times = []
    for _ in range(3):
        start = time.perf_counter()
        train_head(spec, TrainVal(pooled[split.train], labels[split.train], pooled[split.val], labels[split.val]),
                   head_cfg, StageRun(settings.seed))
        times.append(time.perf_counter() - start)
    out: Figures = {"head_trial_first_s": times[0], "head_trial_s": float(np.median(times[1:])),
                    "head_epochs": head_cfg.epochs, "n_train": len(split.train), "n_val": len(split.val)}
    say(f"head trial, {head_cfg.epochs} epochs, first", times[0], "s", "includes graph compilation")
    say(f"head trial, {head_cfg.epochs} epochs", out["head_trial_s"], "s",
        f"{len(split.train)} train / {len(split.val)} val, batch {head_cfg.batch_size}")
    return out


def bench_sweep(settings, overrides: dict[str, str], trials: int) -> Figures:
    """A warm-cache head sweep in its own process. Its overhead is what the sweep's in-process counters
    (sweep/timing.py, logged on its parent run) attribute to Optuna, MLflow, config composition and the rest
    outside training: comparing two processes' wall times measured the machine's load more than the sweep."""
    args = ["+experiment=head_depth", f"sweep.n_trials={trials}", "sweep.pruner=none", "train.epochs=20",
            "sweep.enqueue=[]", "sweep.cv_folds=1"]
    metrics, process_wall = _warm_sweep(settings, [*args, *(f"{k}={v}" for k, v in overrides.items())], trials)
    out: Figures = {
        "sweep_trials": trials, "sweep_wall_s": metrics["sweep_trials_seconds"], "sweep_process_wall_s": process_wall,
        "sweep_overhead_pct": metrics["time.overhead_pct"],
        "sweep_train_s": metrics["time.train_s"], "sweep_optuna_s": metrics["time.optuna_s"],
        "sweep_mlflow_s": metrics["time.mlflow_s"], "sweep_config_s": metrics["time.config_s"],
        "sweep_trial_train_s": metrics["time.train_s"] / trials,
        "sweep_peak_rss_mb": metrics.get("work.peak_rss_mb"), "sweep_prepare_calls": metrics.get("work.prepare_calls"),
        "sweep_feature_extractions": metrics.get("work.feature_extractions"),
        "sweep_graphs_compiled": metrics.get("work.head_graphs_compiled"),
        "sweep_graphs_reused": metrics.get("work.head_graphs_reused"),
    }
    say(f"sweep of {trials} trials (20 epochs), wall", out["sweep_wall_s"], "s",
        f"trials only; the whole process took {process_wall:.1f} s with start-up")
    say("  training and evaluation per trial", out["sweep_trial_train_s"], "s")
    say("  Optuna / MLflow / config", f"{out['sweep_optuna_s']:.2f} / {out['sweep_mlflow_s']:.2f} / "
        f"{out['sweep_config_s']:.2f}", "s")
    say("sweep overhead (in-process counters)", out["sweep_overhead_pct"], "%", "of the trials' wall time")
    say("work: prepare / extractions", f"{out['sweep_prepare_calls']} / {out['sweep_feature_extractions']}")
    say("work: head graphs compiled / reused", f"{out['sweep_graphs_compiled']} / {out['sweep_graphs_reused']}")
    say("peak RSS of the sweep process", out["sweep_peak_rss_mb"], "MB", "VmHWM, reported by the sweep itself")
    return out


def bench_champion(settings, overrides: dict[str, str]) -> Figures:
    """The flagship `champion` sweep with its own defaults (40 trials, 5-fold CV) on warm feature caches: its
    wall time, peak RSS and compiled-graph reuse, as a user runs it."""
    args = ["+experiment=champion", *(f"{k}={v}" for k, v in overrides.items())]
    metrics, process_wall = _warm_sweep(settings, args, None)
    out: Figures = {"champion_wall_s": metrics["sweep_trials_seconds"], "champion_process_wall_s": process_wall,
                    "champion_trials": metrics.get("trials_complete", 0) + metrics.get("trials_pruned", 0),
                    "champion_best_cv_mean": metrics.get("best_cv_mean"),
                    "champion_peak_rss_mb": metrics.get("work.peak_rss_mb"),
                    "champion_graphs_compiled": metrics.get("work.head_graphs_compiled"),
                    "champion_graphs_reused": metrics.get("work.head_graphs_reused")}
    say(f"champion sweep, {out['champion_trials']:.0f} trials, wall", out["champion_wall_s"], "s",
        f"trials only; the whole process took {process_wall:.1f} s with start-up")
    say("  best CV mean", out["champion_best_cv_mean"], "")
    say("  head graphs compiled / reused", f"{out['champion_graphs_compiled']} / {out['champion_graphs_reused']}")
    say("  peak RSS of the sweep process", out["champion_peak_rss_mb"], "MB", "VmHWM, reported by the sweep itself")
    return out


def _warm_sweep(settings, args: list[str], trials: int | None) -> tuple[dict[str, float], float]:
    """A sweep (`args`) in a child process on a temporary store, the project's feature and probe caches linked
    in; the parent run's metrics and the process's wall time."""
    from mlflow.tracking import MlflowClient

    from garbage_hpo.runtime import default_weights_path

    runs = settings.runs.absolute()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        sweep_runs = Path(tmp) / "runs"
        (sweep_runs / "cache").mkdir(parents=True)
        for cache in ("features", "probe"):  # warm caches: the sweep does no backbone work
            if (runs / "cache" / cache).is_dir():
                os.symlink(runs / "cache" / cache, sweep_runs / "cache" / cache)
        env = os.environ | {"GARBAGE_HPO_RUNS": str(sweep_runs),
                            "GARBAGE_HPO_WEIGHTS": str(default_weights_path().parent)}
        start = time.perf_counter()
        sweep = _child(["-m", "garbage_hpo.sweep", *args], env, Path(tmp) / "sweep.log")
        process_wall = time.perf_counter() - start
        client = MlflowClient(tracking_uri=f"sqlite:///{sweep_runs / 'mlflow.db'}")
        parent = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                    filter_string="tags.`hpo.role` = 'sweep'")[0]
        metrics = parent.data.metrics
        if trials is not None and metrics.get("trials_complete", 0) < trials:
            raise RuntimeError(f"bench sweep completed {metrics.get('trials_complete')} of {trials} trials:\n{sweep}")
    return metrics, process_wall


def _child(args: list[str], env: dict[str, str], log_path: Path) -> str:
    with open(log_path, "w", encoding="utf-8") as log_file:
        proc = subprocess.run([sys.executable, *args], env=env, cwd=PROJECT, stdout=log_file,
                              stderr=subprocess.STDOUT, check=False)
    text = log_path.read_text(encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed:\n{text[-3000:]}")
    return text


def bench_finetune(settings_for: Callable[[list[str]], object], base) -> Figures:
    """One fine-tune epoch at 160 px on images and on the cut-point cache, for the last 2 and 4 blocks. The
    cache is built in a temporary folder (so its build is measured); cached epochs after the first (which
    compiles) are timed."""
    import resource

    from garbage_hpo.pipeline import prepare, train

    out: Figures = {}
    runs = base.runs.absolute()
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        (Path(tmp) / "cache").mkdir()
        (runs / "cache" / "features").mkdir(parents=True, exist_ok=True)  # features: shared, kept
        os.symlink(runs / "cache" / "features", Path(tmp) / "cache" / "features")
        common = ["data.image_size=160", "finetune=last_blocks", "train.epochs=1", f"runs_dir={tmp}"]
        for blocks in (2, 4):
            at = [*common, f"finetune.unfreeze={blocks}"]
            settings = settings_for([*at, "finetune.epochs=1", "finetune.cached_views=0"])
            prepared = prepare(settings)
            uncached = [r.seconds for r in train(settings, prepared, save_checkpoint=False).history
                        if r.stage == "finetune"][0]
            built = WORK["cut_cache_build_seconds"]
            settings = settings_for([*at, "finetune.epochs=3"])
            history = train(settings, prepared, save_checkpoint=False).history
            epochs = [r.seconds for r in history if r.stage == "finetune"]
            cached = float(np.median(epochs[1:]))
            out |= {f"finetune_uncached_epoch_u{blocks}_s": uncached, f"finetune_cached_epoch_u{blocks}_s": cached,
                    f"finetune_cache_build_u{blocks}_s": WORK["cut_cache_build_seconds"] - built,
                    f"finetune_cache_speedup_u{blocks}": uncached / cached}
            n = len(prepared.split.train)
            say(f"fine-tune epoch @160, last {blocks} blocks, on images", uncached, "s", f"{n} photos")
            say(f"fine-tune epoch @160, last {blocks} blocks, on the cache", cached, "s",
                f"median of epochs 2-3; first epoch {epochs[0]:.1f} s (compiles)")
            say("  cache build", out[f"finetune_cache_build_u{blocks}_s"], "s",
                f"{settings.finetune.cached_views} views + center of every train/ photo")
    out["finetune_uncached_epoch_s"] = max(v for k, v in out.items() if k.startswith("finetune_uncached"))
    out["finetune_cached_epoch_s"] = max(v for k, v in out.items() if k.startswith("finetune_cached"))
    out["finetune_cache_build_s"] = max(v for k, v in out.items() if k.startswith("finetune_cache_build"))
    out["finetune_cache_speedup"] = min(v for k, v in out.items() if k.startswith("finetune_cache_speedup_"))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    say("fine-tune cache speedup (smallest)", out["finetune_cache_speedup"], "x")
    say("peak RSS of this process", out["peak_rss_mb"], "MB")
    return out


def bench_latency(settings) -> Figures:
    import mindspore as ms

    from garbage_hpo.deploy import export_mindir, load_mindir
    from garbage_hpo.models import Head, HeadSpec, MobileNetV2, build_backbone, resolve_backbone_spec

    model = settings.model
    spec = resolve_backbone_spec(model.width, model.pretrained, model.profile, model.name)
    out: Figures = {}
    for size in sorted({spec.profile.native_size, 224}):
        backbone = build_backbone(spec)
        net = MobileNetV2(backbone, Head(HeadSpec(num_classes=26, in_features=backbone.out_channels)))
        net.set_train(False)
        x = ms.Tensor(np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32))
        with tempfile.TemporaryDirectory() as tmp:
            exported = load_mindir(export_mindir(net, size, Path(tmp) / "model.mindir"))
            out[f"latency_mindir_{size}_ms"] = timed(lambda e=exported, x=x: e(x).asnumpy(), 20) * 1000
        out[f"latency_network_{size}_ms"] = timed(lambda n=net, x=x: n(x).asnumpy(), 20) * 1000
        say(f"single image @{size}: MINDIR (GraphCell)", out[f"latency_mindir_{size}_ms"], "ms")
        say(f"single image @{size}: training-time network", out[f"latency_network_{size}_ms"], "ms")
    return out


def bench_startup(settings, overrides: dict[str, str], repeats: int = 3) -> Figures:
    """What a user waits for: a whole `python -m garbage_hpo.train` with the features already cached (median
    of `repeats` runs after one that fills the cache), and the part of it spent importing the command. The
    runs go to a temporary store (the project's feature cache is shared, read-mostly)."""
    from garbage_hpo.runtime import default_weights_path

    args = ["-m", "garbage_hpo.train", *(f"{k}={v}" for k, v in overrides.items())]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        runs = Path(tmp) / "runs"
        (runs / "cache").mkdir(parents=True)
        features = settings.runs.absolute() / "cache" / "features"
        if features.is_dir():
            os.symlink(features, runs / "cache" / "features")
        env = os.environ | {"GARBAGE_HPO_RUNS": str(runs), "GARBAGE_HPO_WEIGHTS": str(default_weights_path().parent)}
        _child(args, env, Path(tmp) / "warm.log")
        walls = []
        for i in range(repeats):
            start = time.perf_counter()
            _child(args, env, Path(tmp) / f"run-{i}.log")
            walls.append(time.perf_counter() - start)
        probe = "import time; t = time.perf_counter(); import garbage_hpo.train; print(time.perf_counter() - t)"
        imports = [float(_child(["-c", probe], env, Path(tmp) / f"import-{i}.log").split()[-1])
                   for i in range(repeats)]
    out: Figures = {"train_cli_cached_s": float(np.median(walls)), "train_cli_import_s": float(np.median(imports))}
    say("cached `python -m garbage_hpo.train`, end to end", out["train_cli_cached_s"], "s",
        f"median of {repeats}; target <= 8 s")
    say("of which importing the command", out["train_cli_import_s"], "s")
    return out


# -- recording -------------------------------------------------------------------------------------------------
def record(figures: Figures, info: dict[str, str], command: str, path: Path) -> None:
    rows = "\n".join(f"| `{k}` | {v:.4g} |" if isinstance(v, float) else f"| `{k}` | {v} |"
                     for k, v in figures.items())
    text = (f"\n## `make bench` on {time.strftime('%Y-%m-%d %H:%M')}\n\n"
            f"Machine: {info['cpu']}, {info['memory']}; Python {info['python']}, MindSpore {info['mindspore']}, "
            f"ONNX Runtime {info['onnxruntime']}, PyTorch {info['torch']}.\n\n```bash\n{command}\n```\n\n"
            f"| figure | value |\n|---|---|\n{rows}\n")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    with friendly_errors():
        overrides, flags, extra = split_args(argv, {"no-record": False})
        if extra:
            raise ValueError(f"unexpected arguments {extra} (see --help)")
        sections = overrides.pop("sections", ",".join(DEFAULT_SECTIONS)).split(",")
        unknown = sorted(set(sections) - set(SECTIONS))
        if unknown:
            raise ValueError(f"sections={','.join(unknown)}: choose from {','.join(SECTIONS)}")
        trials = int(overrides.pop("trials", 30))
        n_images = int(overrides.pop("images", 128))
        configure_runtime()
        stop_at_once("bench")
        from hydra import compose, initialize_config_dir

        from garbage_hpo.config import read_settings

        def settings_for(extra_overrides: list[str]):  # read once per benchmarked configuration
            with initialize_config_dir(version_base="1.3", config_dir=str(PROJECT / "conf")):
                return read_settings(compose(config_name="train",
                                             overrides=[f"{k}={v}" for k, v in overrides.items()] + extra_overrides))

        info = machine()
        print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()), flush=True)
        figures: Figures = {}
        base = settings_for(["train.epochs=30"])

        steps = {
            "extract": lambda: bench_extract(base, n_images),
            "head": lambda: bench_head(settings_for(["train.epochs=20"])),
            "sweep": lambda: bench_sweep(base, overrides, trials),
            "finetune": lambda: bench_finetune(settings_for, base),
            "latency": lambda: bench_latency(base),
            "startup": lambda: bench_startup(base, overrides),
            "champion": lambda: bench_champion(base, overrides),
        }
        for name in SECTIONS:
            if name in sections:
                print(f"[{name}]", flush=True)
                figures |= steps[name]()
        figures["bench_feature_extractions"] = WORK["feature_extractions"]
        command = "make bench" + (f' ARGS="{" ".join(argv)}"' if argv else "")
        if not flags.get("no-record"):
            record(figures, info, command, PROJECT / "BENCHMARKS.md")
        print(json.dumps(figures | {"machine": info}))
        return 0


if __name__ == "__main__":
    sys.exit(main())
