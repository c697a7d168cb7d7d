"""No per-step host-to-device copies in the pre-image engine: a tensor built from Python numbers
(``torch.tensor([...])``, ``torch.as_tensor(list)``) inside the step loop is a copy from host
to device on a GPU every step, whatever its ``device=`` says. Run on the CPU, the places that
build such tensors are counted for a short and a longer run; a place whose count grows with
the number of steps works per step."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

from tests.conftest import make_context
from vizlab.methods.activation_max import ActivationMax
from vizlab.methods.inversion import Inversion

pytestmark = pytest.mark.usefixtures("one_thread")

_TORCH_DIR = str(Path(torch.__file__).parent)
FROM_HOST_DATA = (torch.tensor, torch.as_tensor, torch.asarray, torch.from_numpy)

PER_STEP_ALLOWED = {
    "vizlab/transforms/spatial.py:_to_device": "the affine matrices of the random transforms "
    "(drawn on the host by seeded generators): sent from page-locked memory, asynchronously",
}


class HostDataCounter(TorchFunctionMode):
    """Counts, per ``path.py:function``, the tensors made from Python data outside torch."""

    def __init__(self) -> None:
        super().__init__()
        self.places: Counter[str] = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FROM_HOST_DATA and not (args and torch.is_tensor(args[0])):
            code = sys._getframe(1).f_code
            if not code.co_filename.startswith(_TORCH_DIR):
                parts = Path(code.co_filename).parts
                short = "/".join(parts[parts.index("vizlab") :]) if "vizlab" in parts else "?"
                self.places[f"{short}:{code.co_name}"] += 1
        return func(*args, **kwargs)


def per_step_places(method, overrides: tuple[str, ...]) -> set[str]:
    counts = []
    for iterations in (2, 5):
        ctx = make_context(*overrides, f"method.iterations={iterations}")
        ctx.references  # noqa: B018 - decoding the photos is host work, done before counting
        with HostDataCounter() as counter:
            method().run(ctx)
        counts.append(counter.places)
    short, long = counts
    return {place for place in long if long[place] > short[place]}


AM = ("model=tiny_cnn", "data.size=32", "method=activation_max", "method.transfer_models=[]",
      "method.reference_set=data", "target.layer=blocks.1")  # fmt: skip
CASES = {
    "fourier_standard": (ActivationMax, (*AM, "target=channel", "target.index=[0,1]",
                                         "param=fourier", "transforms=standard")),
    "pixel_paper_energy": (ActivationMax, (*AM, "target=neuron", "target.index=2")),
    "inversion": (Inversion, ("model=tiny_cnn", "data.size=32", "target.layer=blocks.2")),
    "vit_tokens": (ActivationMax, ("model=tiny_vit", "data.size=32", "method=activation_max",
                                   "method.transfer_models=[]", "method.reference_set=data",
                                   "target=token_dim", "target.layer=blocks.1",
                                   "target.index=0", "target.tokens=patch_mean")),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_tensor_from_host_data_per_step(case):
    method, overrides = CASES[case]
    places = per_step_places(method, overrides)
    assert places <= set(PER_STEP_ALLOWED), f"per-step tensors from host data in {places}"
    if "transforms=standard" in overrides:  # the counter sees the one allowed place
        assert places == {"vizlab/transforms/spatial.py:_to_device"}
