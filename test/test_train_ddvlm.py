"""Dual-distillation training: visual student + KD on generated faces, and the ddvlm-train loop on MELD."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from test_node_harness import MELD

from ddvlm_ros.labels import LABELS
from ddvlm_ros.preprocessing import TextTokenizer
from ddvlm_ros.training.checkpoints import (
    average_checkpoints,
    load_checkpoint,
    rebase_checkpoint,
    round_trip,
    save_checkpoint,
)
from ddvlm_ros.training.config import load_config
from ddvlm_ros.training.data import Utterance
from ddvlm_ros.training.model import DDVLM
from ddvlm_ros.training.optim import autocast_dtype, lr_factor
from ddvlm_ros.training.splits import build_split, pad_batch
from ddvlm_ros.training.train import Trainer, main, model_config, train

WORDS = {
    0: "okay so what",
    1: "this is wonderful I love it",
    2: "what really no way",
    3: "I hate you get out",
    4: "I miss her so much",
    5: "ew that is gross",
    6: "I am so scared help",
}


def tiny_config(**loss: float) -> dict:
    cfg = load_config(
        None,
        [
            "threads=1",
            "model.trainable_layers=1",
            "data.max_length=32",
            "data.max_frames=2",
            "data.context_turns=1",
            "optim.batch_size=8",
            "optim.epochs=1",
        ],
    )
    cfg["loss"].update(loss)
    return cfg


def generated_faces(root: Path, utts: list[Utterance], frames: int) -> None:
    """Class-dependent synthetic 'faces': a bright square whose position encodes the label, plus noise."""
    rng = np.random.default_rng(0)
    for u in utts:
        img = rng.uniform(0.0, 0.2, size=(frames, 64, 64)).astype(np.float16)
        r, c = divmod(u.label, 3)
        img[:, 6 + 18 * r : 22 + 18 * r, 6 + 18 * c : 22 + 18 * c] = 0.9
        (root / u.split).mkdir(parents=True, exist_ok=True)
        np.save(root / u.split / f"{u.key}.npy", img)


@pytest.mark.slow
def test_visual_student_learns_and_moves_toward_text_teacher(tmp_path: Path) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = tiny_config(kd_weight=1.0, visual_ce_weight=1.0, ema_weight=1.0)
    cfg["optim"]["visual_lr"] = 1e-2
    utts = [
        Utterance("train", i, 0, "Joey", WORDS[i % 7], LABELS[i % 7], i % 7, None, None) for i in range(42)
    ]
    generated_faces(tmp_path / "faces", utts, 2)
    model = DDVLM.pretrained(model_config(cfg))
    split = build_split(
        model, TextTokenizer(max_length=32), utts, cfg, None, tmp_path / "faces", progress=False
    )
    assert split.faces is not None and split.face_mask.sum() == 2 * 42
    everything = pad_batch(split, list(range(42)))

    def logits() -> tuple[torch.Tensor, torch.Tensor]:
        """(text teacher logits, visual student logits) on all samples, eval mode."""
        model.eval()
        with torch.no_grad():
            feats, tl = model.text.upper(everything["hidden"], everything["mask"])
            ff = model.face(everything["faces"].reshape(42 * 2, 1, 64, 64)).reshape(42, 2, -1)
            _, vl = model.fusion(feats, torch.ones(42), ff, everything["face_mask"])
        return tl, vl

    def gap(teacher: torch.Tensor, student: torch.Tensor) -> float:
        return float(
            F.kl_div(F.log_softmax(student / 2, -1), F.softmax(teacher / 2, -1), reduction="batchmean")
        )

    def run(trainer: Trainer, epochs: int, faces: bool = True) -> list[dict[str, float]]:
        rng = random.Random(0)
        out = []
        for _ in range(epochs):
            idx = list(range(42))
            rng.shuffle(idx)
            for s in range(0, 42, 14):
                batch = pad_batch(split, idx[s : s + 14])
                if not faces:
                    batch = {k: v for k, v in batch.items() if k not in ("faces", "face_mask")}
                out.append(trainer.step(batch))
        return out

    # Phase 1: the text teacher alone becomes confident (text batches: no visual terms).
    teacher_cfg = tiny_config(ema_weight=1.0)
    teacher_cfg["optim"]["head_lr"] = 1e-2
    assert (
        "visual_ce" not in run(Trainer(teacher_cfg, model, steps_total=30, class_weight=None), 10, False)[0]
    )
    _, student_before = logits()
    # Phase 2: dual distillation, all terms on; the visual student must approach the teacher.
    cfg["optim"]["head_lr"] = 1e-2
    losses = run(Trainer(cfg, model, steps_total=21, class_weight=None), 7)
    teacher, student_after = logits()
    before, after = gap(teacher, student_before), gap(teacher, student_after)
    assert {"text_ce", "ema", "visual_ce", "kd", "fusion_ce"} <= losses[0].keys()
    for term in ("total", "visual_ce"):
        first = np.mean([x[term] for x in losses[:3]])
        last = np.mean([x[term] for x in losses[-3:]])
        assert last < 0.8 * first, (term, first, last)
    assert before > 0.1 and after < 0.5 * before, (before, after)


@pytest.mark.slow
@pytest.mark.skipif(not (MELD / "train_sent_emo.csv").is_file(), reason="MELD CSVs not present")
def test_ddvlm_train_on_meld_subset_checkpoints_and_resumes(tmp_path: Path) -> None:
    cfg = tiny_config()
    out = tmp_path / "run"
    logs: list[str] = []
    s1 = train(cfg, MELD, out, limit=40, progress=False, log=logs.append)
    assert (out / "checkpoint" / "checkpoint.pt").is_file() and (out / "last_state.pt").is_file()
    assert len(s1["history"]) == 1 and 0.0 <= s1["best"]["dev_weighted_f1"] <= 1.0
    assert (out / "checkpoint" / "checkpoint.pt").stat().st_size < 10 * 1024 * 1024
    cfg["optim"]["epochs"] = 2
    s2 = train(cfg, MELD, out, resume=True, limit=40, progress=False, log=logs.append)
    assert any("resumed" in line for line in logs)
    earlier = yaml.safe_load((out / "train_config.epochs-1-1.yaml").read_text())  # what epoch 1 ran under
    assert earlier["optim"]["epochs"] == 1
    assert yaml.safe_load((out / "train_config.yaml").read_text())["optim"]["epochs"] == 2
    assert [h["epoch"] for h in s2["history"]] == [1, 2]
    lines = (out / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    assert "dev_weighted_f1_student" in json.loads(lines[-1])
    model = load_checkpoint(out / "checkpoint")
    assert model.config.trainable_layers == 1 and model.config.context_turns == 1


@pytest.mark.slow
@pytest.mark.skipif(not (MELD / "train_sent_emo.csv").is_file(), reason="MELD CSVs not present")
def test_cli_ablation_without_ema_and_bad_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "--data",
        str(MELD),
        "--out",
        str(tmp_path / "r"),
        "--limit",
        "24",
        "--no-progress",
        "--set",
        "threads=1",
        "--set",
        "model.trainable_layers=1",
        "--set",
        "optim.epochs=1",
        "--set",
        "data.max_length=32",
        "--set",
        "loss.ema_weight=0",
        "--set",
        "eval.select=student",
    ]
    assert main(args) == 0
    record = json.loads((tmp_path / "r" / "train_log.jsonl").read_text().splitlines()[0])
    assert "ema" not in record["train_loss"] and "dev_weighted_f1_ema" not in record
    with pytest.raises(KeyError):
        main(["--data", str(MELD), "--out", str(tmp_path / "x"), "--set", "loss.nope=1"])


def random_batch(n: int = 8, length: int = 10, seed: int = 0) -> dict[str, torch.Tensor]:
    """Cached-lower-layer-shaped inputs for Trainer.step (no faces)."""
    g = torch.Generator().manual_seed(seed)
    return {
        "hidden": torch.randn(n, length, 384, generator=g),
        "mask": torch.ones(n, length, dtype=torch.long),
        "labels": torch.randint(0, 7, (n,), generator=g),
    }


def text_params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def test_ema_update_averages_the_trainable_weights_toward_the_student() -> None:
    torch.manual_seed(0)
    cfg = tiny_config(ema_decay=0.9)
    model = DDVLM(model_config(cfg))
    trainer = Trainer(cfg, model, steps_total=10, class_weight=None)
    trainable = set(model.text.trainable_names())
    ema_before = text_params(trainer.ema)
    trainer.step(random_batch())
    student, ema_after = text_params(model.text), text_params(trainer.ema)
    moved = 0
    for n, before in ema_before.items():
        if n in trainable:
            assert torch.allclose(ema_after[n], 0.9 * before + 0.1 * student[n], atol=1e-6), n
            moved += int(not torch.equal(ema_after[n], before))
        else:
            assert torch.equal(ema_after[n], before), n  # frozen weights are not averaged
    assert moved >= len(trainable) // 2  # a no-op EMA update fails here


def test_ema_warm_up_starts_the_teacher_from_the_warmed_up_student() -> None:
    torch.manual_seed(0)
    cfg = tiny_config(ema_decay=0.5, ema_weight=1.0)
    model = DDVLM(model_config(cfg))
    trainer = Trainer(cfg, model, steps_total=10, class_weight=None, ema_start_step=3)
    initial = text_params(trainer.ema)
    for i in range(2):
        losses = trainer.step(random_batch(seed=i))
        assert "ema" not in losses and not trainer.ema_active  # no teaching from a random head
        assert all(torch.equal(initial[n], p) for n, p in text_params(trainer.ema).items())
    trainer.step(random_batch(seed=2))
    assert trainer.ema_active
    student = text_params(model.text)
    assert all(torch.equal(student[n], p) for n, p in text_params(trainer.ema).items())  # reset to student
    losses = trainer.step(random_batch(seed=3))
    assert "ema" in losses
    head = "head.weight"
    ema, now = text_params(trainer.ema)[head], text_params(model.text)[head]
    assert torch.allclose(ema, 0.5 * student[head] + 0.5 * now, atol=1e-6)


def test_bf16_autocast_runs_the_step_in_bf16_and_keeps_fp32_weights() -> None:
    losses = {}
    for name in (None, "bfloat16"):
        torch.manual_seed(0)
        cfg = tiny_config()
        cfg["optim"]["autocast"] = name
        model = DDVLM(model_config(cfg))
        trainer = Trainer(cfg, model, steps_total=10, class_weight=None)
        torch.manual_seed(1)  # same dropout masks in both runs
        losses[name] = trainer.step(random_batch())["text_ce"]
        assert all(p.dtype == torch.float32 for p in model.parameters())
    assert losses["bfloat16"] != losses[None]  # bf16 rounding shows: autocast was on
    assert losses["bfloat16"] == pytest.approx(losses[None], rel=0.02)
    with pytest.raises(ValueError, match="autocast"):
        autocast_dtype("float8")


def test_lr_schedule_warms_up_and_keeps_a_cosine_floor() -> None:
    assert lr_factor(0, 10, 100, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_factor(10, 10, 100, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100, "cosine", 0.1) == pytest.approx(0.55)
    assert lr_factor(100, 10, 100, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(100, 10, 100, "linear", 0.1) == pytest.approx(0.0)
    assert lr_factor(55, 10, 100, "linear", 0.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="schedule"):
        lr_factor(50, 10, 100, "step", 0.0)


def test_weight_average_of_checkpoints_and_hf_named_checkpoints_load(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = tiny_config()
    a = DDVLM.pretrained(model_config(cfg))
    b = DDVLM.pretrained(model_config(cfg))
    key = "text.layers.5.attn.query.weight"
    with torch.no_grad():
        a.state_dict()[key].fill_(0.25)
        b.state_dict()[key].fill_(0.75)
    round_trip(a)  # what the fp16 checkpoint holds
    paths = [save_checkpoint(m, tmp_path / f"{i}.pt") for i, m in enumerate((a, b))]
    avg = average_checkpoints(paths)
    assert torch.equal(avg.state_dict()[key], torch.full_like(avg.state_dict()[key], 0.5))
    # checkpoints written before the text modules were renamed hold HF BERT names
    payload = torch.load(paths[0], weights_only=True)
    hf = {
        "text.layers.5.attn.query.": "text.encoder.layer.5.attention.self.query.",
        "text.layers.5.attn.out.": "text.encoder.layer.5.attention.output.dense.",
        "text.layers.5.attn.norm.": "text.encoder.layer.5.attention.output.LayerNorm.",
        "text.layers.5.ffn.up.": "text.encoder.layer.5.intermediate.dense.",
        "text.layers.5.ffn.down.": "text.encoder.layer.5.output.dense.",
        "text.layers.5.ffn.norm.": "text.encoder.layer.5.output.LayerNorm.",
    }

    def to_hf(name: str) -> str:
        for new, old in hf.items():
            name = name.replace(new, old)
        return name

    payload["tensors"] = {to_hf(k): v for k, v in payload["tensors"].items()}
    assert "text.encoder.layer.5.output.LayerNorm.weight" in payload["tensors"]
    torch.save(payload, tmp_path / "v1.pt")
    old = load_checkpoint(tmp_path / "v1.pt")
    assert all(torch.equal(t, old.state_dict()[k]) for k, t in a.state_dict().items())


def test_rebase_keeps_the_text_weights_of_a_run_saved_with_older_face_fusion_code(tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = DDVLM.pretrained(model_config(tiny_config()))
    with torch.no_grad():
        m.text.head.weight.normal_()
    round_trip(m)
    path = save_checkpoint(m, tmp_path / "run" / "checkpoint.pt", extra={"dev_modality": "text"})
    payload = torch.load(path, weights_only=True)
    payload["tensors"] = {k: v for k, v in payload["tensors"].items() if k.startswith("text.")}
    payload["tensors"]["fusion.modality_weight"] = torch.zeros(2)  # a parameter of an older fusion
    torch.save(payload, path)
    with pytest.raises(ValueError, match="mismatch"):
        load_checkpoint(path)
    again = load_checkpoint(rebase_checkpoint(path, tmp_path / "new" / "checkpoint.pt"))
    assert torch.equal(again.text.head.weight, m.text.head.weight)
    payload["extra"]["dev_modality"] = "both"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="faces"):
        rebase_checkpoint(path, tmp_path / "x.pt")


def _write_face_clips(root: Path, utts: list[Utterance], frames: int = 4) -> None:
    """MELD.Raw-like mp4 clips of a real face (grace_hopper.jpg) with a label-dependent mark on it."""
    import cv2
    import matplotlib

    from ddvlm_ros.training.data import VIDEO_DIRS

    face = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    face = cv2.resize(face, (256, 300), interpolation=cv2.INTER_AREA)
    for u in utts:
        path = root / VIDEO_DIRS[u.split] / f"{u.key}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (256, 300))
        assert w.isOpened()
        for i in range(frames):
            img = face.copy()
            # the mark: a bar across the lower face whose height encodes the label
            y = 150 + 8 * u.label
            cv2.rectangle(img, (95, y), (165, y + 6), (255, 255, 255) if u.label % 2 else (0, 0, 0), -1)
            w.write(cv2.GaussianBlur(img, (3, 3), 0.5 + 0.1 * i))
        w.release()


@pytest.mark.slow
def test_ddvlm_train_on_generated_clips_trains_visual_ce_kd_and_fusion_end_to_end(tmp_path: Path) -> None:
    """MELD.Raw present: faces detected in clips, visual CE + KD (eval-mode teacher) + fusion all train."""
    from ddvlm_ros.training.data import load_faces

    torch.manual_seed(0)
    cfg = tiny_config()
    cfg["optim"].update(epochs=4, head_lr=1e-2, visual_lr=3e-3)
    cfg["eval"]["average_top_k"] = 0
    cfg["data"]["video_root"] = str(tmp_path / "MELD.Raw")
    utts = {
        s: [Utterance(s, i, 0, "Joey", WORDS[i % 7], LABELS[i % 7], i % 7, None, None) for i in range(n)]
        for s, n in (("train", 28), ("dev", 7))
    }
    _write_face_clips(tmp_path / "MELD.Raw", utts["train"] + utts["dev"])
    logs: list[str] = []
    summary = train(cfg, MELD, tmp_path / "run", progress=False, splits=utts, log=logs.append)
    assert any("'no_face': 0" in line and "'computed': 28" in line for line in logs), logs
    history = summary["history"]
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    assert {"visual_ce", "kd", "fusion_ce"} <= first.keys()
    assert last["visual_ce"] < 0.8 * first["visual_ce"] and last["kd"] < first["kd"], (first, last)

    # the visual student moved toward the text teacher: KL(teacher || student) on the cached faces
    trained = load_checkpoint(tmp_path / "run" / "checkpoint")
    untrained = DDVLM.pretrained(trained.config).eval()
    loaded = [load_faces(tmp_path / "run" / "faces", u, 2) for u in utts["train"]]
    faces = torch.from_numpy(np.stack([f for f, _ in loaded]))
    mask = torch.from_numpy(np.stack([m for _, m in loaded]))
    tok = TextTokenizer(max_length=32)
    ids, am = tok.encode([f"Joey: {WORDS[i % 7]}" for i in range(28)])
    with torch.no_grad():
        feats, teacher = trained.text(torch.from_numpy(ids), torch.from_numpy(am))

        def student(m: DDVLM) -> torch.Tensor:
            ff = m.face(faces.reshape(-1, 1, 64, 64)).reshape(28, 2, -1)
            return m.fusion(feats, torch.ones(28), ff, mask)[1]

        gap = [
            float(F.kl_div(F.log_softmax(student(m), -1), F.softmax(teacher, -1), reduction="batchmean"))
            for m in (untrained, trained)
        ]
    assert gap[1] < 0.5 * gap[0], gap
    stored = torch.load(tmp_path / "run" / "checkpoint" / "checkpoint.pt", weights_only=True)["tensors"]
    assert any(k.startswith("face.") for k in stored)  # the trained face is part of the checkpoint


def test_seed_soup_averages_runs_of_one_recipe_and_refuses_mixed_recipes(tmp_path: Path) -> None:
    from ddvlm_ros.training.soup import make_soup

    cfg = tiny_config()
    key = "text.layers.5.attn.query.weight"
    runs = []
    for i, value in enumerate((0.25, 0.75)):
        model = DDVLM.pretrained(model_config(cfg))
        with torch.no_grad():
            model.state_dict()[key].fill_(value)
        run = tmp_path / f"seed{i}"
        save_checkpoint(model, run / "checkpoint" / "checkpoint.pt", extra={"dev_modality": "both"})
        (run / "train_config.yaml").write_text(yaml.safe_dump(cfg | {"seed": i}))
        runs.append(run)
    path = make_soup(runs, tmp_path / "soup")
    soup = load_checkpoint(path)
    assert torch.equal(soup.state_dict()[key], torch.full_like(soup.state_dict()[key], 0.5))
    # trained with faces, so the soup says so (rebase_checkpoint must not replace its face weights)
    assert torch.load(path, weights_only=True)["extra"]["dev_modality"] == "both"
    other = cfg | {"seed": 2, "optim": cfg["optim"] | {"lr": 1.0}}
    (runs[1] / "train_config.yaml").write_text(yaml.safe_dump(other))
    with pytest.raises(ValueError, match="another recipe"):
        make_soup(runs, tmp_path / "soup2")


def test_student_distils_a_larger_teachers_logits_when_given() -> None:
    """The teacher_kd term is KL(teacher || student) * T^2 and pulls the student toward the teacher."""
    fear = LABELS.index("fear")
    batch = random_batch(n=16, seed=5)
    teacher = torch.full((16, len(LABELS)), -4.0)
    teacher[:, fear] = 4.0
    fear_prob = {}
    for with_teacher in (False, True):
        torch.manual_seed(0)
        cfg = tiny_config(teacher_weight=3.0, teacher_temperature=2.0, ema_weight=0.0)
        model = DDVLM(model_config(cfg))
        trainer = Trainer(cfg, model, steps_total=20, class_weight=None)
        b = dict(batch, teacher=teacher) if with_teacher else batch
        for _ in range(15):
            losses = trainer.step(b)
        assert ("teacher_kd" in losses) is with_teacher
        model.eval()
        with torch.no_grad():
            _, logits = model.text.upper(batch["hidden"], batch["mask"])
            fear_prob[with_teacher] = float(F.softmax(logits, -1)[:, fear].mean())
        if with_teacher:
            with torch.no_grad():  # eval mode: no dropout, so the term must match the formula exactly
                parts = trainer.losses(b)
                student = model.text.upper(b["hidden"], b["mask"])[1]
            expected = (
                3.0
                * 4.0
                * F.kl_div(
                    F.log_softmax(student / 2.0, -1), F.softmax(teacher / 2.0, -1), reduction="batchmean"
                )
            )
            assert float(parts["teacher_kd"]) == pytest.approx(float(expected), rel=1e-4)
    assert fear_prob[True] > fear_prob[False] + 0.2  # a teacher term that does nothing fails here


@pytest.mark.skipif(not (MELD / "train_sent_emo.csv").is_file(), reason="MELD CSVs not present")
def test_ddvlm_train_reads_teacher_logits_by_clip_and_records_them(tmp_path: Path) -> None:
    from ddvlm_ros.training.data import read_split
    from ddvlm_ros.training.teacher_logits import teacher_payload

    train_utts = read_split(MELD, "train")[:40]
    keys = {"train": [u.key for u in reversed(train_utts)]}  # stored order differs from the split's
    logits = {"train": torch.randn(40, len(LABELS))}
    path = tmp_path / "logits.pt"
    torch.save(teacher_payload("tiny", 0, keys, logits, {"train": 0.0}, {}), path)
    cfg = tiny_config(teacher_weight=1.0, teacher_temperature=2.0)
    cfg["data"]["teacher_logits"] = str(path)
    logs: list[str] = []
    summary = train(cfg, MELD, tmp_path / "run", limit=40, progress=False, log=logs.append)
    assert summary["teacher_logits_sha256"] and any("teacher logits" in line for line in logs)
    record = json.loads((tmp_path / "run" / "train_log.jsonl").read_text().splitlines()[0])
    assert record["train_loss"]["teacher_kd"] > 0
    short = {"train": keys["train"][:30]}
    torch.save(teacher_payload("tiny", 0, short, {"train": logits["train"][:30]}, {}, {}), path)
    with pytest.raises(KeyError, match="no teacher logits for 10 train utterances"):
        train(cfg, MELD, tmp_path / "run2", limit=40, progress=False, log=logs.append)
