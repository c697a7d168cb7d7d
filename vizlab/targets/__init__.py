"""What a visualization optimizes: objectives on the activations of named layers."""

from vizlab.targets.build import TargetSpec, build_target
from vizlab.targets.objectives import (
    ChannelObjective,
    LayerEnergy,
    LogitObjective,
    NeuronObjective,
    Objective,
)

__all__ = [
    "ChannelObjective",
    "LayerEnergy",
    "LogitObjective",
    "NeuronObjective",
    "Objective",
    "TargetSpec",
    "build_target",
]
