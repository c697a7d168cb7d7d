"""Model configs: offline wheels, local checkpoints (safe loading), random init, errors."""

import pytest
import torch
from omegaconf import OmegaConf

from vizlab.errors import VizlabError
from vizlab.models.loading import build_model
from vizlab.models.offline_weights import OFFLINE_WHEELS, block_layout, convert_state_dict


def test_key_mapping_follows_the_stage_layout():
    sd = {
        "_conv_stem.weight": 0,
        "_bn0.bias": 1,
        "_fc.weight": 2,
        "_blocks.0._depthwise_conv.weight": 3,
        "_blocks.0._project_conv.weight": 4,
        "_blocks.1._expand_conv.weight": 5,
        "_blocks.3._bn2.weight": 6,
    }
    out = convert_state_dict(sd, [1, 2, 2])
    assert block_layout([1, 2, 2]) == [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert out == {
        "conv_stem.weight": 0,
        "bn1.bias": 1,
        "classifier.weight": 2,
        "blocks.0.0.conv_dw.weight": 3,
        "blocks.0.0.conv_pw.weight": 4,
        "blocks.1.0.conv_pw.weight": 5,
        "blocks.2.0.bn3.weight": 6,
    }


@pytest.mark.parametrize("arch", sorted(OFFLINE_WHEELS))
def test_offline_wheels_load_strictly(arch, tmp_path, monkeypatch):
    model = build_model(OmegaConf.create({"name": arch, "offline_weights": True}))
    assert model.num_classes == 1000 and not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_checkpoint_roundtrip_and_mismatch(tmp_path):
    cfg = OmegaConf.create({"name": "test_efficientnet", "init_seed": 3})
    model = build_model(cfg)
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": model.state_dict()}, path)
    loaded = build_model(OmegaConf.create({"name": "test_efficientnet", "checkpoint": str(path)}))
    x = torch.randn(1, 3, 64, 64)
    assert torch.allclose(loaded(x), model(x))
    with pytest.raises(VizlabError, match="do not fit"):
        build_model(OmegaConf.create({"name": "test_resnet", "checkpoint": str(path)}))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "obj": object()}, path)
    with pytest.raises(VizlabError, match="weights-only"):
        build_model(OmegaConf.create({"name": "test_efficientnet", "checkpoint": str(path)}))


def test_random_init_is_reproducible_with_a_seed():
    a = build_model(OmegaConf.create({"name": "test_vit", "init_seed": 0}))
    b = build_model(OmegaConf.create({"name": "test_vit", "init_seed": 0}))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_channels_last_is_on_for_cnns_only_and_changes_no_result():
    cnn = OmegaConf.create({"name": "test_efficientnet", "init_seed": 0})
    nhwc, nchw = build_model(cnn), build_model(OmegaConf.merge(cnn, {"channels_last": False}))
    assert nhwc.conv_stem.weight.is_contiguous(memory_format=torch.channels_last)
    assert nchw.conv_stem.weight.is_contiguous()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(nhwc(x), nchw(x), atol=1e-5, rtol=1e-4)
    vit = build_model(OmegaConf.create({"name": "test_vit", "init_seed": 0}))
    assert vit.patch_embed.proj.weight.is_contiguous()
    with pytest.raises(VizlabError, match="model.channels_last='yes'"):
        build_model(OmegaConf.merge(cnn, {"channels_last": "yes"}))


def test_no_offline_weights_for_other_models():
    with pytest.raises(VizlabError, match="no offline weights"):
        build_model(OmegaConf.create({"name": "resnet18", "offline_weights": True}))


def test_the_model_schema_names_the_bad_key_and_what_is_valid():
    from vizlab.models.schema import validate_model

    cases = {
        "Unknown key model.nme": {"name": "x", "nme": "y"},
        r"model.input.std\[1\]=-0.2": {"name": "x", "input": {"std": [0.2, -0.2, 0.2]}},
        "model.input.size='big'": {"name": "x", "input": {"size": "big"}},
        "model.input.range=": {"name": "x", "input": {"range": [1, 0]}},
        "model.pretrained=True: applies to timm models only": {
            "name": "x",
            "_target_": "torchvision.models.resnet18",
            "pretrained": True,
        },
    }
    for message, node in cases.items():
        with pytest.raises(VizlabError, match=message):
            validate_model(node)
    typed = validate_model({"name": "x", "input": {"size": [32, 48]}})
    assert typed.input.hw == (32, 48) and typed.input.mean == [0.485, 0.456, 0.406]


def test_a_factory_builds_any_module_with_its_kwargs_and_seed():
    cfg = {
        "name": "r18",
        "_target_": "torchvision.models.resnet18",
        "kwargs": {"weights": None, "num_classes": 3},
        "init_seed": 5,
    }
    a, b = build_model(OmegaConf.create(cfg)), build_model(OmegaConf.create(cfg))
    assert a.fc.out_features == 3 and not a.training
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a.conv1.weight.is_contiguous(memory_format=torch.channels_last)  # auto: a CNN


def test_a_bad_factory_is_one_clear_error():
    with pytest.raises(VizlabError, match="model._target_='torchvision.models.resnet1000'"):
        build_model(OmegaConf.create({"name": "x", "_target_": "torchvision.models.resnet1000"}))
    with pytest.raises(VizlabError, match="returned a dict, not a torch.nn.Module"):
        build_model(OmegaConf.create({"name": "x", "_target_": "builtins.dict"}))
    with pytest.raises(VizlabError, match="unexpected keyword"):
        build_model(
            OmegaConf.create(
                {"name": "x", "_target_": "torchvision.models.resnet18", "kwargs": {"depth": 3}}
            )
        )
