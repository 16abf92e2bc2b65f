"""Token masks as pictures: which tokens of a neighbourhood are kept, zeroed, noised, coarsened or scored unchanged.

A mask is one level's token grid ``[nt, nh, nw]``: ``MaskKind`` values (``TokenMasks.kind`` of
one sample and level, BERT masking) or booleans (a task mask: True = hidden, drawn as zeroed).
Each row of the figure is a mask, each column a time slab, each panel the slab's nh x nw
tokens coloured by kind.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

from climax_nb.model.atmorep.masking import MaskKind

#: One colour per kind, in ``MaskKind`` order.
KIND_COLOURS = {MaskKind.KEEP: "#e8e8e8", MaskKind.ZERO: "#222222", MaskKind.NOISE: "#d62728",
                MaskKind.COARSEN: "#1f77b4", MaskKind.UNCHANGED: "#ff9f1c"}
KIND_LABELS = {MaskKind.KEEP: "kept (not scored)", MaskKind.ZERO: "zeroed (hidden)", MaskKind.NOISE: "noised",
               MaskKind.COARSEN: "coarsened", MaskKind.UNCHANGED: "unchanged (scored)"}


def as_kinds(mask) -> np.ndarray:
    """A mask ``[nt, nh, nw]`` as ``MaskKind`` integers: booleans become ZERO (hidden) and KEEP."""
    array = np.asarray(mask.cpu() if hasattr(mask, "cpu") else mask)
    if array.ndim != 3:
        raise ValueError(f"a mask is one level's token grid [time slabs, lat tokens, lon tokens], got shape "
                         f"{array.shape}: take one sample and level, e.g. masks.kind[0, 0]")
    if array.dtype == bool:
        return np.where(array, int(MaskKind.ZERO), int(MaskKind.KEEP))
    kinds = array.astype(int)
    if kinds.min() < 0 or kinds.max() > max(MaskKind):
        raise ValueError(f"mask values must be MaskKind values 0-{int(max(MaskKind))}, got {kinds.min()}-{kinds.max()}")
    return kinds


def plot_token_masks(masks: Mapping[str, object], *, title: str | None = None) -> plt.Figure:
    """One row per named mask, one column per time slab, tokens coloured by kind, with a legend of the kinds shown."""
    if not masks:
        raise ValueError("nothing to draw: give at least one mask")
    kinds = {name: as_kinds(m) for name, m in masks.items()}
    shapes = {k.shape for k in kinds.values()}
    if len(shapes) != 1:
        raise ValueError(f"the masks must share one token grid, got shapes {sorted(shapes)}")
    nt, nh, nw = shapes.pop()
    cmap = ListedColormap([KIND_COLOURS[k] for k in MaskKind])
    norm = BoundaryNorm(np.arange(len(MaskKind) + 1) - 0.5, len(MaskKind))
    fig, axes = plt.subplots(len(kinds), nt, figsize=(1.6 * nt + 1.8, 1.0 * len(kinds) * max(1.0, nh / nw * 2) + 0.6),
                             squeeze=False, constrained_layout=True)
    for r, (name, grid) in enumerate(kinds.items()):
        for t in range(nt):
            ax = axes[r, t]
            ax.imshow(grid[t], origin="lower", cmap=cmap, norm=norm, aspect="equal", interpolation="nearest")
            ax.set_xticks(np.arange(-0.5, nw, 1), minor=True)
            ax.set_yticks(np.arange(-0.5, nh, 1), minor=True)
            ax.grid(which="minor", color="white", lw=0.6)
            ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
            if r == 0:
                ax.set_title(f"slab {t}", fontsize=8)
        axes[r, 0].set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    shown = sorted({int(k) for grid in kinds.values() for k in np.unique(grid)} | {int(MaskKind.KEEP)})
    fig.legend(handles=[Patch(color=KIND_COLOURS[MaskKind(k)], label=KIND_LABELS[MaskKind(k)]) for k in shown],
               loc="outside right center", fontsize=8, frameon=False)
    fig.suptitle(title or f"token masks: {nt} time slabs of {nh} x {nw} tokens (one level)")
    return fig


__all__ = ["KIND_COLOURS", "KIND_LABELS", "as_kinds", "plot_token_masks"]
