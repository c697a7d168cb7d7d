"""Which experiment config reproduces which figure or table of the two papers, and how it is
laid out in the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vizlab.reproduce import layouts as L
from vizlab.reproduce.jobs import Job
from vizlab.reproduce.naming import class_name, vit_layer
from vizlab.reproduce.rescore import add_top5_consistency

PAPERS = {
    "mv": (
        "mahendran-vedaldi.md",
        "Mahendran & Vedaldi, Visualizing deep convolutional neural networks using natural "
        "pre-images (IJCV 2016)",
    ),
    "am": (
        "activation-maximization.md",
        "Activation maximization for CNNs and ViTs (2025): feature visualization and AM "
        "adversarial examples",
    ),
}


@dataclass(frozen=True)
class Reproduction:
    """One figure or table: its experiment config, title, layout and quick-mode extras."""

    name: str
    paper: str
    title: str
    layout: L.Layout
    quick: tuple[str, ...] = ()
    cache_as: str | None = None  # the same runs as another experiment: share its cache
    prepare: Callable[[list[Job]], None] | None = None  # extra metrics from the cached jobs


CATALOG: tuple[Reproduction, ...] = (
    Reproduction("mv_fig3_tv_beta", "mv", "Fig. 3 (right): the TV^β exponent", L.fig3_tv_beta),
    Reproduction(
        "mv_fig6",
        "mv",
        "Fig. 6: quality of CNN inversions (three panels)",
        L.fig6_inversion_quality,
        prepare=add_top5_consistency,
    ),
    Reproduction(
        "mv_fig7_naturalness",
        "mv",
        "Fig. 7: naturalness (gradient statistics) of pre-images",
        L.fig7_naturalness,
        cache_as="mv_fig6",
    ),
    Reproduction("mv_table2", "mv", "Table 2: inverting HOG, HOGb and DSIFT", L.table2_descriptors),
    Reproduction(
        "mv_fig9_11_layers", "mv", "Figs. 9-11: inversions from every layer", L.layers_by_model
    ),
    Reproduction(
        "mv_fig12_inits", "mv", "Fig. 12: several pre-images from random starts", L.starts_by_photo
    ),
    Reproduction(
        "mv_fig13_center_patch",
        "mv",
        "Fig. 13: inversion of a central 5 × 5 window",
        L.one_row_by_axis("target.layer", str, "Fig. 13: central 5 × 5 window of each layer"),
        quick=("target.mask_window=1",),
    ),
    Reproduction(
        "mv_fig14_channel_subsets",
        "mv",
        "Fig. 14: inversion from two channel subsets",
        L.one_row_by_axis(
            "target.mask_channels", lambda v: f"channels {v}", "Fig. 14: two channel subsets"
        ),
        quick=('target.mask_channels="0:2","2:4"',),
    ),
    Reproduction(
        "mv_fig16_17_activation_max",
        "mv",
        "Figs. 16-17: activation maximization across depths",
        L.units_grid(
            ("target.layer",),
            "first filters of each layer",
            lambda u: f"filter {u}",
            split={
                "efficientnet_lite1": "Fig. 16, Lite1 (for VGG-M)",
                "efficientnet_lite2": "Fig. 17, Lite2 (for VGG-VD-16)",
            },
        ),
    ),
    Reproduction(
        "mv_fig18_am_inits",
        "mv",
        "Fig. 18: activation maximization from four starts",
        L.units_by_start,
    ),
    Reproduction(
        "mv_fig19_class_am",
        "mv",
        "Fig. 19: activation maximization of class scores",
        L.units_grid(("model",), "Fig. 19: class scores before the softmax", class_name),
    ),
    Reproduction(
        "mv_fig20_21_caricature", "mv", "Figs. 20-21: caricatures across depths", L.caricatures
    ),
    Reproduction(
        "am_fig5_class_neurons",
        "am",
        "Figs. 5 / 8: pre-softmax class neurons (three classes and three random controls)",
        L.units_grid(("model",), "Fig. 5: class neurons before the softmax", class_name),
    ),
    Reproduction(
        "am_fig6_channels",
        "am",
        "Figs. 6 / 10: channels of intermediate layers by depth",
        L.units_grid(
            ("target.layer",), "Fig. 6: intermediate channels by depth", lambda u: f"channel {u}"
        ),
    ),
    Reproduction(
        "am_fig7_vit_dims",
        "am",
        "Fig. 7: hidden dimensions of ViT layers 1-5",
        L.units_grid(
            ("target.layer",),
            "Fig. 7: ViT hidden dimensions by layer",
            lambda u: f"dim {u}",
            vit_layer,
        ),
    ),
    Reproduction(
        "am_fig9_table2_adversarial",
        "am",
        "Fig. 9 and Table 2: AM adversarial examples",
        L.am_adversarial,
    ),
)

BY_NAME = {r.name: r for r in CATALOG}
ALIASES = {"table2_hog_dsift": "mv_table2", "fig6_inversion_layers": "mv_fig6"}
