import numpy as np
import pytest
import torch
from torch import nn

from climax_nb.grid import WB5625
from climax_nb.train.loss import cos_lat_weights, lat_weighted_mse
from climax_nb.train.optim import parameter_groups, warmup_cosine


def test_cos_lat_weights_mean_one_and_small_at_poles():
    w = cos_lat_weights(WB5625.lat)
    assert w.mean().item() == pytest.approx(1.0)
    assert w[0] < 0.1 and w[0] == pytest.approx(w[-1].item())


def test_lat_weighted_mse_by_hand():
    lat = np.array([-60.0, 0.0, 60.0])
    w = cos_lat_weights(lat)  # cos = 0.5, 1, 0.5 -> normalised 0.75, 1.5, 0.75
    np.testing.assert_allclose(w.numpy(), [0.75, 1.5, 0.75], rtol=1e-6)
    pred = torch.zeros(1, 2, 3, 2)
    target = torch.zeros(1, 2, 3, 2)
    target[0, 0, 1, :] = 2.0  # error 4 on the equator row of variable 0
    per_var = lat_weighted_mse(pred, target, w, per_variable=True)
    # variable 0: (1.5 * 4 * 2 cells) / 6 cells = 2
    np.testing.assert_allclose(per_var.numpy(), [2.0, 0.0], rtol=1e-6)
    assert lat_weighted_mse(pred, target, w).item() == pytest.approx(1.0)


def test_lat_weighted_mse_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        lat_weighted_mse(torch.zeros(1, 2, 3, 4), torch.zeros(1, 3, 3, 4), torch.ones(3))
    with pytest.raises(ValueError, match=r"\[H\] weights"):
        lat_weighted_mse(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4), torch.ones(4))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, 4, 8))
        self.proj = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)


def test_parameter_groups_exclude_embeddings_biases_and_norms():
    model = Tiny()
    decay, no_decay = parameter_groups(model, 0.05)
    assert [p.shape for p in decay["params"]] == [torch.Size([8, 8])]
    assert len(no_decay["params"]) == 4 and no_decay["weight_decay"] == 0.0


def test_warmup_cosine_shape():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, warmup_steps=10, total_steps=110, warmup_start_factor=0.0, min_factor=0.0)
    lrs = []
    for _ in range(111):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 0.0 and lrs[5] == pytest.approx(0.5) and lrs[10] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.5) and lrs[110] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))


def test_warmup_cosine_rejects_bad_steps():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="warmup_steps <= total_steps"):
        warmup_cosine(opt, warmup_steps=20, total_steps=10)
