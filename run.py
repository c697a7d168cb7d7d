"""Entry point: ``python run.py [overrides]`` or ``python run.py -m <sweep overrides>``
(``vizlab run ...`` does the same from any folder)."""

import hydra
from omegaconf import DictConfig

from vizlab import command_process
from vizlab.runner import main_with_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    main_with_errors(cfg)


if __name__ == "__main__":
    with command_process.prepared():
        main()
