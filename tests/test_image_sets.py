"""Image sets (photos + crops, folder, lfw_subset), batched feature extraction, and the
image-set methods nearest_neighbors / embedding / max_patches (lecture 21.2-21.3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vizlab.analysis.features import extract_features, extract_maps, spatial_map
from vizlab.analysis.neighbors import chance_agreement, neighbours
from vizlab.analysis.patches import crop_patch, inside_mask, top_positions
from vizlab.analysis.unit_boxes import UnitGeometry, feature_size, gradient_supports, unit_geometry
from vizlab.data.image_sets import (
    evenly_spaced,
    folder,
    lfw_subset,
    load_image_set,
    photos_and_crops,
)
from vizlab.errors import VizlabError
from vizlab.methods.embedding import Embedding
from vizlab.methods.max_patches import MaxPatches
from vizlab.methods.nearest_neighbors import NearestNeighbors
from vizlab.models.receptive_field import linearized_copy
from vizlab.models.wrapper import InputSpec

SPEC = InputSpec((32, 32), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


# ----- image sets --------------------------------------------------------------------------
def test_lfw_subset_faces_first_then_non_faces():
    images = lfw_subset(SPEC)
    assert images.images.shape == (200, 3, 32, 32)
    assert images.labels.tolist() == [0] * 100 + [1] * 100
    assert images.label_names == ["face", "non-face"]
    assert images.images.min() >= 0 and images.images.max() <= 1
    assert torch.equal(images.images[:, 0], images.images[:, 2])  # grayscale -> RGB


def test_photos_and_crops_seeded_and_labelled_by_photo():
    a = photos_and_crops(SPEC, num_crops=2, seed=0)
    b = photos_and_crops(SPEC, num_crops=2, seed=0)
    c = photos_and_crops(SPEC, num_crops=2, seed=1)
    n_photos = len(a.label_names)
    assert len(a) == 3 * n_photos and a.images.shape[1:] == (3, 32, 32)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert a.names[:3] == ["chelsea", "chelsea/crop0", "chelsea/crop1"]
    assert a.labels.tolist() == np.repeat(np.arange(n_photos), 3).tolist()


def _write(path, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), colour).save(path)


def test_folder_flat_and_class_subfolders(tmp_path):
    _write(tmp_path / "flat" / "a.png", (255, 0, 0))
    _write(tmp_path / "flat" / "b.jpg", (0, 255, 0))
    flat = folder(tmp_path / "flat", SPEC)
    assert flat.names == ["a.png", "b.jpg"] and flat.labels is None
    assert flat.images[0, 0].mean() > 0.95 and flat.images[0, 1].mean() < 0.05
    for k, cls in enumerate(["cats", "dogs"]):
        for i in range(2):
            _write(tmp_path / "classes" / cls / f"{i}.png", (100 * k, 0, 0))
    classes = folder(tmp_path / "classes", SPEC)
    assert classes.label_names == ["cats", "dogs"]
    assert classes.labels.tolist() == [0, 0, 1, 1]
    assert classes.label_of(3) == "dogs"


def test_image_set_errors_name_the_bad_value(tmp_path):
    with pytest.raises(VizlabError, match="lfw_subset"):
        load_image_set({"image_set": "lfw"}, SPEC)
    with pytest.raises(VizlabError, match="nowhere"):
        load_image_set({"image_set": "folder", "image_dir": str(tmp_path / "nowhere")}, SPEC)
    with pytest.raises(VizlabError, match="image_dir"):
        load_image_set({"image_set": "folder"}, SPEC)
    with pytest.raises(VizlabError, match="no images"):
        load_image_set({"image_set": "folder", "image_dir": str(tmp_path)}, SPEC)


def test_max_images_is_evenly_spaced_and_keeps_both_classes():
    assert evenly_spaced(10, 3).tolist() == [0, 4, 9]
    subset = load_image_set({"image_set": "lfw_subset", "max_images": 10}, SPEC)
    assert len(subset) == 10 and set(subset.labels.tolist()) == {0, 1}


# ----- features --------------------------------------------------------------------------
def test_features_batched_equal_unbatched_and_pool(ctx_factory):
    model = ctx_factory("model=tiny_cnn", "data.size=32").model
    x = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    one = extract_features(model, x, "blocks.2", "avg", batch_size=5)
    many = extract_features(model, x, "blocks.2", "avg", batch_size=2)
    assert torch.allclose(one, many, atol=1e-5) and not one.requires_grad
    with torch.no_grad():
        full = model.features(model.units.unit_to_model(x), ["blocks.2"])["blocks.2"]
    assert torch.allclose(one, full.mean((2, 3)), atol=1e-5)
    flat = extract_features(model, x, "blocks.2", "flatten", batch_size=2)
    assert flat.shape == (5, full[0].numel())
    with pytest.raises(VizlabError, match="pool"):
        extract_features(model, x, "blocks.2", "median")


def test_vit_tokens_are_laid_on_the_patch_grid(ctx_factory):
    """Changing one patch of the image changes exactly that cell of the token map taken
    before attention (prefix token dropped, tokens reshaped in row-major patch order)."""
    model = ctx_factory("model=tiny_vit", "data.size=64").model
    x = torch.rand(1, 3, 64, 48, generator=torch.Generator().manual_seed(0))
    y = x.clone()
    y[..., 16:32, 32:48] = 0  # patch (row 1, col 2) of a 4 x 3 grid
    a, b = extract_maps(model, torch.cat([x, y]), "norm_pre", batch_size=2)
    assert a.shape == (64, 4, 3)
    changed = (a - b).abs().sum(0) > 1e-6
    expected = torch.zeros(4, 3, dtype=torch.bool)
    expected[1, 2] = True
    assert torch.equal(changed, expected)
    cls = extract_features(model, x, "norm", "cls")
    with torch.no_grad():
        tokens = model.features(model.units.unit_to_model(x), ["norm"])["norm"]
    assert torch.allclose(cls, tokens[:, 0], atol=1e-5)
    with pytest.raises(VizlabError, match="no spatial layout"):
        spatial_map(model, torch.zeros(1, 64), "fc_norm", (64, 48))


# ----- nearest neighbours ------------------------------------------------------------------
def test_neighbours_exclude_the_query_even_with_duplicates():
    x = np.array([[0.0], [0.0], [1.0], [3.0]])
    idx, dist = neighbours(x, 2)
    assert idx[0].tolist() == [1, 2] and idx[1].tolist() == [0, 2]
    assert all(i not in row for i, row in enumerate(idx))
    assert dist[3].tolist() == [2.0, 3.0]
    assert chance_agreement(np.array([0, 0, 1, 1])) == pytest.approx(2 * 2 / 12)


def test_nearest_neighbors_on_lfw_reports_agreement(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_cnn",
        "data.size=32",
        "method=nearest_neighbors",
        "method.image_set=lfw_subset",
        "method.max_images=60",
        "method.k=3",
        "method.num_queries=2",
    )
    result = NearestNeighbors().run(ctx)
    m = result.metrics
    assert m["layer"] == "global_pool" and m["num_images"] == 60 and m["feature_dim"] == 256
    assert m["label_agreement_chance"] == pytest.approx(2 * 30 * 29 / (60 * 59))
    # Raw pixels already separate faces from the (mostly flat, dark) non-faces well.
    assert m["label_agreement_pixel"] > m["label_agreement_chance"] + 0.2
    assert 0 <= m["label_agreement_feature"] <= 1
    assert set(result.figures) == {"neighbors_pixel", "neighbors_feature"}
    assert result.images["grid_pixel"].ndim == 3
    idx = result.tensors["neighbors_feature"]
    assert idx.shape == (60, 3) and all(i not in row for i, row in enumerate(idx.tolist()))
    with pytest.raises(VizlabError, match="method.k"):
        NearestNeighbors().run(
            ctx_factory("model=tiny_cnn", "data.size=32", "method=nearest_neighbors",
                        "method.image_set=lfw_subset", "method.max_images=4", "method.k=4")
        )  # fmt: skip


# ----- embedding -------------------------------------------------------------------------
def test_embedding_pca_tsne_with_labels_and_thumbnails(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_vit",
        "data.size=32",
        "method=embedding",
        "method.image_set=lfw_subset",
        "method.max_images=30",
        "target.layer=blocks.1",
    )
    result = Embedding().run(ctx)
    m = result.metrics
    for space in ("pixel", "feature"):
        assert 0 < m[f"pca_explained_variance_{space}"] <= 1
        assert 0.5 < m[f"trustworthiness_tsne_{space}"] <= 1
        assert -1 <= m[f"silhouette_tsne_{space}"] <= 1
        assert result.tensors[f"{space}_tsne"].shape == (30, 2)
    assert m["feature_dim"] == 64
    assert set(result.figures) == {"embedding", "thumbnails"}


# ----- max patches -----------------------------------------------------------------------
def test_top_positions():
    maps = torch.zeros(3, 2, 2)
    maps[0, 1, 1], maps[0, 0, 1], maps[2, 1, 0] = 5, 4, 3
    assert top_positions(maps, 2, one_per_image=False) == [(0, 1, 1), (0, 0, 1)]
    assert top_positions(maps, 2, one_per_image=True) == [(0, 1, 1), (2, 1, 0)]


def test_inside_mask_and_crop_clipping():
    geometry = UnitGeometry(stride=8, size=19, offset_y=0, offset_x=0)
    mask = inside_mask(geometry, (8, 8), (64, 64))  # box of row i: [8i - 9, 8i + 10)
    assert mask[:, 4].tolist() == [False, False, True, True, True, True, True, False]
    image = torch.rand(3, 64, 64)
    assert geometry.box(0, 0, (64, 64)) == (0, 0, 10, 10)
    tile = crop_patch(image, geometry, 0, 0, 19)  # the field outside the image is gray
    assert torch.allclose(tile[:, :9, :], torch.full((3, 9, 19), 0.5))
    assert torch.allclose(tile[:, 9:, 9:], image[:, :10, :10], atol=1e-5)


@pytest.mark.parametrize("which", ["tiny_cnn", "lite0"])
def test_unit_boxes_match_gradient_support(which, ctx_factory, lite0):
    """The box formula (stride, size, measured offset) equals the receptive field traced by
    back-propagation on the linearized net -- also with TF-'same' padding (lite0)."""
    model = ctx_factory("model=tiny_cnn", "data.size=64").model if which == "tiny_cnn" else lite0
    hw = (64, 64)
    probe = linearized_copy(model.module)
    for layer in ("blocks.1", "blocks.2") if which == "tiny_cnn" else ("blocks.2",):
        geometry = unit_geometry(model, layer, hw)
        h, w = feature_size(probe, layer, hw)
        units = [(0, 0), (h // 2, w // 3), (h - 1, w - 1), (1, w - 2)]
        for (i, j), (r0, c0, r1, c1) in zip(units, gradient_supports(probe, layer, hw, units)):
            assert geometry.box(i, j, hw) == (r0, c0, r1 + 1, c1 + 1), (layer, i, j)
    if which == "lite0":  # TF-"same" pads after the image: centres shift by stride - 1
        assert unit_geometry(model, "blocks.2", hw).offset_y == 7


def test_max_patches_values_and_crops(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_cnn",
        "data.size=64",
        "method=max_patches",
        "method.num_crops=1",
        "method.max_images=12",
        "target.layer=blocks.2",
        "target.index=[3,5]",
        "method.k=3",
        "method.tile_px=32",
    )
    result = MaxPatches().run(ctx)
    m = result.metrics
    assert m["units"] == [3, 5] and m["rf_stride"] == 8 and m["rf_size"] == 19
    maps = result.tensors["maps"]
    assert maps.shape[:2] == (12, 2)
    assert m["unit_max_activation"][0] == pytest.approx(float(maps[:, 0].max()))
    assert result.tensors["patches"].shape == (6, 3, 32, 32)
    with pytest.raises(VizlabError, match="out of range"):
        MaxPatches().run(
            ctx_factory("model=tiny_cnn", "data.size=64", "method=max_patches",
                        "method.max_images=4", "target.layer=blocks.2", "target.index=99")
        )  # fmt: skip


def test_max_patches_on_vit_tokens(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_vit",
        "data.size=64",
        "method=max_patches",
        "method.image_set=lfw_subset",
        "method.max_images=8",
        "target.layer=blocks.2",
        "method.num_units=2",
        "method.k=2",
    )
    m = MaxPatches().run(ctx).metrics
    assert m["rf_stride"] == 16 and m["rf_size"] == 48  # 3 x 3 patches around the token
    assert m["units"] == [0, 1]


@pytest.mark.pretrained
def test_lite0_features_separate_faces_better_than_pixels(ctx_factory):
    """End to end on the offline pretrained model: pooled pre-logit features put faces next
    to faces (and non-faces next to non-faces) more often than raw pixels do (21.2.1)."""
    ctx = ctx_factory(
        "model=efficientnet_lite0",
        "data.size=64",
        "method=nearest_neighbors",
        "method.image_set=lfw_subset",
        "method.max_images=100",
        "method.num_queries=2",
    )
    m = NearestNeighbors().run(ctx).metrics
    assert m["label_agreement_feature"] > m["label_agreement_pixel"] > 0.8


def test_data_image_takes_a_built_in_name_or_an_image_file(tmp_path):
    import numpy as np
    from omegaconf import OmegaConf

    from vizlab.data.images import builtin_photo, load_references
    from vizlab.errors import VizlabError
    from vizlab.models.wrapper import InputSpec

    spec = InputSpec((32, 32), (0.5,) * 3, (0.5,) * 3, "bicubic", 1.0)
    file = tmp_path / "my_cat.png"
    builtin_photo("chelsea").save(file)
    cfg = OmegaConf.create({"source": "builtin", "image": str(file), "images": None})
    refs = load_references(cfg, spec)
    assert refs.names == ["my_cat"]
    named = load_references(OmegaConf.create({"image": "chelsea"}), spec)
    assert np.allclose(refs.images, named.images, atol=1 / 255)
    both = load_references(OmegaConf.create({"images": ["coffee", str(file)]}), spec)
    assert both.names == ["coffee", "my_cat"] and both.images.shape == (2, 3, 32, 32)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    for bad, needle in ((str(tmp_path / "broken.jpg"), "corrupt"), ("chelsae", "chelsea")):
        with pytest.raises(VizlabError, match=needle):
            load_references(OmegaConf.create({"image": bad}), spec)


@pytest.mark.parametrize(
    ("method", "bad", "valid"),
    [
        ("embedding", "method.image_set=lfw", "did you mean lfw_subset"),
        ("embedding", "method.spaces=[pixels]", "pixel"),
        ("embedding", "method.tsne_method=fast", "barnes_hut"),
        ("embedding", "method.perplexity=0", "perplexity"),
        ("nearest_neighbors", "method.pool=mean", "avg, max"),
        ("nearest_neighbors", "method.k=five", "whole number"),
        ("max_patches", "method.k=0", "method.k"),
        ("max_patches", "method.max_images=1", "max_images"),
        ("max_patches", "method.image_set=folder", "image_dir"),
    ],
)
def test_bad_options_are_refused_before_the_run(ctx_factory, method, bad, valid):
    with pytest.raises(VizlabError, match=valid):
        ctx_factory("model=tiny_cnn", "data.size=32", f"method={method}", bad)
