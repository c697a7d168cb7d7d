"""`vizlab reproduce`: every paper experiment config composes and runs end to end (--quick, on
the tiny models), its grid is the config's own Hydra sweep, and the report is written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vizlab.reproduce import main
from vizlab.reproduce.catalog import BY_NAME, CATALOG
from vizlab.reproduce.jobs import Job, build_grid, experiment_names
from vizlab.reproduce.layouts import fig6_verdict
from vizlab.reproduce.naming import class_name
from vizlab.reproduce.pages import config_comment

PAPER_CONFIGS = [n for n in experiment_names() if n.startswith(("mv_", "am_"))]


def test_every_paper_config_is_reproduced_and_documented():
    assert sorted(PAPER_CONFIGS) == sorted(BY_NAME)
    for name in PAPER_CONFIGS:
        comment = config_comment(name)
        assert re.search(r"\b(Figs?\.|Table) \d", comment), name
        assert f"experiment={name}" in comment, name  # the per-figure command


def test_grid_is_the_configs_hydra_sweep():
    grid = build_grid("mv_fig6")
    layers = ["conv_stem"] + [f"blocks.{i}" for i in range(1, 7)] + ["conv_head"]
    assert dict(grid.axes) == {
        "target.layer": layers,
        "method.C": ["300", "100", "20", "1"],
    }
    assert len(grid.jobs()) == 32
    narrowed = build_grid(
        "mv_fig6", ["target.layer=conv_stem,conv_head", "method.C=300", "data.size=96"]
    )
    assert dict(narrowed.axes) == {"target.layer": ["conv_stem", "conv_head"], "method.C": ["300"]}
    assert narrowed.fixed == ["data.size=96"]


def test_one_value_of_a_swept_key_still_names_the_cache_folder():
    """Two runs that fix the swept C to different values must not share a cache folder."""
    from vizlab.reproduce.jobs import job_id

    folders = {
        job_id(point)
        for c in ("100", "20")
        for point in build_grid("mv_fig6", ["target.layer=blocks.3", f"method.C={c}"]).jobs()
    }
    assert folders == {"method.C=100,target.layer=blocks.3", "method.C=20,target.layer=blocks.3"}
    grid = build_grid("mv_fig6", ["target.layer=blocks.3", "method.C=20"])
    assert grid.overrides(grid.jobs()[0]).count("method.C=20") == 1


def test_unknown_experiment_is_one_clear_error(capsys):
    assert main(["mv_fig99"]) == 2
    err = capsys.readouterr().err
    assert "mv_fig99" in err and "mv_fig6" in err


def test_class_names_not_indices():
    assert class_name(301) == "ladybug"
    assert class_name(953) == "pineapple"


def _job(layer: str, C: str, err: float, cons: float, std: float) -> Job:
    metrics = {
        "reconstruction_error": err,
        "classification_consistency": cons,
        "reconstruction_error_std_inits": std,
    }
    return Job([("target.layer", layer), ("method.C", C)], metrics, {}, 0.0)


def test_fig6_verdict_flags_a_layer_that_misses_the_papers_pattern():
    cell = {
        ("conv_stem", "300"): _job("conv_stem", "300", 9.0, 1.0, 0.5),
        ("conv_stem", "20"): _job("conv_stem", "20", 25.0, 0.9, 1.0),
        ("conv_head", "300"): _job("conv_head", "300", 24.0, 0.9, 0.5),
        ("conv_head", "20"): _job("conv_head", "20", 22.0, 0.9, 3.5),
    }
    text = fig6_verdict(["conv_stem", "conv_head"], ["300", "20"], cell)
    rows = {
        line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| conv")
    }
    assert rows["conv_stem"].rstrip(" |").endswith("yes")
    assert "**no**" in rows["conv_head"] and "| 20 |" in rows["conv_head"]


def test_quick_runs_every_experiment_end_to_end(tmp_path: Path):
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    pages = [tmp_path / "mahendran-vedaldi.md", tmp_path / "activation-maximization.md"]
    text = "".join(p.read_text() for p in pages)
    for repro in CATALOG:
        part = (tmp_path / "parts" / f"{repro.name}.md").read_text()
        assert "failed" not in part, part
        assert f"vizlab reproduce {repro.name} --quick" in part
        assert list((tmp_path / "figures").glob(f"{repro.name}_*.png")), repro.name
    assert "Not generated on" not in text


@pytest.mark.parametrize("alias", ["table2_hog_dsift"])
def test_old_experiment_names_still_work(alias):
    assert build_grid(alias).axes == build_grid("mv_table2").axes


def test_an_interrupted_job_is_not_reused_from_the_cache(tmp_path):
    import json

    import torch

    from vizlab.reproduce.jobs import load_cached

    torch.save({"preimage": torch.zeros(1, 3, 4, 4)}, tmp_path / "tensors.pt")
    (tmp_path / "metrics.json").write_text(json.dumps({"reconstruction_error": 12.0}))
    assert load_cached(tmp_path, []) is not None
    (tmp_path / "metrics.json").write_text(
        json.dumps({"reconstruction_error": 12.0, "interrupted": True})
    )
    assert load_cached(tmp_path, []) is None


def test_reuse_only_takes_a_job_cached_with_the_same_overrides(tmp_path):
    import json

    import torch

    from vizlab.reproduce.jobs import RECORD, cached_run

    point = [("method.C", "300")]
    torch.save({"preimage": torch.zeros(1, 3, 4, 4)}, tmp_path / "tensors.pt")
    (tmp_path / "metrics.json").write_text(json.dumps({"reconstruction_error": 12.0}))
    assert cached_run(tmp_path, point, ["data.size=96"]) is not None  # no record: trusted
    record = {"point": point, "overrides": ["experiment=mv_fig6", "data.size=96"]}
    (tmp_path / RECORD).write_text(json.dumps(record))
    assert cached_run(tmp_path, point, ["data.size=96", "experiment=mv_fig6"]) is not None
    same = ["experiment=mv_fig6", "data.size=96", "threads=1"]  # threads: same result
    assert cached_run(tmp_path, point, same) is not None
    assert cached_run(tmp_path, point, ["experiment=mv_fig6", "data.size=160"]) is None


def test_figs_16_17_are_one_figure_per_model_with_layers_as_rows():
    import torch

    render = BY_NAME["mv_fig16_17_activation_max"].layout
    jobs = [
        Job(
            [("model", model), ("target.layer", layer)],
            {"activation_relative_to_max": 1.0},
            {"visualization": torch.rand(1, 3, 8, 8)},
            0.0,
        )
        for model in ("efficientnet_lite1", "efficientnet_lite2")
        for layer in ("conv_stem", "blocks.1")
    ]
    rendering = render(jobs, "mv")
    assert set(rendering.figures) == {"tiles_efficientnet_lite1", "tiles_efficientnet_lite2"}
    fig16 = rendering.figures["tiles_efficientnet_lite1"]
    assert "Fig. 16" in fig16._suptitle.get_text()
    assert [ax.get_ylabel() for ax in fig16.axes if ax.get_ylabel()] == ["conv_stem", "blocks.1"]
    assert "Lite2 (for VGG-VD), blocks.1" in rendering.markdown


def test_transfer_rates_are_named_by_stand_in_model():
    from vizlab.reproduce.layouts import transfer_sentence

    metrics = {
        "transfer_top1_rate": 0.5,
        "transfer_efficientnet_lite0_top1_rate": 0.25,
        "transfer_efficientnet_lite1_top1_rate": 0.75,
    }
    text = transfer_sentence(metrics, "am")
    assert "Lite0 (for MobileNet) 0.25" in text and "Lite1 (for InceptionV3) 0.75" in text
    assert transfer_sentence({"success_rate": 1.0}, "am") == ""


def test_rescore_counts_a_preimage_equal_to_its_reference_as_consistent():
    import torch

    from vizlab.reproduce.jobs import compose_config
    from vizlab.reproduce.rescore import TOP5, add_top5_consistency

    cfg = compose_config(["model=tiny_cnn", "data.size=32"])
    refs = torch.rand(3, 3, 32, 32)
    same = Job([], {}, {"reference": refs, "preimage": refs.repeat_interleave(2, 0)}, 0.0)
    same.config = cfg
    noise = Job([], {}, {"reference": refs, "preimage": torch.rand(6, 3, 32, 32)}, 0.0)
    noise.config = cfg
    add_top5_consistency([same, noise])
    assert same.metrics[TOP5] == 1.0
    assert 0.0 <= noise.metrics[TOP5] <= 1.0
    assert 0.0 < same.metrics["reference_top1_probability"] <= 1.0
    assert same.metrics["reference_top1_margin"] >= 0.0


def test_tile_captions_stay_clear_of_the_next_row_in_wide_figures():
    import numpy as np

    from vizlab.reproduce.figures import tile_figure

    rows, cols = ["chelsea", "coffee, blocks.4"], [f"column {j}" for j in range(7)]
    tiles = {(r, c): np.full((16, 16, 3), 0.5) for r in rows for c in cols}
    captions = {(r, c): "not reached" for r in rows for c in cols}
    fig = tile_figure(rows, cols, tiles, "title", captions)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    upper, lower = fig.axes[0], fig.axes[len(cols)]
    caption = upper.xaxis.label.get_window_extent(renderer)
    assert caption.y0 > lower.get_window_extent(renderer).y1
    assert lower.get_ylabel() == "coffee\nblocks.4"


def test_fig18_has_a_column_per_start_when_only_the_config_names_them():
    import torch

    from vizlab.reproduce.jobs import compose_config

    job = Job([], {"layer": "blocks.5"}, {"visualization": torch.rand(16, 3, 8, 8)}, 0.0)
    job.config = compose_config(["experiment=mv_fig18_am_inits"])
    fig = BY_NAME["mv_fig18_am_inits"].layout([job], "mv").figures["tiles"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["start 1", "start 2", "start 3", "start 4"]


def test_hand_written_notes_survive_regeneration(tmp_path: Path):
    (tmp_path / "notes").mkdir()
    note = "**Protocol.** Written by hand: 160 px instead of 224."
    (tmp_path / "notes" / "mv_fig3_tv_beta.md").write_text(note + "\n")
    for _ in range(2):  # a second run rewrites the section and must keep the note once
        assert main(["mv_fig3_tv_beta", "--quick", "--out", str(tmp_path)]) == 0
        part = (tmp_path / "parts" / "mv_fig3_tv_beta.md").read_text()
        assert part.count(note) == 1
        assert part.index("figures/mv_fig3_tv_beta_") < part.index(note)
    assert note in (tmp_path / "mahendran-vedaldi.md").read_text()


def _neuron_job(layer: str) -> Job:
    import torch

    from vizlab.reproduce.jobs import compose_config

    overrides = ["model=tiny_cnn", "data.size=32", f"target.layer={layer}"]
    job = Job(
        [("target.layer", layer)],
        {"activation_relative_to_max": 1.0},
        {"visualization": torch.rand(4, 3, 32, 32)},
        0.0,
    )
    job.config = compose_config(["experiment=mv_fig16_17_activation_max", *overrides])
    return job


def test_figs_16_18_maximize_one_neuron_shown_over_its_receptive_field():
    from vizlab.reproduce.jobs import compose_config
    from vizlab.reproduce.layouts import neuron_window

    for name in ("mv_fig16_17_activation_max", "mv_fig18_am_inits"):
        target = compose_config([f"experiment={name}"]).target
        assert target.kind == "neuron" and target.position is None
    # tiny_cnn's conv_stem is a 3x3 conv of stride 2 (symmetric padding): at 32 px the centre
    # unit (7, 7) sees pixels 13..15 of each axis
    stem = neuron_window(_neuron_job("conv_stem"))
    assert stem is not None and (stem.box, stem.size) == ((13, 13, 16, 16), 3)
    deep = neuron_window(_neuron_job("blocks.4"))  # a 67 px field: the whole 32 px image
    assert deep is not None and deep.box == (0, 0, 32, 32) and deep.label.endswith("whole image")
    fig = BY_NAME["mv_fig16_17_activation_max"].layout([_neuron_job("conv_stem")], "mv")
    ax = fig.figures["tiles"].axes[0]
    assert ax.images[0].get_array().shape[:2] == (3, 3)
    assert ax.get_ylabel() == "conv_stem\n3 px field"


def test_field_label_marks_a_size_that_is_only_a_lower_bound():
    from vizlab.reproduce.layouts import FieldWindow

    # the tiny model's blocks.4 field (67 px) fits a probe image: an exact size
    deep = neuron_window_of("blocks.4")
    assert deep is not None and not deep.at_least and deep.label.startswith("67 px field")
    # a field that outgrew the largest probe (e.g. Lite2's deep layers at 260 px) is a bound
    bound = FieldWindow((0, 0, 260, 260), 520, (260, 260), at_least=True)
    assert bound.label == "≥ 520 px field, whole image"
    assert FieldWindow((0, 0, 260, 260), 520, (260, 260)).label == "520 px field, whole image"


def neuron_window_of(layer: str):
    from vizlab.reproduce.layouts import neuron_window

    return neuron_window(_neuron_job(layer))
