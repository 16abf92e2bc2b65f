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
