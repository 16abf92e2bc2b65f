"""How much hyperdiffusion keeps a rollout physical? Chosen on the validation year, reported on the test year.

``experiments/rollout_stability.py`` runs once per setting of the zonal hyperdiffusion
(``forecast(damping=ZonalHyperdiffusion(hours, order))``) and once undamped, on the
validation year (2002); the setting kept is the one whose small-scale power stays closest
to the truth's to 10 days (the smallest worst |log(power ratio)| over the four targets and
the leads to 240 h) among those that keep the 120 h RMSE within 10 % of the continuous
model's. That setting and the undamped rollout are then run on the test year (2003), whose
numbers are the ones to quote: the test year plays no part in the choice.

    python experiments/rollout_hyperdiffusion.py --checkpoint outputs/rollout-ft/model.pt \\
        --continuous-checkpoint <cache>/runs/<setting>/finetune/model.pt --out outputs/rollout_hyperdiffusion
    python experiments/rollout_hyperdiffusion.py --out outputs/rollout_hyperdiffusion --from-results

A setting is ``ORDER:HOURS`` (``8:3``: del^8, e-folding 3 h at the highest zonal wavenumber).
Each run's tables are in ``--out/<year>-<setting>/`` (``rollout_stability.py``'s layout);
``--from-results`` prints the report again from them. ``--days`` keeps the first days of each
year (a check of the path; the numbers then mean little).
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from climax_nb.defaults import REANALYSIS_TEST, REANALYSIS_VAL

SETTINGS = ("8:1.5", "8:3", "8:6", "4:12", "4:24")  # 4:12 is SPEEDY's own del^4 time for vorticity
UNDAMPED = "none"
REPORT, COMMAND = "rollout_hyperdiffusion.md", "command.txt"


def _stability() -> ModuleType:
    """``rollout_stability.py`` beside this script, as a module: its runs, tables and targets."""
    path = Path(__file__).with_name("rollout_stability.py")
    spec = importlib.util.spec_from_file_location("rollout_stability", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stability = _stability()


def parse_setting(text: str) -> tuple[int, float]:
    """``"8:3"`` -> (8, 3.0); refuses anything else with the form it wants."""
    try:
        order, hours = text.split(":")
        return int(order), float(hours)
    except ValueError:
        raise SystemExit(f"a hyperdiffusion setting is ORDER:HOURS, e.g. 8:3 (del^8, 3 h), got {text!r}") from None


def folder(out: Path, year: int, setting: str) -> Path:
    return out / f"{year}-{setting.replace(':', '-')}"


def run(args: argparse.Namespace, year: int, setting: str) -> None:
    """``rollout_stability.py`` for one year and setting, into its folder."""
    argv = ["--year", str(year), "--every-days", f"{args.every_days:g}", "--data", args.data,
            "--out", str(folder(args.out, year, setting))]
    argv += ["--checkpoint", str(args.checkpoint)] if args.checkpoint else []
    argv += ["--continuous-checkpoint", str(args.continuous_checkpoint)] if args.continuous_checkpoint else []
    argv += ["--days", str(args.days)] if args.days is not None else []
    if setting != UNDAMPED:
        order, hours = parse_setting(setting)
        argv += ["--hyperdiffusion", f"{hours:g}", "--hyperdiffusion-order", str(order)]
    stability.main(argv)


def summary(out: Path, year: int, setting: str) -> dict[str, object]:
    """One row per run: the worst power ratios to 10 days, and the RMSE against the continuous model."""
    where = folder(out, year, setting)
    if not (where / stability.SPECTRA).is_file():
        raise SystemExit(f"no results at {where}: run without --from-results first")
    spectra, rmse = pd.read_csv(where / stability.SPECTRA), pd.read_csv(where / stability.RMSE)
    judged = spectra[(spectra["mode"] == stability.ROLLOUT) & (spectra["lead_h"] <= stability.POWER_UNTIL_H)]
    ratios = judged["power_ratio"].to_numpy()
    row: dict[str, object] = {"setting": setting, "lowest power": float(ratios.min()),
                              "highest power": float(ratios.max()),
                              "worst |log ratio|": float(np.abs(np.log(ratios)).max())}
    for lead in (24.0, 120.0):
        at = rmse[np.isclose(rmse["lead_h"], lead)].set_index("variable")["rollout_vs_continuous_pct"]
        row[f"{lead:g} h RMSE vs continuous, %"] = " / ".join(f"{v:+.1f}" for v in at.to_numpy())
    row["120 h within 10 %"] = bool((rmse.loc[np.isclose(rmse["lead_h"], stability.RMSE_LEAD_H),
                                              "rollout_vs_continuous_pct"] <= 100 * stability.RMSE_TOLERANCE).all())
    row["power target"] = "pass" if row["worst |log ratio|"] <= np.log(stability.POWER_FACTOR) else "FAIL"
    return row


def choose(table: pd.DataFrame) -> str:
    """The damped setting closest to the truth's power among those within the RMSE target."""
    damped = table[(table["setting"] != UNDAMPED) & table["120 h within 10 %"]]
    if damped.empty:
        raise SystemExit("no setting keeps the 120 h RMSE within 10 % of the continuous model's")
    return str(damped.sort_values("worst |log ratio|").iloc[0]["setting"])


def table(out: Path, year: int, settings: list[str]) -> pd.DataFrame:
    """``summary`` of the undamped rollout and every setting, one row each."""
    return pd.DataFrame([summary(out, year, s) for s in [UNDAMPED, *settings]])


def report(out: Path, settings: list[str], validation: int, test: int) -> str:
    val = table(out, validation, settings)
    chosen = choose(val)
    tested = table(out, test, [chosen])
    variables = ", ".join(stability.TARGETS)
    made = (out / COMMAND).read_text().strip() if (out / COMMAND).is_file() else "?"
    return "\n".join([
        "# Hyperdiffusion for the rollout", "", f"made by `{made}`", "",
        f"Small-scale power (zonal wavenumbers >= {stability.HIGH_K}) over the truth's, lowest and highest over "
        f"{variables} and the leads to {stability.POWER_UNTIL_H:g} h; RMSE of the rollout against the continuous "
        f"model ({variables}). Settings ORDER:HOURS (del^ORDER, e-folding HOURS at the highest wavenumber).", "",
        f"## Validation year {validation}: the choice", "", stability.markdown(val), "",
        f"Chosen: {chosen} (closest to the truth's power among the settings within the RMSE target).", "",
        f"## Test year {test}: the chosen setting beside the undamped rollout", "", stability.markdown(tested), "",
        f"Each run's full tables: {folder(out, test, chosen)}/{stability.REPORT} and the other folders of {out}.",
    ])


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="the rolled-out model (default: the main job's fine-tuned model)")
    parser.add_argument("--continuous-checkpoint", type=Path, default=None,
                        help="the lead-conditioned model to compare with (default: --checkpoint itself)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), help="ORDER:HOURS settings to try")
    parser.add_argument("--data", default="embedded/reanalysis", help="the truth: embedded/<name> or a dataset path")
    parser.add_argument("--validation-year", type=int, default=REANALYSIS_VAL[0])
    parser.add_argument("--test-year", type=int, default=REANALYSIS_TEST[0])
    parser.add_argument("--every-days", type=float, default=7.0, help="days between initial times")
    parser.add_argument("--days", type=int, default=None, help="only the first days of each year (a quick check)")
    parser.add_argument("--out", type=Path, default=Path("outputs/rollout_hyperdiffusion"))
    parser.add_argument("--from-results", action="store_true", help="the report again from the runs' tables")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    for setting in args.settings:
        parse_setting(setting)
    if not args.from_results:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / COMMAND).write_text(shlex.join(["python", "experiments/rollout_hyperdiffusion.py", *argv]) + "\n")
        for setting in [UNDAMPED, *args.settings]:
            run(args, args.validation_year, setting)
        chosen = choose(table(args.out, args.validation_year, args.settings))
        for setting in (UNDAMPED, chosen):
            run(args, args.test_year, setting)
    text = report(args.out, args.settings, args.validation_year, args.test_year)
    (args.out / REPORT).write_text(text + "\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
