"""The printed reports of the experiments, from their results tables: the scripts and notebook 11 print the same.

Each report is Markdown: the comparison per (variable, lead) with paired
differences over seeds and their t-intervals, then a line or two that say where
the reference won and where it did not.
"""

from __future__ import annotations

import pandas as pd

from climax_nb.experiments.compare import comparison_table, paired_differences
from climax_nb.experiments.tables import markdown_table


def fraction_label(fraction: float) -> str:
    """``1/8``, ``1/4``, ``1/2``, ``all``; other fractions as numbers."""
    if fraction == 1:
        return "all"
    return f"1/{round(1 / fraction)}" if abs(1 / fraction - round(1 / fraction)) < 1e-9 else f"{fraction:g}"


def _seeds(frame: pd.DataFrame) -> list[int]:
    return sorted(int(s) for s in frame["seed"].unique())


def data_fraction(frame: pd.DataFrame) -> str:
    """Pretrained against scratch per fraction, variable and lead; per fraction, the cells where pretraining helped."""
    by = ["fraction", "variable", "lead_h"]
    table = comparison_table(frame, column="arm", reference="pretrained", others=["scratch"], by=by)
    table["fraction"] = table["fraction"].map(fraction_label)
    pairs = frame.groupby("fraction")["pairs"].first()
    lines = [f"RMSE on the test period, seeds {_seeds(frame)}: mean over seeds; scratch - pretrained per seed, mean "
             "and 95 % t-interval over seeds (% of pretrained); positive: pretraining helped",
             "training pairs (initial times with every lead inside the data): "
             + ", ".join(f"{fraction_label(f)} {n}" for f, n in pairs.items()), "", markdown_table(table), ""]
    paired = paired_differences(frame, column="arm", reference="pretrained", other="scratch", by=by)
    for fraction, cells in paired.groupby("fraction"):
        worse = cells[cells["diff"] <= 0]
        sure = int((cells["low"] > 0).sum())
        line = (f"- {fraction_label(fraction)}: pretraining lowered the mean RMSE in {len(cells) - len(worse)} of "
                f"{len(cells)} (variable, lead) cells, with the interval above zero in {sure}")
        if len(worse):
            line += "; it did not in " + ", ".join(f"{r.variable} {r.lead_h} h" for r in worse.itertuples())
        lines.append(line)
    return "\n".join(lines)


def ablations(frame: pd.DataFrame) -> str:
    """(a) the outputs against all-vars and (b) the lead handling against continuous, per variable and lead."""
    parts = [f"RMSE on the test period, seeds {_seeds(frame)}: mean over seeds; differences per seed against the "
             "reference, mean and 95 % t-interval (% of the reference); positive: the reference is better"]
    for comparison, reference, title in (("outputs", "all-vars", "(a) what the model predicts"),
                                         ("leads", "continuous", "(b) how it reaches a lead")):
        rows = frame[frame["comparison"] == comparison]
        others = [v for v in dict.fromkeys(rows["variant"]) if v != reference]
        if rows.empty or not others:
            continue
        parts += ["", title, "", markdown_table(comparison_table(rows, column="variant", reference=reference,
                                                                 others=others))]
    return "\n".join(parts)


def scaling(frame: pd.DataFrame, lead: float = 72) -> str:
    """RMSE at ``lead`` per width and pretraining length; the gain over no pretraining, paired by seed."""
    at = frame[frame["lead_h"] == lead]
    sizes = frame.groupby("dim").agg(params=("params", "first"), finetune_s=("train_s", "mean"),
                                     pretrain_s=("pretrain_s", "max")).reset_index()
    mean = at.pivot_table(index=["dim", "pretrain_steps"], columns="variable", values="rmse")
    mean = mean[list(dict.fromkeys(at["variable"]))].reset_index()
    parts = [f"RMSE at {lead:g} h on the test period, seeds {_seeds(frame)} (mean over seeds)", "",
             markdown_table(mean), "", "parameters, fine-tuning seconds (mean) and the longest pretraining's seconds "
             "per width (NaN: trained by the main job)", "", markdown_table(sizes)]
    pretrained = sorted(int(s) for s in at["pretrain_steps"].unique() if s > 0)
    if 0 in set(at["pretrain_steps"]) and pretrained:
        gain = comparison_table(at, column="pretrain_steps", reference=0, others=pretrained, by=["dim", "variable"])
        parts += ["", "pretrained - not pretrained, per seed: mean and 95 % t-interval (% of not pretrained); "
                  "negative: pretraining helped", "", markdown_table(gain)]
    return "\n".join(parts)


def regional(frame: pd.DataFrame) -> str:
    """Per box: the regional model against its scratch twin and the global models cut to the box, with the
    baselines; then, in words, where the regional model does not beat each of them."""
    parts = [f"RMSE on each box's cells (the box's own area weights), test period, seeds {_seeds(frame)}: mean "
             "over seeds; differences per seed against `regional` (the pretrained model fine-tuned on the box's "
             "tokens), mean and 95 % t-interval (% of regional); positive: regional is better. `global` is one "
             "model, the same in every seed; persistence and climatology on the same cells and initial times"]
    for region, rows in frame.groupby("region", sort=False):
        first = rows.iloc[0]
        others = [a for a in dict.fromkeys(rows["arm"]) if a != "regional"]
        budget = rows.groupby("arm", sort=False).agg(steps=("steps", "first"), train_s=("train_s", "mean"))
        spent = ", ".join(f"{arm} {int(b.steps)} steps" + (f" ({b.train_s:.0f} s)" if b.train_s == b.train_s else "")
                          for arm, b in budget.iterrows())
        parts += ["", f"{region}: lat {first['lat_range']}, lon {first['lon_range']} (deg), {first['cells']} cells",
                  f"fine-tuning budget (training wall time here, mean over seeds): {spent}", ""]
        if not others:
            parts.append(markdown_table(rows))
            continue
        means = rows.groupby(["variable", "lead_h", "arm"], sort=False)["rmse"].mean().unstack("arm")
        base = rows[rows["arm"] == "regional"].groupby(["variable", "lead_h"], sort=False)[
            ["persistence", "climatology"]].mean()
        means = means[["regional", *others]].join(base)
        parts += ["RMSE, mean over seeds", "", markdown_table(means.reset_index()), "",
                  "differences from regional per seed", ""]
        table = comparison_table(rows, column="arm", reference="regional", others=others)
        parts.append(markdown_table(table[[c for c in table.columns if " - " in c or c.startswith("seeds ")
                                           or c in ("variable", "lead_h")]]))
        parts.append("")
        for other in [*others, "persistence", "climatology"]:
            lost = [f"{v} {h} h" for (v, h), row in means.iterrows() if not row["regional"] < row[other]]
            parts.append(f"- regional against {other}: lower RMSE in {len(means) - len(lost)} of {len(means)} cells"
                         + (f"; not in {', '.join(lost)}" if lost else ""))
    return "\n".join(parts)


def _budget(frame: pd.DataFrame) -> str:
    """The trained arms' steps and mean wall time, ``pretrained 600 steps (1234 s), ...``."""
    budget = frame[frame["steps"] > 0].groupby("arm", sort=False).agg(steps=("steps", "first"),
                                                                      train_s=("train_s", "mean"))
    return ", ".join(f"{arm} {int(b.steps)} steps ({b.train_s:.0f} s)" for arm, b in budget.iterrows())


def downscaling(frame: pd.DataFrame) -> str:
    """Per variable: each arm's RMSE, bias, Pearson and fine-scale power (mean over seeds); then, in words,
    where the pretrained model beats bilinear interpolation and its scratch twin."""
    seeds = _seeds(frame)
    spent = _budget(frame)
    power = [c for c in frame.columns if c.startswith("power_")]
    means = frame.groupby(["variable", "arm"], sort=False)[["rmse", "bias", "pearson", *power]].mean().reset_index()
    parts = [f"Downscaling 5.625 to 2.8125 deg, test period ({int(frame['times'].iloc[0])} times), seeds {seeds}: "
             "mean over seeds. power_a_b: zonal power at wavenumbers a-b over the truth's (1: the truth's)",
             f"training budget (wall time here): {spent}", "", markdown_table(means)]
    rmse = means.pivot(index="variable", columns="arm", values="rmse")
    for other in [a for a in ("bilinear", "scratch") if a in rmse.columns]:
        lost = [v for v, row in rmse.iterrows() if not row["pretrained"] < row[other]]
        parts.append(f"- pretrained against {other}: lower RMSE for {len(rmse) - len(lost)} of {len(rmse)} variables"
                     + (f"; not for {', '.join(lost)}" if lost else ""))
    return "\n".join(parts)


def subseasonal(frame: pd.DataFrame) -> str:
    """Per variable and window: each arm's RMSE, ACC and skill against climatology (mean over seeds); then, in words,
    which arms beat climatology and where the pretrained model beats damped persistence and its scratch twin."""
    means = frame.groupby(["variable", "weeks", "arm"], sort=False)[["rmse", "acc", "msss"]].mean().reset_index()
    parts = [f"Two-week mean anomalies, test period ({int(frame['times'].iloc[0])} start days, "
             f"{int(frame['train_years'].iloc[0])} training years), seeds {_seeds(frame)}: mean over seeds. "
             "msss: 1 - MSE / MSE(climatology), above 0 beats climatology",
             f"training budget (wall time here): {_budget(frame)}", "", markdown_table(means)]
    cells = means.groupby(["variable", "weeks"], sort=False).ngroups
    for arm, rows in means[means["arm"] != "climatology"].groupby("arm", sort=False):
        beat = rows[rows["msss"] > 0]
        parts.append(f"- {arm} beats climatology in {len(beat)} of {cells} cells"
                     + (f": {', '.join(f'{r.variable} {r.weeks}' for r in beat.itertuples())}" if len(beat) else ""))
    rmse = means.pivot_table(index=["variable", "weeks"], columns="arm", values="rmse", sort=False)
    for other in [a for a in ("damped_persistence", "scratch") if a in rmse.columns]:
        won = int((rmse["pretrained"] < rmse[other]).sum())
        parts.append(f"- pretrained against {other}: lower RMSE in {won} of {cells} cells")
    return "\n".join(parts)


def climate_projection(frame: pd.DataFrame) -> str:
    """Per variable and truth: each arm's ClimateBench NRMSE (mean over seeds); then, in words, where pattern
    scaling wins and how far each arm is from the internal-variability floor."""
    metrics = ["nrmse_spatial", "nrmse_global", "nrmse_total"]
    means = frame.groupby(["truth", "variable", "arm"], sort=False)[metrics].mean().reset_index()
    parts = [f"ClimateBench NRMSE on the held-out scenario ({int(frame['test_samples'].iloc[0])} samples; "
             f"{int(frame['train_samples'].iloc[0])} training samples), seeds {_seeds(frame)}: mean over seeds; "
             "single: against each run, averaged; ensemble mean: against the members' mean; lower is better",
             f"training budget (wall time here): {_budget(frame)}", "", markdown_table(means)]
    for truth, rows in means.groupby("truth", sort=False):
        total = rows.pivot(index="variable", columns="arm", values="nrmse_total")
        learnt = [a for a in ("finetuned", "frozen", "scratch") if a in total.columns]
        if "pattern_scaling" in total.columns and learnt:
            best = total[learnt].min(axis=1)
            wins = [v for v in total.index if total.loc[v, "pattern_scaling"] < best[v]]
            parts.append(f"- {truth}: pattern scaling beats every ClimaX arm for {len(wins)} of {len(total)} "
                         f"variables" + (f" ({', '.join(wins)})" if wins else ""))
        for arm in [a for a in ("finetuned", "frozen") if a in total.columns and "scratch" in total.columns]:
            better = int((total[arm] < total["scratch"]).sum())
            parts.append(f"- {truth}: {arm} below scratch for {better} of {len(total)} variables")
    return "\n".join(parts)
