"""User errors on the command line: one line that names the problem and the fix, exit status 2, no traceback.

Each case runs the real command (``python -m climax_nb.cli``) in a subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from climax_nb.forecast import save_forecast_checkpoint
from tests.forecast_helpers import initial_state, tiny_checkpoint


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli-errors")
    ckpt = tiny_checkpoint()
    paths = {
        "model": save_forecast_checkpoint(folder / "model.pt", ckpt.model, ckpt.spec),
        "data": folder / "data.nc",
        "yaml": folder / "broken.yaml",
        "empty": folder / "empty.pt",
        "truncated": folder / "truncated.pt",
        "folder": folder,
    }
    initial_state(steps=12).to_netcdf(paths["data"])
    paths["yaml"].write_text("model:\n  preset: tiny\n data: [oops\n")
    paths["empty"].write_bytes(b"")
    whole = paths["model"].read_bytes()
    paths["truncated"].write_bytes(whole[: len(whole) // 2])
    return paths


def climax_nb(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "climax_nb.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


CASES = {
    "yaml syntax": (["pretrain", "--config", "{yaml}"], r"broken.yaml is not valid YAML at line 3"),
    "missing config": (["pretrain", "--config", "{folder}/nothing.yaml"], r"config file not found: .*nothing.yaml"),
    "negative lr": (["pretrain", "--config", "pretrain-tiny", "--optim.lr", "-1"], r"optim.lr must be a positive"),
    "missing checkpoint": (["forecast", "--checkpoint", "{folder}/none.pt", "--data", "{data}"],
                           r"no forecast checkpoint at .*none.pt"),
    "empty checkpoint": (["forecast", "--checkpoint", "{empty}", "--data", "{data}"],
                         r"empty.pt is not a readable checkpoint \(an empty file\)"),
    "truncated checkpoint": (["forecast", "--checkpoint", "{truncated}", "--data", "{data}"],
                             r"truncated.pt is not a readable checkpoint"),
    "every zero": (["forecast", "--checkpoint", "{model}", "--data", "{data}", "--every", "0"],
                   r"--every is the hours between initial times and must be positive"),
    "cuda on a CPU build": (["forecast", "--checkpoint", "{model}", "--data", "{data}", "--leads", "6",
                             "--every", "6", "--device", "cuda"], r"device 'cuda' asked for, but this machine has"),
    "missing forecast": (["evaluate", "--forecast", "{folder}/none.nc", "--truth", "{data}", "--clim-years", "2000"],
                         r"no forecast at .*none.nc: write one with `climax-nb forecast"),
    "max_steps zero": (["pretrain", "--config", "pretrain-tiny", "--data.sources", "[{data}]", "--trainer.max_steps",
                        "0", "--trainer.run_dir", "{folder}/run0"], r"max_steps must be >= 1, got 0"),
    "overlapping years": (["finetune", "--config", "pretrain-tiny", "--data.sources", "[{data}]", "--data.train_years",
                           "2000", "--data.val_years", "2000", "--trainer.run_dir", "{folder}/run1"],
                          r"years \[2000\] are both training and validation years"),
    "resume missing": (["pretrain", "--config", "pretrain-tiny", "--data.sources", "[{data}]", "--data.leads", "[6]",
                        "--data.batch_size", "2", "--trainer.resume", "{folder}/gone.ckpt", "--trainer.run_dir",
                        "{folder}/run2", "--model.embed_dim", "32", "--model.patch_size", "4",
                        "--trainer.progress", "false"], r"no checkpoint at .*gone.ckpt; checkpoints found"),
    "missing data": (["forecast", "--checkpoint", "{model}", "--data", "{folder}/nothing.nc"],
                     r"no such file or directory: .*nothing.nc"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_user_error_is_one_line_with_status_2(files, case):
    if case == "cuda on a CPU build" and torch.cuda.is_available():
        pytest.fail("this case needs a machine without a GPU; run it where torch has no CUDA device")
    args, expected = CASES[case]
    result = climax_nb(*(a.format(**files) for a in args), cwd=files["folder"])
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("climax-nb ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.search(expected, errors[0]), errors[0]


def test_debug_shows_the_traceback(files):
    result = climax_nb("--debug", "forecast", "--checkpoint", str(files["empty"]), "--data", str(files["data"]),
                       cwd=files["folder"])
    assert result.returncode == 1 and "Traceback" in result.stderr and "not a readable checkpoint" in result.stderr
