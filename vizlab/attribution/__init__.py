"""Attribution methods (captum-like: one class per method with one verb, ``attribute``) and
class activation maps (pytorch-grad-cam-like: variants of one hook-owning base class).

Every class works on plain torch modules / forward functions and model-space inputs; the
``vizlab.methods`` plugins (saliency, occlusion, grabcut, cam, gradcam, guided_gradcam) wire
them to a run's model, photo and target.
"""

from vizlab.attribution.base import Attribution, GradientAttribution, select_target
from vizlab.attribution.cam import CAM, BaseCAM, GradCAM, GuidedGradCAM
from vizlab.attribution.gradient import Gradient, channel_max_abs
from vizlab.attribution.guided import GuidedBackprop, guided_activations
from vizlab.attribution.integrated_gradients import IntegratedGradients
from vizlab.attribution.layers import default_cam_layer, final_feature_layer, tokens_to_grid
from vizlab.attribution.occlusion import Occlusion
from vizlab.attribution.smoothgrad import SmoothGrad

__all__ = [
    "CAM",
    "Attribution",
    "BaseCAM",
    "GradCAM",
    "Gradient",
    "GradientAttribution",
    "GuidedBackprop",
    "GuidedGradCAM",
    "IntegratedGradients",
    "Occlusion",
    "SmoothGrad",
    "channel_max_abs",
    "default_cam_layer",
    "final_feature_layer",
    "guided_activations",
    "select_target",
    "tokens_to_grid",
]
