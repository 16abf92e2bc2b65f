"""Starting a run from released ClimaX weights puts those weights in the run's network."""

import torch

from climax_nb.model import ClimaX, load_official_checkpoint, preset, write_released_style_checkpoint
from climax_nb.train.run import initialise

VARIABLES = ("z500", "t850", "t2m", "lsm", "lat")


def test_released_weights_are_copied_into_the_network(tmp_path):
    path = write_released_style_checkpoint(tmp_path / "released.ckpt")
    net = ClimaX.from_config(preset("tiny", variables=VARIABLES, img_size=(32, 64)))
    report = initialise(net, str(path))
    released, _ = load_official_checkpoint(path, variables=VARIABLES)
    for key, value in released.state_dict().items():
        assert torch.equal(net.state_dict()[key], value), key
    assert report.new_variables == [] and "u10" in report.dropped_variables
