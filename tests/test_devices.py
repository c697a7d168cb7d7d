"""Device choice: ``device=auto`` by default, one GPU per job of a parallel sweep (with a faked
GPU count), the SLURM example launcher config, and every method keeping its tensors on the
model's device (checked on the CPU with :class:`vizlab.devices.DefaultDeviceGuard`)."""

from __future__ import annotations

import pytest
import torch
from omegaconf import open_dict

from tests.conftest import compose, make_context
from vizlab import registry
from vizlab.devices import (
    DefaultDeviceGuard,
    MisplacedTensorError,
    gpu_for_job,
    hydra_job_slot,
    resolve_device,
    resolve_precision,
)
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext


@pytest.fixture
def four_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


# ----- which device ---------------------------------------------------------------------------
def test_auto_is_the_default_and_falls_back_to_the_cpu(no_gpu):
    cfg = compose()
    assert cfg.device == "auto" and cfg.precision == "fp32"
    assert resolve_device(cfg.device) == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")


def test_auto_takes_the_gpu_when_present(four_gpus):
    assert resolve_device("auto") == torch.device("cuda", 0)


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local", "slurm_example"])
def test_parallel_sweep_jobs_take_gpu_i_mod_n(four_gpus, launcher):
    devices = [resolve_device("auto", job_num=i, launcher=launcher).index for i in range(10)]
    assert devices == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert resolve_device("cuda", job_num=6, launcher=launcher) == torch.device("cuda", 2)


def test_a_sequential_sweep_keeps_one_gpu(four_gpus):
    """The basic launcher runs the jobs in one process: one GPU, one loaded model."""
    assert {resolve_device("auto", job_num=i, launcher="basic").index for i in range(6)} == {0}
    assert gpu_for_job(None, None, 4) == 0


def test_a_users_gpu_index_is_honoured_in_every_job(four_gpus):
    for i in range(5):
        assert resolve_device("cuda:3", job_num=i, launcher="joblib") == torch.device("cuda", 3)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("cuda:4", ["cuda:0 to cuda:3"]),
        ("cuda:x", ["not a GPU"]),
        ("gpu", ["not valid", "auto"]),
        ("tpu:0", ["not valid"]),
    ],
)
def test_bad_devices_are_clear_errors(four_gpus, name, words):
    with pytest.raises(VizlabError) as err:
        resolve_device(name)
    assert name in str(err.value) and all(w in str(err.value) for w in words)


def test_cuda_without_a_gpu_is_a_clear_error(no_gpu):
    with pytest.raises(VizlabError, match="CUDA is not available"):
        resolve_device("cuda")


def test_the_job_number_comes_from_hydra(four_gpus):
    """Inside a multirun job, ``device=auto`` reads Hydra's job number and launcher."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from vizlab.cli import config_dir

    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = hydra_compose("config", overrides=["hydra/launcher=joblib"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.job.num = 5
        cfg.hydra.mode = RunMode.MULTIRUN
    HydraConfig.instance().set_config(cfg)
    try:
        assert hydra_job_slot() == (5, "joblib")
        assert resolve_device("auto") == torch.device("cuda", 1)
    finally:
        HydraConfig.instance().cfg = None
    assert hydra_job_slot() == (None, None)


def test_slurm_example_launcher_composes():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from vizlab.cli import config_dir

    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = hydra_compose(
            "config",
            overrides=["hydra/launcher=slurm_example", "hydra.launcher.partition=a100"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.partition == "a100"
    assert launcher.gpus_per_task == 1 and launcher.timeout_min > 0
    from hydra.utils import get_class

    assert get_class(launcher._target_).__name__ == "SlurmLauncher"


def test_precision_values():
    assert resolve_precision(None) == "fp32" and resolve_precision("BF16") == "bf16"
    with pytest.raises(VizlabError, match="fp32, bf16, fp16"):
        resolve_precision("fp8")


# ----- tensors stay on the model's device -----------------------------------------------------
class ZerosWithoutDevice(Method):
    """A method written as a CPU-only author would: its zeros land on the default device."""

    name = "misplaced"

    def run(self, ctx: RunContext) -> Result:
        x = ctx.model.units.unit_to_model(ctx.references.images.to(ctx.device))
        offset = torch.zeros(1, 3, 1, 1)  # on a GPU: a CPU tensor added to a CUDA one
        out = ctx.model.logits(x + offset)
        return Result(metrics={"top1": int(out.argmax())})


class ZerosOnTheModelsDevice(ZerosWithoutDevice):
    def run(self, ctx: RunContext) -> Result:
        x = ctx.model.units.unit_to_model(ctx.references.images.to(ctx.device))
        offset = torch.zeros(1, 3, 1, 1, device=ctx.device)
        out = ctx.model.logits(x + offset)
        return Result(metrics={"top1": int(out.argmax())})


def test_the_guard_catches_a_misplaced_tensor_and_passes_the_fixed_one():
    ctx = make_context("model=tiny_cnn", "data.size=32")
    ctx.references  # noqa: B018 - data decoding is the host's work, done before the check
    with pytest.raises(MisplacedTensorError) as err, DefaultDeviceGuard():
        ZerosWithoutDevice().run(ctx)
    assert "torch.zeros" in str(err.value) and "test_devices.py:run:" in str(err.value)
    with DefaultDeviceGuard() as guard:
        ZerosOnTheModelsDevice().run(ctx)
    assert guard.violations == []


def test_the_guard_ignores_torch_internals_and_seeded_draws():
    with DefaultDeviceGuard(strict=True):
        torch.nn.Linear(3, 2)  # parameters made by torch, moved by .to(device) by the caller
        torch.randn(2, generator=torch.Generator().manual_seed(0))
        torch.as_tensor(torch.ones(2, device="cpu"))
        torch.zeros(2, device="cpu")


HOST_SIDE = {
    "vizlab/models/receptive_field.py:measure": "geometry probe, once per layer, moved by "
    "the caller's forward_to_layer",
    "vizlab/analysis/unit_boxes.py:gradient_supports": "geometry probe on a CPU copy of the "
    "linearized model (unit_geometry moves the probe to the CPU)",
    "vizlab/analysis/unit_boxes.py:feature_size": "as gradient_supports",
    "vizlab/data/image_sets.py:subset": "indexes the image set held on the host",
    "vizlab/methods/activation_max.py:unit_maxima": "running maximum of scores already moved "
    "to the host with .cpu()",
    "vizlab/methods/class_model.py:photo_logit_maxima": "running maximum of logits already on "
    "the host (.cpu())",
    "vizlab/methods/class_model.py:run": "init image, moved to the model's device by the engine",
    "vizlab/methods/class_model.py:_metrics": "indices into logits already on the host",
    "vizlab/methods/am_adversarial.py:run": "target classes, moved to the model's device by "
    "the attack",
    "vizlab/plotting.py:colorize": "colour lookup table of a map already on the host (.cpu())",
    "vizlab/attribution/occlusion.py:occlusion_masks": "window masks made once, moved with "
    ".to(inputs) by the caller",
}
"""Places that create tensors without ``device=`` on purpose (host-side work), with why."""

TINY = ("data.size=32",)
CASES = {
    "inversion": ("model=tiny_cnn", "target.layer=blocks.1", "method.iterations=2",
                  "method.finetune_iterations=1"),
    "activation_max": ("model=tiny_cnn", "method=activation_max", "target=channel",
                       "target.layer=blocks.1", "target.index=0", "method.iterations=2",
                       "method.transfer_models=[]", "method.reference_set=data",
                       "param=fourier", "transforms=standard"),
    "caricature": ("model=tiny_cnn", "method=caricature", "target.layer=blocks.1",
                   "method.iterations=2"),
    "class_model": ("model=tiny_cnn", "method=class_model", "target=logit", "target.index=1",
                    "method.iterations=2", "method.transfer_models=[]"),
    "deepdream": ("model=tiny_cnn", "method=deepdream", "target.layer=blocks.1",
                  "method.iterations=1", "method.octaves=1"),
    "am_adversarial": ("model=tiny_cnn", "method=am_adversarial", "method.steps=2",
                       "method.transfer_models=[]", "method.target_class=1"),
    "adversarial": ("model=tiny_cnn", "method=adversarial", "method.steps=2",
                    "method.transfer_models=[]"),
    "filters": ("model=tiny_cnn", "method=filters"),
    "activation_maps": ("model=tiny_cnn", "method=activation_maps", "target.layer=blocks.1"),
    "saliency": ("model=tiny_cnn", "method=saliency", "method.kind=all", "method.n_samples=2",
                 "method.n_steps=2"),
    "occlusion": ("model=tiny_cnn", "method=occlusion", "method.patch=16", "method.stride=16"),
    "gradcam": ("model=tiny_cnn", "method=gradcam"),
    "guided_gradcam": ("model=tiny_cnn", "method=guided_gradcam"),
    "cam": ("model=tiny_cnn", "method=cam"),
    "grabcut": ("model=tiny_cnn", "method=grabcut"),
    "vit_attention": ("model=tiny_vit", "method=vit_attention"),
    "vit_token_dim": ("model=tiny_vit", "method=activation_max", "target=token_dim",
                      "target.layer=blocks.1", "target.index=0", "method.iterations=2",
                      "method.transfer_models=[]", "method.reference_set=data"),
    "nearest_neighbors": ("model=tiny_cnn", "method=nearest_neighbors",
                          "method.image_set=lfw_subset", "method.max_images=12"),
    "embedding": ("model=tiny_cnn", "method=embedding", "method.image_set=lfw_subset",
                  "method.max_images=12"),
    "max_patches": ("model=tiny_cnn", "method=max_patches", "target.layer=blocks.1",
                    "method.image_set=lfw_subset", "method.max_images=8", "method.num_units=2",
                    "method.k=2"),
    "texture": ("model=tiny_cnn", "method=texture", "method.size=32", "method.iterations=2"),
    "style_transfer": ("model=tiny_cnn", "method=style_transfer", "method.size=32",
                       "method.iterations=2"),
    "fast_style": ("model=tiny_cnn", "method=fast_style", "method.train_size=32",
                   "method.steps=2", "method.batch_size=1"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_method_creates_no_tensor_off_the_models_device(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # methods that save files (fast_style) write here
    ctx = make_context(*CASES[case], *TINY)
    cls = registry.load(ctx.cfg.method.name)
    if cls.Options is not None:
        from vizlab.schema import typed

        ctx.options = typed(cls.Options, ctx.cfg.method, "method")
    ctx.references  # noqa: B018 - decoding the photos is host work, done before the check
    with DefaultDeviceGuard(allow=HOST_SIDE):  # raises at the first misplaced tensor
        cls().run(ctx)
