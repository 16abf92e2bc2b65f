"""User errors on the command line: one line that names the problem and the fix, exit status 2, no traceback.

Each case runs the real command (``python -m climax_nb.cli``) in a subprocess.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from climax_nb.forecast import forecast, save_forecast, save_forecast_checkpoint
from climax_nb.model import write_released_style_checkpoint
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
        "released": write_released_style_checkpoint(folder / "released.ckpt"),  # patch size 2
        "wide": folder / "wide.pt",
        "typo": folder / "typo.yaml",
        "ten": folder / "ten.yaml",
        "celsius": folder / "celsius.nc",
        "fc": folder / "fc.nc",
        "folder": folder,
    }
    state = initial_state(steps=12)
    state.to_netcdf(paths["data"])  # 12 six-hourly times: 11 pairs at a 6 h lead
    state.assign(t2m=state["t2m"] - 273.15).to_netcdf(paths["celsius"])  # degC under units "K"
    save_forecast(forecast(ckpt, state, [6], init_times=state.time.values[:2]), paths["fc"])
    paths["yaml"].write_text("model:\n  preset: tiny\n data: [oops\n")
    paths["typo"].write_text("optim:\n  learning_rate: 0.001\n")
    paths["ten"].write_text("trainer:\n  max_steps: ten\n")
    paths["empty"].write_bytes(b"")
    whole = paths["model"].read_bytes()
    paths["truncated"].write_bytes(whole[: len(whole) // 2])
    raw = torch.load(paths["model"], weights_only=True)
    raw["spec"]["model_config"]["embed_dim"] *= 2  # weights of another architecture than the spec says
    torch.save(raw, paths["wide"])
    return paths


def climax_nb(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "climax_nb.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


#: A tiny training run on the fixture's data (leads, run_dir and the case's option follow).
TRAIN = ["pretrain", "--config", "pretrain-tiny", "--data.sources", "[{data}]", "--data.batch_size", "2",
         "--model.embed_dim", "32", "--model.patch_size", "4", "--trainer.progress", "false"]

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
    "hyperdiffusion without a rollout": (["forecast", "--checkpoint", "{model}", "--data", "{data}", "--leads", "6",
                                          "--every", "6", "--mode", "continuous", "--hyperdiffusion", "3"],
                                         r"damping filters the steps of an iterative rollout, .*mode='iterative'"),
    "hyperdiffusion of odd order": (["forecast", "--checkpoint", "{model}", "--data", "{data}", "--leads", "6",
                                     "--mode", "iterative", "--hyperdiffusion", "3", "--hyperdiffusion-order", "3"],
                                    r"hyperdiffusion order must be an even integer >= 2"),
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
    "fractional max_steps": ([*TRAIN, "--trainer.max_steps", "2.7", "--trainer.run_dir", "{folder}/run3"],
                             r"trainer.max_steps must be int \(a whole number\), got 2.7"),
    "validation every zero epochs": ([*TRAIN, "--trainer.val_every_n_epochs", "0", "--trainer.run_dir",
                                      "{folder}/run12"], r"trainer.val_every_n_epochs must be >= 1, got 0"),
    "damping without a residual": ([*TRAIN, "--model.residual", "false", "--model.residual_damping", "true",
                                    "--trainer.run_dir", "{folder}/run13"],
                                   r"residual_damping relaxes the residual's base: it needs residual=True as well "
                                   r"\(--model.residual true\)"),
    "lr not a number": (["pretrain", "--config", "pretrain-tiny", "--optim.lr", "abc"],
                        r"optim.lr must be float \(a number\), got 'abc'"),
    "max_steps text in YAML": (["pretrain", "--config", "{ten}"],
                               r"ten.yaml.trainer.max_steps must be int \(a whole number\), got 'ten'"),
    "unknown YAML key": (["pretrain", "--config", "{typo}"],
                         r"unknown key\(s\) \['learning_rate'\] in .*typo.yaml.optim; known: \[.*'lr'"),
    "batch larger than the data": ([*TRAIN, "--data.leads", "[6]", "--data.batch_size", "50", "--trainer.run_dir",
                                    "{folder}/run4"],
                                   r"enough valid \(input, target\) pairs for one batch of 50 \(data: 11 pairs\)"
                                   r".* a smaller batch size"),
    "unknown variable": ([*TRAIN, "--data.leads", "[6]", "--data.outputs", "[z500, foo]", "--trainer.run_dir",
                          "{folder}/run5"], r"unknown variable 'foo': use a registry id"),
    "variable not in the data": ([*TRAIN, "--data.leads", "[6]", "--data.inputs", "[z500, t850, q700]",
                                  "--trainer.run_dir", "{folder}/run6"], r"has no variable\(s\) q700; it has: lsm"),
    "model without the data's variables": ([*TRAIN, "--data.leads", "[6]", "--model.variables", "[z500, lat]",
                                            "--trainer.run_dir", "{folder}/run7"],
                                           r"source 'data' has input or output variable\(s\) \['lsm', .* that the "
                                           r"model does not know .* add them to --model.variables"),
    "lead not a multiple of the step": ([*TRAIN, "--data.leads", "[7]", "--trainer.run_dir", "{folder}/run8"],
                                        r"lead time 7 h is not a positive multiple of the data interval \(6 h\)"),
    "lead longer than the data": ([*TRAIN, "--data.leads", "[6, 600]", "--trainer.run_dir", "{folder}/run9"],
                                  r"lead time\(s\) 600 h are longer than the training data of source 'data' "
                                  r"\(12 times 6 h apart: 66 h\); use --data.leads of at most 66 h"),
    "init of another depth": ([*TRAIN, "--data.leads", "[6]", "--model.init", "{model}", "--model.depth", "1",
                               "--trainer.run_dir", "{folder}/run10"],
                              r"model.pt is a model of another architecture: depth 2 \(this run: 1\); build its "
                              r"architecture \(--model.depth 2\)"),
    "init from released weights of another patch size": (
        [*TRAIN, "--data.leads", "[6]", "--model.init", "{released}", "--trainer.run_dir", "{folder}/run11"],
        r"released.ckpt is a model of another architecture: patch_size 2 \(this run: 4\)"),
    "forecast with weights of another architecture": (
        ["forecast", "--checkpoint", "{wide}", "--data", "{data}", "--leads", "6", "--every", "6"],
        r"wide.pt: the weights do not fit the architecture stored beside them \(\d+ problem\(s\), first: size "
        r"mismatch .*export it again"),
    "values in the wrong units": (["forecast", "--checkpoint", "{model}", "--data", "{celsius}", "--leads", "6"],
                                  r"celsius.nc is not in the canonical layout .* t2m: values .* K lie outside the "
                                  r"plausible 170..350: wrong units"),
    "in-sample climatology": (["evaluate", "--forecast", "{fc}", "--truth", "{data}", "--clim-years", "2000"],
                              r"climatology year\(s\) \[2000\] are years of the forecast: .*--in-sample"),
}


def assert_one_line(result: subprocess.CompletedProcess, expected: str) -> None:
    """Status 2, one ``climax-nb <cmd>: error:`` line matching ``expected``, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("climax-nb ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.search(expected, errors[0]), errors[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_user_error_is_one_line_with_status_2(files, case):
    if case == "cuda on a CPU build" and torch.cuda.is_available():
        pytest.fail("this case needs a machine without a GPU; run it where torch has no CUDA device")
    args, expected = CASES[case]
    assert_one_line(climax_nb(*(a.format(**files) for a in args), cwd=files["folder"]), expected)


@pytest.fixture(scope="module")
def stopped_run(files) -> list[str]:
    """The options of a one-step run (but its run_dir), trained once in ``stopped``; tests resume copies of it."""
    steps = ["--data.leads", "[6]", "--trainer.max_steps", "1", "--optim.warmup_steps", "1"]
    args = [a.format(**files) for a in TRAIN] + steps
    result = climax_nb(*args, "--trainer.run_dir", str(files["folder"] / "stopped"), cwd=files["folder"])
    assert result.returncode == 0, result.stderr
    return args


def resumable_copy(files, args: list[str], name: str) -> tuple[Path, list[str]]:
    """A copy of the stopped run and the options that resume it."""
    run_dir = shutil.copytree(files["folder"] / "stopped", files["folder"] / name)
    return run_dir, [*args, "--trainer.run_dir", str(run_dir), "--trainer.resume", "last"]


def test_resuming_with_changed_settings_is_refused_naming_each_change(files, stopped_run):
    run_dir, args = resumable_copy(files, stopped_run, "refused")
    before = (run_dir / "config.yaml").read_bytes()
    result = climax_nb(*args, "--data.batch_size", "3", "--trainer.seed", "1", "--trainer.max_steps", "2",
                       cwd=files["folder"])
    assert_one_line(result, r"resuming .*refused with settings other than its config.yaml: data.batch_size: 2 -> 3; "
                            r"trainer.max_steps: 1 -> 2; trainer.seed: 0 -> 1; .*--trainer.allow_changed_config true")
    assert (run_dir / "config.yaml").read_bytes() == before
    assert not list(run_dir.glob("config.*.yaml")) and len(list((run_dir / "csv").iterdir())) == 1


def test_resuming_with_changed_settings_when_allowed_keeps_the_earlier_config(files, stopped_run):
    run_dir, args = resumable_copy(files, stopped_run, "allowed")
    before = (run_dir / "config.yaml").read_bytes()
    result = climax_nb(*args, "--trainer.max_steps", "2", "--trainer.allow_changed_config", "true",
                       cwd=files["folder"])
    assert result.returncode == 0, result.stderr
    assert (run_dir / "config.1.yaml").read_bytes() == before
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["trainer"]["max_steps"] == 2


def test_checks_asked_off_let_the_same_inputs_through(files, tmp_path):
    out = tmp_path / "fc.nc"
    forecast_args = ["forecast", "--checkpoint", str(files["model"]), "--leads", "6", "--every", "6"]
    result = climax_nb(*forecast_args, "--data", str(files["celsius"]), "--no-check-ranges", "--out", str(out),
                       cwd=files["folder"])
    assert result.returncode == 0 and out.is_file(), result.stderr
    assert "inputs far outside the training statistics (t2m" in result.stderr  # still warned about
    result = climax_nb("evaluate", "--forecast", str(files["fc"]), "--truth", str(files["data"]), "--clim-years",
                       "2000", "--in-sample", "--out", str(tmp_path / "scores"), cwd=files["folder"])
    assert result.returncode == 0 and (tmp_path / "scores" / "scorecard.nc").is_file(), result.stderr


def test_an_abbreviated_option_is_not_taken_for_the_full_one(files):
    result = climax_nb(*[a.format(**files) for a in TRAIN], "--trainer.max_step", "3", cwd=files["folder"])
    assert result.returncode == 2 and "unrecognized arguments: --trainer.max_step 3" in result.stderr, result.stderr


def test_debug_shows_the_traceback(files):
    result = climax_nb("--debug", "forecast", "--checkpoint", str(files["empty"]), "--data", str(files["data"]),
                       cwd=files["folder"])
    assert result.returncode == 1 and "Traceback" in result.stderr and "not a readable checkpoint" in result.stderr
