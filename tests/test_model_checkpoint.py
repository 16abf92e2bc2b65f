"""Released ClimaX checkpoints (old names, both token layouts), read safely."""

from __future__ import annotations

import os
import pathlib
import sys
import types

import numpy as np
import pytest
import torch

from climax_nb.model import ClimaX, ReferenceClimaX, load_official_checkpoint, preset
from climax_nb.model.safe_load import safe_load

CFG = preset("tiny")
CK_VARS = list(CFG.variables)  # lsm, t2m, u10, v10, z500, t850
ARCH = {"checkpoint_variables": CK_VARS, "num_heads": CFG.num_heads, "drop_path": 0.0,
        "drop_rate": 0.0}


@pytest.fixture(autouse=True)
def attribute_dict(monkeypatch) -> type:
    """Lightning's ``AttributeDict`` as pickled by Lightning 2, without importing Lightning."""
    names = ["lightning", "lightning.fabric", "lightning.fabric.utilities",
             "lightning.fabric.utilities.data"]
    for name in names:
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    cls = type("AttributeDict", (dict,), {"__module__": names[-1]})
    sys.modules[names[-1]].AttributeDict = cls
    return cls


@pytest.fixture(scope="module")
def reference() -> ReferenceClimaX:
    torch.manual_seed(0)
    ref = ReferenceClimaX.from_config(CFG).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return ref


def released_file(ref: ReferenceClimaX, path: pathlib.Path, parallel: bool) -> pathlib.Path:
    """A Lightning checkpoint as ClimaX released it: net. prefix, channel_* names."""
    state = {}
    for key, value in ref.state_dict().items():
        for new, old in (("var_embed", "channel_embed"), ("var_query", "channel_query"),
                         ("var_agg.", "channel_agg.")):
            key = key.replace(new, old)
        state[f"net.{key}"] = value.clone()
    if parallel:
        n = len(ref.variables)
        for kind, name in (("weight", "proj_weights"), ("bias", "proj_biases")):
            parts = [state.pop(f"net.token_embeds.{i}.proj.{kind}") for i in range(n)]
            state[f"net.token_embeds.{name}"] = torch.stack(parts)
    torch.save({"state_dict": state, "epoch": 3, "pytorch-lightning_version": "1.8.6",
                "hyper_parameters": sys.modules["lightning.fabric.utilities.data"].AttributeDict(
                    lr=5e-4, warmup_epochs=np.int64(2)),
                "callbacks": {"best": np.float64(0.25)}}, path)
    return path


def test_lightning_extras_are_read_as_plain_data(reference, tmp_path):
    path = released_file(reference, tmp_path / "climax.ckpt", parallel=False)
    needed = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    assert "lightning.fabric.utilities.data.AttributeDict" in needed
    raw = safe_load(path)
    assert type(raw["hyper_parameters"]) is dict
    assert raw["hyper_parameters"] == {"lr": 5e-4, "warmup_epochs": 2}
    assert raw["callbacks"]["best"] == 0.25


def _x(names: list[str]) -> torch.Tensor:
    return torch.randn(2, len(names), 8, 16, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("parallel", [False, True])
def test_released_layout_lands_where_it_belongs(reference, tmp_path, parallel):
    path = released_file(reference, tmp_path / "climax.ckpt", parallel)
    model, report = load_official_checkpoint(path, **ARCH)
    model.eval()
    fast = dict(model.named_parameters())
    for name, p in reference.named_parameters():
        if name.startswith("token_embeds."):
            _, i, _, kind = name.split(".")
            stacked = {"weight": "proj_weights", "bias": "proj_biases"}[kind]
            assert torch.equal(getattr(model.token_embeds, stacked)[int(i)], p), name
        else:
            assert torch.equal(fast[name], p), name
    assert report.skipped == [] and report.interpolated == {} and report.new_variables == []
    assert set(report.loaded) == set(model.state_dict())
    assert report.renamed["net.channel_embed"] == "var_embed"
    assert report.renamed["net.channel_agg.in_proj_weight"] == "var_agg.in_proj_weight"
    x = _x(CK_VARS)
    with torch.no_grad():
        torch.testing.assert_close(model(x, 6.0, CK_VARS), reference(x, 6.0, CK_VARS),
                                   rtol=1e-5, atol=1e-5)


def test_variables_are_mapped_by_name(reference, tmp_path):
    path = released_file(reference, tmp_path / "climax.ckpt", parallel=False)
    names = ["t2m", "q700", "z500", "lsm"]  # a new variable, a different order, some dropped
    torch.manual_seed(7)
    model, report = load_official_checkpoint(path, variables=names, **ARCH)
    torch.manual_seed(7)
    fresh = ClimaX.from_config(model.config)
    d = CFG.embed_dim
    head, ref_head = model.head[4].weight.view(4, 4, d), reference.head[4].weight.view(4, 6, d)
    for j, name in enumerate(names):
        tok = model.token_embeds.proj_weights[j]
        if name == "q700":
            assert torch.equal(tok, fresh.token_embeds.proj_weights[j])
            assert torch.equal(head[:, j], fresh.head[4].weight.view(4, 4, d)[:, j])
            assert torch.equal(model.var_embed[0, j], fresh.var_embed[0, j])
            continue
        i = CK_VARS.index(name)
        assert torch.equal(tok, reference.token_embeds[i].proj.weight)
        assert torch.equal(model.token_embeds.proj_biases[j], reference.token_embeds[i].proj.bias)
        assert torch.equal(model.var_embed[0, j], reference.var_embed[0, i])
        assert torch.equal(head[:, j], ref_head[:, i])
        assert torch.equal(model.head[4].bias.view(4, 4)[:, j],
                           reference.head[4].bias.view(4, 6)[:, i])
    assert report.new_variables == ["q700"]
    assert report.dropped_variables == ["u10", "v10", "t850"]
    shared = ["z500", "t2m", "lsm"]
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(_x(shared), 6.0, shared, ["t2m", "z500"]),
                                   reference(_x(shared), 6.0, shared, ["t2m", "z500"]),
                                   rtol=1e-5, atol=1e-5)


def test_position_embedding_is_interpolated(reference, tmp_path):
    path = released_file(reference, tmp_path / "climax.ckpt", parallel=True)
    model, report = load_official_checkpoint(path, img_size=(16, 32), **ARCH)
    d = CFG.embed_dim
    assert model.pos_embed.shape == (1, 8 * 16, d)
    assert report.interpolated == {"pos_embed": ((1, 32, d), (1, 128, d))}
    grid = reference.pos_embed.detach().reshape(1, 4, 8, d).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(grid, size=(8, 16), mode="bicubic")
    expected = expected.permute(0, 2, 3, 1).reshape(1, -1, d)
    torch.testing.assert_close(model.pos_embed.detach(), expected)
    assert model(torch.randn(1, 2, 16, 32), 6.0, ["t2m", "z500"]).shape == (1, 6, 16, 32)


def test_default_arch_is_read_from_the_file(reference, tmp_path):
    path = released_file(reference, tmp_path / "climax.ckpt", parallel=False)
    model, _ = load_official_checkpoint(path, checkpoint_variables=CK_VARS, num_heads=4)
    cfg = model.config
    sizes = (cfg.embed_dim, cfg.depth, cfg.decoder_depth, cfg.patch_size, cfg.mlp_ratio)
    assert sizes == (32, 2, 2, 2, 2.0)
    assert cfg.img_size == (8, 16) and cfg.variables == CFG.variables
    with pytest.raises(ValueError, match="6 variables, not ClimaX's 48"):
        load_official_checkpoint(path)


@pytest.mark.parametrize(
    ("arch", "match"),
    [({"embed_dim": 64}, "embed_dim=32"), ({"depth": 3}, "depth=2"),
     ({"patch_size": 4}, "patch_size=2"), ({"decoder_depth": 1}, "decoder_depth=2")],
)
def test_other_architectures_are_refused(reference, tmp_path, arch, match):
    path = released_file(reference, tmp_path / "climax.ckpt", parallel=False)
    with pytest.raises(ValueError, match=match):
        load_official_checkpoint(path, **ARCH, **arch)


def test_a_non_climax_checkpoint_is_refused(tmp_path):
    path = tmp_path / "resnet.ckpt"
    torch.save({"state_dict": torch.nn.Linear(3, 4).state_dict()}, path)
    with pytest.raises(ValueError, match=r"not a ClimaX checkpoint: missing \['token_embeds"):
        load_official_checkpoint(path)


class Payload:
    """Unpickling this would run a shell command."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_unsafe_objects_are_never_unpickled(reference, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": reference.state_dict(), "hyper_parameters": Payload()}, path)
    with pytest.raises(ValueError, match=r"posix\.system.*not allow-listed"):
        load_official_checkpoint(path, **ARCH)
    assert not (tmp_path / "pwned").exists()


