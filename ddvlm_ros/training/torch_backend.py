"""TorchBackend: the torch checkpoint behind the InferenceBackend interface (backend=torch).

It lives under training/ because it needs torch and the training model; backends.load_backend imports
it only when backend=torch is asked for, so the node's import graph never reaches torch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ddvlm_ros.backends import InferenceBackend, ModelError
from ddvlm_ros.training.checkpoints import load_checkpoint


class TorchBackend(InferenceBackend):
    """The training-side torch model, for checking exported graphs against their source."""

    name = "torch"

    def __init__(
        self, model_dir: str | os.PathLike, metadata: dict, threads: int = 1, checkpoint: str | None = None
    ) -> None:
        super().__init__(model_dir, metadata)
        torch.set_num_threads(threads)
        ckpt = checkpoint or metadata.get("checkpoint")
        if not ckpt:
            raise ModelError("torch backend needs a checkpoint (argument or metadata 'checkpoint')")
        path = Path(ckpt) if Path(ckpt).is_absolute() else self.model_dir / ckpt
        if not path.is_file():
            raise ModelError(f"checkpoint {path} not found")
        self.model = load_checkpoint(str(path)).eval()

    def _run(self, branch: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        module = getattr(self.model, branch)
        args = [torch.from_numpy(feeds[s["name"]]) for s in self.metadata["inputs"][branch]]
        with torch.inference_mode():
            out = module(*args)
        out = out if isinstance(out, tuple) else (out,)
        return [o.float().numpy() for o in out]
