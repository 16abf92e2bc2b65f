"""ClimaX speed: the fast model against the straightforward (released-style) one.

Both hold the same weights. For each preset (batch 1, 32x64 grid, patch 2, all the
preset's variables) it measures forward (inference, no grad) and forward+backward
(a training step without the optimizer): median wall time over repeats (the two
implementations interleaved, so machine load hits both alike), peak memory (resident
set growth during one step, in a fresh subprocess per case), FLOPs (counted with
torch.utils.flop_counter) and achieved FLOP/s against a large fp32 matmul timed here.

    python benchmarks/model_speed.py                      # compact and paper
    python benchmarks/model_speed.py --presets compact --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from climax_nb.model import ClimaX, ClimaXBase, ReferenceClimaX, preset

IMPLS = {"reference": ReferenceClimaX, "fast": ClimaX}
MODES = ("forward", "fwd+bwd")


def build(preset_name: str, impl: str, seed: int = 0) -> ClimaXBase:
    """Model of one preset, dropout off; ``fast`` holds the weights of ``reference``."""
    torch.manual_seed(seed)
    ref = ReferenceClimaX.from_config(preset(preset_name, drop_path=0.0, drop_rate=0.0))
    return ref if impl == "reference" else ref.to_fast()


def inputs(model: ClimaXBase, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, len(cfg.variables), *cfg.img_size, generator=g)
    return x, torch.tensor([72.0]), list(cfg.variables)


def step(model: ClimaXBase, mode: str, grad: bool = False) -> Callable[[], None]:
    """A closure running one forward (no grad unless ``grad``) or one forward+backward."""
    x, lead, names = inputs(model)

    def forward() -> None:
        with torch.set_grad_enabled(grad):
            model.eval()(x, lead, names)

    def train_step() -> None:
        model.train().zero_grad(set_to_none=True)
        model(x, lead, names).square().mean().backward()

    return forward if mode == "forward" else train_step


def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    """Best fp32 matmul FLOP/s on this machine (fastest of ``repeats``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / min(times)


def count_flops(model: ClimaXBase, mode: str) -> int:
    """FLOPs of one step (forward counted with autograd on: the counter needs it)."""
    fn = step(model, mode, grad=True)
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def interleaved_times(fns: dict[str, Callable[[], None]], repeats: int, warmup: int = 1
                      ) -> dict[str, float]:
    """Median seconds per function, alternating them so background load is shared."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(warmup + repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            if r >= warmup:
                times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def _rss_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory_here(preset_name: str, impl: str, mode: str) -> float:
    """Resident-set growth (bytes) during one step, model and inputs already built."""
    fn = step(build(preset_name, impl), mode)
    before = _rss_bytes("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak (VmHWM) to the current RSS (Linux >= 4.0)
        fn()
        return _rss_bytes("VmHWM") - before
    except OSError:  # no /proc: fall back to the lifetime peak
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        fn()
        return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - start, 0)


def peak_memory(preset_name: str, impl: str, mode: str) -> float:
    """``peak_memory_here`` in a fresh interpreter, so cases do not share allocator state."""
    out = subprocess.run(
        [sys.executable, __file__, "--threads", str(torch.get_num_threads()), "--memory-case",
         preset_name, impl, mode],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"]


def max_rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def agreement(models: dict[str, ClimaXBase]) -> tuple[float, float]:
    """Max relative difference of outputs and of all gradients, fast vs reference."""
    outs, grads = {}, {}
    for name, model in models.items():
        x, lead, names = inputs(model)
        model.train().zero_grad(set_to_none=True)
        outs[name] = model(x, lead, names)
        outs[name].square().mean().backward()
        ref_layout = {n: p.grad for n, p in model.named_parameters()}
        if name == "fast":  # stacked token embeddings -> per-variable layout
            for kind, stacked in (("weight", "proj_weights"), ("bias", "proj_biases")):
                g = ref_layout.pop(f"token_embeds.{stacked}")
                ref_layout.update({f"token_embeds.{i}.proj.{kind}": gi for i, gi in enumerate(g)})
        grads[name] = ref_layout
    out_err = max_rel_error(outs["fast"].detach(), outs["reference"].detach())
    grad_err = max(max_rel_error(grads["fast"][k].reshape(g.shape), g)
                   for k, g in grads["reference"].items())
    return out_err, grad_err


def run(presets: list[str], repeats: dict[str, int], memory: bool) -> None:
    peak_start = matmul_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at start")
    rows = []
    for name in presets:
        models = {impl: build(name, impl) for impl in IMPLS}
        cfg = models["fast"].config
        out_err, grad_err = agreement(models)
        print(f"{name}: {len(cfg.variables)} variables, embed {cfg.embed_dim}, depth "
              f"{cfg.depth}, heads {cfg.num_heads}; fast vs reference max relative "
              f"difference: output {out_err:.1e}, gradients {grad_err:.1e}")
        for mode in MODES:
            fns = {impl: step(m, mode) for impl, m in models.items()}
            flops = {impl: count_flops(m, mode) for impl, m in models.items()}
            times = interleaved_times(fns, repeats[name])
            for impl in IMPLS:
                mem = peak_memory(name, impl, mode) if memory else float("nan")
                rows.append((name, len(cfg.variables), impl, mode, times[impl],
                             times["reference"] / times[impl], mem / 2**20, flops[impl]))
        del models
    peak = max(peak_start, matmul_peak())  # before and after: the better of the two
    print(f"fp32 matmul peak {peak / 1e9:.1f} GFLOP/s (fastest 2048^3 product, measured at "
          f"start and end); load average {os.getloadavg()[0]:.1f} at end\n")
    header = ("preset", "vars", "impl", "mode", "time ms", "speedup", "peak MB", "GFLOP",
              "GFLOP/s", "% peak")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for name, nvar, impl, mode, seconds, speedup, mb, flop in rows:
        print(f"| {name} | {nvar} | {impl} | {mode} | {seconds * 1e3:.0f} | {speedup:.2f}x | "
              f"{mb:.0f} | {flop / 1e9:.1f} | {flop / seconds / 1e9:.1f} | "
              f"{100 * flop / seconds / peak:.0f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["compact", "paper"])
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per case (default: 7 compact, 3 paper)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--memory-case", nargs=3, metavar=("PRESET", "IMPL", "MODE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_case:
        print(json.dumps({"peak_bytes": peak_memory_here(*args.memory_case)}))
        return
    repeats = {p: args.repeats or (3 if p == "paper" else 7) for p in args.presets}
    run(args.presets, repeats, memory=not args.no_memory)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
