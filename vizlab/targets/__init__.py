"""What a visualization optimizes: objectives on the activations of named layers."""

from vizlab.targets.build import TargetSpec, build_target
from vizlab.targets.objectives import (
    ChannelObjective,
    DirectionObjective,
    Diversity,
    LayerEnergy,
    LogitObjective,
    NeuronObjective,
    Objective,
    TokenDimObjective,
)
from vizlab.targets.tokens import TokenLayout, select_tokens

__all__ = [
    "ChannelObjective",
    "DirectionObjective",
    "Diversity",
    "LayerEnergy",
    "LogitObjective",
    "NeuronObjective",
    "Objective",
    "TargetSpec",
    "TokenDimObjective",
    "TokenLayout",
    "build_target",
    "select_tokens",
]
