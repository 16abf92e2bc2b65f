"""AtmoRep training through the same Lightning stack as ClimaX (``model.family: atmorep`` in a run config).

``climax_nb.train.run.train`` asks ``atmorep_parts`` for the trainer, module and data module
of such a run; everything else (trainer, checkpoints, resume, export, the command line) is
the ClimaX run's. See docs/atmorep.md.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import xarray as xr

from climax_nb.model.atmorep.encoder import pad_aux_weights
from climax_nb.train.atmorep.data import CubeDataModule, CubeSplit, training_years
from climax_nb.train.atmorep.module import AtmoRepModule
from climax_nb.train.atmorep.section import AtmoRepSection, build_config, fields_from_variables


def initialise_atmorep(net: Any, path: str) -> str:
    """Copy the weights of an AtmoRep forecast checkpoint into ``net`` by name; return a short report.

    Fields the checkpoint lacks keep fresh weights (a field added later); weights of another
    size are refused, naming them.
    """
    from climax_nb.forecast.checkpoint import load_forecast_checkpoint

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no checkpoint to initialise from at {file}")
    source = load_forecast_checkpoint(file)
    if source.spec.family != "atmorep":
        raise ValueError(f"--model.init {file} is a {source.spec.family} model; an AtmoRep run starts from an "
                         "AtmoRep checkpoint (or from scratch: leave out --model.init)")
    own, state = net.state_dict(), pad_aux_weights(source.model.state_dict())
    odd = [k for k, v in state.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
    if odd:
        raise ValueError(f"--model.init {file} has weights of other sizes ({', '.join(odd[:3])}, ...): build its "
                         "architecture (the same preset, embed_dim, token_size and depths)")
    used = {k: v for k, v in state.items() if k in own}
    fresh = net.load_state_dict(used, strict=False).missing_keys
    return (f"loaded {len(used)} tensors from {file}; fresh (not in the checkpoint): {len(fresh)} "
            f"({', '.join(fresh[:5]) or 'none'}); not used: {len(state) - len(used)}\n")


def ddp_strategy(strategy: str) -> str:
    """``ddp`` made to allow unused parameters; other strategies as they are.

    A batch feeds only the fields its source has, so the other fields' parameters (and the
    key/value projections reading them) get no gradient in that step, which plain DDP refuses.
    """
    return "ddp_find_unused_parameters_true" if strategy == "ddp" else strategy


def atmorep_parts(config: Any, sources: dict[str, xr.Dataset], run_dir: Path
                  ) -> tuple[pl.Trainer, AtmoRepModule, CubeDataModule]:
    """Trainer, module and data module of an AtmoRep run (``config``: a ``RunConfig``), data attached."""
    data = config.data
    defaults = type(data)()
    for name, what in (("leads", "the leads come from the neighbourhood's time slabs"),
                       ("rollout_steps", "AtmoRep trains on masked cubes, not chained steps"),
                       ("inputs", "AtmoRep reads and predicts whole fields: choose them with --model.variables"),
                       ("outputs", "AtmoRep reads and predicts whole fields: choose them with --model.variables")):
        if getattr(data, name) != getattr(defaults, name):
            raise ValueError(f"--data.{name} is a ClimaX option: {what}; leave it out of an AtmoRep run")
    cfg = build_config(config.model, config.atmorep, sources)
    split = CubeSplit(data.train_years, data.val_years, data.batch_size, data.num_workers, config.trainer.seed)
    datamodule = CubeDataModule(sources, cfg, split, normalisation=config.atmorep.normalisation,
                                shared_stats=config.atmorep.shared_stats)
    section = replace(config.trainer, strategy=ddp_strategy(config.trainer.strategy))
    trainer = section.build()  # seeds everything: the module built next starts the same way each run
    module = AtmoRepModule.build(cfg, config.optim, config.atmorep, datamodule.lat)
    datamodule.setup()
    module.attach(datamodule.trained_on())
    if config.model.init and not config.trainer.resume:
        (run_dir / "init_report.txt").write_text(initialise_atmorep(module.net, config.model.init))
    return trainer, module, datamodule


__all__ = [
    "AtmoRepModule",
    "AtmoRepSection",
    "CubeDataModule",
    "CubeSplit",
    "atmorep_parts",
    "build_config",
    "ddp_strategy",
    "fields_from_variables",
    "initialise_atmorep",
    "training_years",
]
