"""AtmoRep training speed and memory: tokens per second and peak memory of one training step.

A step is what ``AtmoRepModule.training_step`` does without the optimiser: BERT masks drawn,
noised and coarsened tokens replaced, every field's ensemble predicted, the masked loss
(fair CRPS, ensemble-mean MSE and spread) and its backward pass, on random normalised cubes.
Tokens are all fields' levels x time x lat x lon tokens of a sample. Each case runs in a
fresh subprocess, so its peak resident set (RSS) is its own: the RSS growth of its first step
(activations, gradients and the loss; the weights are built before) is its memory, then
``--repeats`` more steps are timed (median and best: other jobs on the cores make single
steps noisy).

Cases: ``tiny`` and ``compact`` at batch 8; the compact model over four neighbourhood sizes
at batch 4, to show how the cost grows with the neighbourhood (attention is quadratic in a
field's tokens and in its coupled fields'); and the paper-like size (AtmoRep's widths: 1024
wide, 16 heads, 6 + 6 layers, 16 members; five fields on five levels), whose step does not fit
a small machine: it is measured as one field on one level at batch 1 ("paper slice") and its
full memory *estimated* as 16 bytes per parameter (weights, gradients, AdamW's two moments)
plus the slice's activation memory per token times the full model's tokens (a lower bound:
cross-attention scores grow with the coupled fields' tokens too).

    python benchmarks/atmorep_speed.py                       # a few minutes on two CPU cores
    python benchmarks/atmorep_speed.py --threads 1 --repeats 5
    python benchmarks/atmorep_speed.py --cases tiny compact
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from climax_nb.grid import WB5625
from climax_nb.model.atmorep import AtmoRep, AtmoRepConfig, FieldSpec, preset
from climax_nb.train.atmorep import AtmoRepModule, AtmoRepSection
from climax_nb.train.module import OptimConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_speed import _rss_bytes  # noqa: E402  (a sibling script)

#: Neighbourhoods (time steps, lat, lon) of the scaling cases, at the compact width.
SCALING = ((4, 8, 16), (8, 16, 32), (12, 16, 32), (8, 32, 64))


def cases() -> dict[str, tuple[AtmoRepConfig, int]]:
    """Each case's config and batch size."""
    out = {"tiny": (preset("tiny"), 8), "compact": (preset("compact"), 8)}
    for hood in SCALING:
        out["compact " + "x".join(map(str, hood))] = (preset("compact", neighbourhood=hood), 4)
    out["paper slice"] = (preset("paper", fields=(FieldSpec("z", (500,)),)), 1)
    return out


def tokens(cfg: AtmoRepConfig) -> int:
    """Tokens of one sample over all fields and levels."""
    return sum(f.num_levels for f in cfg.fields) * cfg.tokens_per_level


def random_batch(cfg: AtmoRepConfig, batch: int, seed: int = 0) -> dict:
    """Normalised random cubes of every field with the times and cells of one neighbourhood."""
    g = torch.Generator().manual_seed(seed)
    t, h, w = cfg.neighbourhood
    times = (np.datetime64("2000-01-01", "ns") + np.arange(t) * np.timedelta64(6, "h")).astype(np.int64)
    lat0 = (len(WB5625.lat) - h) // 2
    return {
        "cubes": [torch.randn(batch, f.num_levels, t, h, w, generator=g) for f in cfg.fields],
        "fields": cfg.field_ids,
        "time": torch.from_numpy(np.repeat(times[None], batch, 0)),
        "lat": torch.from_numpy(np.repeat(WB5625.lat[lat0:lat0 + h].astype(np.float32)[None], batch, 0)),
        "lon": torch.from_numpy(np.repeat(WB5625.lon[:w].astype(np.float32)[None], batch, 0)),
        "source": "random",
    }


def training_step(cfg: AtmoRepConfig, batch: int):
    """A closure running one masked forward and backward pass, and the module it trains."""
    torch.manual_seed(0)
    module = AtmoRepModule.build(cfg, OptimConfig(warmup_steps=0), AtmoRepSection(), WB5625.lat)
    data = random_batch(cfg, batch)

    def step() -> None:
        module.zero_grad(set_to_none=True)
        g = torch.Generator().manual_seed(1)
        loss, _ = module.losses(data, module.draw_masks(data, g), g)
        loss.backward()

    return step, module


def measure_here(name: str, repeats: int) -> dict:
    """Median step time and peak RSS growth of one case, in this process."""
    cfg, batch = cases()[name]
    step, module = training_step(cfg, batch)
    before = _rss_bytes("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    step()  # the first step: its growth is the step's memory (later ones reuse the freed pages)
    peak = _rss_bytes("VmHWM") - before
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    params = sum(p.numel() for p in module.parameters())
    return {"seconds": statistics.median(times), "best": min(times), "peak_bytes": peak, "params": params,
            "tokens": tokens(cfg), "batch": batch, "hood": list(cfg.neighbourhood)}


def measure(name: str, repeats: int) -> dict:
    """``measure_here`` in a fresh interpreter."""
    out = subprocess.run([sys.executable, __file__, "--threads", str(torch.get_num_threads()), "--repeats",
                          str(repeats), "--case", name], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def paper_estimate(slice_result: dict) -> tuple[int, int, float]:
    """Parameters, tokens and estimated peak bytes of a training step of the full paper-like model at batch 1."""
    cfg = preset("paper")
    with torch.device("meta"):
        params = sum(p.numel() for p in AtmoRep(cfg).parameters())
    grads_slice = 4 * slice_result["params"]  # the slice's step grows by its gradients and its activations
    per_token = max(slice_result["peak_bytes"] - grads_slice, 0) / (slice_result["tokens"] * slice_result["batch"])
    return params, tokens(cfg), 16 * params + per_token * tokens(cfg)


def run(names: list[str], repeats: int) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start (other jobs share the cores)")
    results = {}
    for name in names:
        start = time.perf_counter()
        results[name] = measure(name, repeats if name != "paper slice" else max(1, min(repeats, 2)))
        print(f"  {name}: measured in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end\n")
    header = ("case", "neighbourhood", "tokens/sample", "batch", "parameters", "ms/step (median)", "best ms",
              "tokens/s", "peak MB")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for name, r in results.items():
        rate = r["tokens"] * r["batch"] / r["seconds"]
        print(f"| {name} | {' x '.join(map(str, r['hood']))} | {r['tokens']} | {r['batch']} | "
              f"{r['params'] / 1e6:.2f} M | {r['seconds'] * 1e3:.0f} | {r['best'] * 1e3:.0f} | {rate:.0f} | "
              f"{r['peak_bytes'] / 2**20:.0f} |")
    scaled = [n for n in results if n.startswith("compact ")]
    if len(scaled) > 1:
        base = results[scaled[0]]
        print("\ncost against the smallest neighbourhood (compact width, batch 4):")
        for name in scaled:
            r = results[name]
            print(f"  {name}: {r['tokens'] / base['tokens']:.1f}x the tokens, {r['seconds'] / base['seconds']:.1f}x "
                  f"the time, {r['peak_bytes'] / max(base['peak_bytes'], 1):.1f}x the memory")
    if "paper slice" in results:
        params, n_tokens, peak = paper_estimate(results["paper slice"])
        print(f"\npaper-like (five fields x five levels, {params / 1e6:.0f} M parameters, {n_tokens} tokens per "
              f"sample): estimated, not measured, {peak / 2**30:.1f} GiB for a batch-1 training step with AdamW "
              f"(16 bytes per parameter = {16 * params / 2**30:.1f} GiB, plus the paper slice's activations per "
              "token times the tokens; a lower bound)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(cases()), help=f"cases (default: all of {list(cases())})")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per case after the first")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.case:
        print(json.dumps(measure_here(args.case, args.repeats)))
        return
    unknown = [c for c in args.cases if c not in cases()]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {list(cases())}")
    run(args.cases, args.repeats)


if __name__ == "__main__":
    main()
