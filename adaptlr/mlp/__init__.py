"""The MLP: flat parameter layout, compiled forward/backward, bbprop, per-sample
squared gradients, Gauss-Newton-vector products and the compiled training loop.

See docs/architecture.md ("MLP parameter layout", "Training API").
"""
from .layout import n_params, param_offsets
from .network import MLP
from .workspace import Workspace, make_workspace

__all__ = ["MLP", "Workspace", "make_workspace", "n_params", "param_offsets"]

from .train_result import TrainResult  # noqa: E402
from .training import train  # noqa: E402

__all__ += ["TrainResult", "train"]
