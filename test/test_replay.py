"""ddvlm-bag: MELD → rosbag2 in both storages, replay through emotion_node (in-process and over DDS),
scoring equal to ddvlm-eval, and bags without labels as another tool would record them."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
from pathlib import Path

import cv2
import pytest
import yaml
from sensor_msgs.msg import CompressedImage
from test_node_harness import (
    LIGHT_ENV,
    MELD,
    ROOT,
    image_msg,
    model_dir,
    synthetic_face_frame,
    transcript_msg,
)

from ddvlm_msgs.msg import Transcript
from ddvlm_ros.labels import LABELS
from ddvlm_ros.meld import read_split
from ddvlm_ros.replay.bagfile import BagError, BagReader, BagWriter
from ddvlm_ros.replay.cli import main as ddvlm_bag
from ddvlm_ros.replay.meld_to_bag import GROUND_TRUTH_TOPIC, IMAGE_TOPIC, TRANSCRIPT_TOPIC, lay_out
from ddvlm_ros.training.evaluate import evaluate

STORAGES = ["mcap", "sqlite3"]
DIALOGUES = 4  # test dialogues 0..3: 30 utterances


def from_meld(out: Path, storage: str, *extra: str, dialogues: int = DIALOGUES) -> None:
    args = ["from-meld", "--data", str(MELD), "--split", "test", "--out", str(out), "--storage", storage]
    assert ddvlm_bag([*args, "--dialogues", str(dialogues), *extra]) == 0


def node_params_file(tmp_path: Path, **overrides: object) -> Path:
    """config/emotion.yaml with some values changed, as a user's own parameter file."""
    config = yaml.safe_load((ROOT / "config" / "emotion.yaml").read_text())
    config["/**"]["ros__parameters"].update(overrides)
    path = tmp_path / "emotion.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def eval_bag(bag: Path, report: Path, *extra: str) -> dict:
    code = ddvlm_bag(["eval", str(bag), "--json", str(report), "--model-dir", str(model_dir()), *extra])
    assert code == 0
    return json.loads(report.read_text())


@pytest.mark.parametrize("storage", STORAGES)
def test_from_meld_writes_transcripts_and_labels_on_one_timeline(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "bag"
    from_meld(bag, storage)
    utterances = [u for u in read_split(MELD, "test") if u.dialogue_id < DIALOGUES]
    with BagReader(bag) as reader:
        assert {t.name: t.count for t in reader.topics} == {
            TRANSCRIPT_TOPIC: len(utterances),
            GROUND_TRUTH_TOPIC: len(utterances),
        }
        transcripts = [m for m in reader.messages([TRANSCRIPT_TOPIC])]
        truth = [m.msg for m in reader.messages([GROUND_TRUTH_TOPIC])]
    assert (bag / "metadata.yaml").read_text().count(storage) >= 1
    ends = [m.stamp_ns for m in transcripts]
    assert ends == sorted(ends) and len(set(ends)) == len(ends)
    for m, u, gt in zip(transcripts, utterances, truth, strict=True):
        t: Transcript = m.msg
        start = t.start_stamp.sec * 10**9 + t.start_stamp.nanosec
        end = t.header.stamp.sec * 10**9 + t.header.stamp.nanosec
        assert end == m.stamp_ns and 0 < start < end
        assert (t.conversation_id, t.utterance_id, t.speaker, t.text) == (
            f"meld/test/dia{u.dialogue_id}",
            u.key,
            u.speaker,
            u.text,
        )
        assert t.is_final and math.isnan(t.confidence)
        assert (gt.utterance_id, gt.emotion, gt.labels) == (u.key, u.emotion, list(LABELS))
        assert gt.probabilities[LABELS.index(u.emotion)] == 1.0 and sum(gt.probabilities) == 1.0


def test_timeline_keeps_meld_durations_and_repairs_bad_times() -> None:
    utterances = read_split(MELD, "test")
    timeline = lay_out(utterances)
    assert [t.utterance for t in timeline] == utterances  # order never changes
    for a, b in zip(timeline, timeline[1:], strict=False):
        assert b.start_s >= a.end_s  # no overlap, even where MELD's episode times overlap
    u = timeline[0].utterance
    assert timeline[0].end_s - timeline[0].start_s == pytest.approx(u.end - u.start, abs=1e-6)
    assert len({t.conversation_id for t in timeline}) == 280


@pytest.mark.parametrize("storage", STORAGES)
def test_offline_replay_scores_exactly_like_ddvlm_eval(tmp_path: Path, storage: str, ros_domain: int) -> None:
    bag = tmp_path / "bag"
    from_meld(bag, storage)
    n = sum(1 for u in read_split(MELD, "test") if u.dialogue_id < DIALOGUES)
    report = eval_bag(bag, tmp_path / "report.json", "--offline")
    reference = evaluate(model_dir(), MELD, "test", limit=n, threads=1)
    for key in ("accuracy", "weighted_f1", "per_class_f1", "confusion_matrix", "labels", "n"):
        assert report[key] == reference[key], key
    assert report["modalities"] == ["text"]
    assert report["unanswered"]["count"] == 0 and report["replay"]["answered"] == n
    assert report["replay"]["contract_violations"] == {"count": 0, "examples": []}
    assert report["latency_ms"]["n"] == n and report["latency_ms"]["p50"] > 0
    assert sum(report["emotion_distribution"].values()) == n
    assert (tmp_path / "report.png").stat().st_size > 1000


def write_clip(path: Path, seconds: float, fps: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 240))
    assert writer.isOpened()
    for i in range(int(seconds * fps)):
        writer.write(synthetic_face_frame(320, 240, seed=i))
    writer.release()


def test_from_meld_with_videos_adds_frames_inside_each_utterance(tmp_path: Path, ros_domain: int) -> None:
    utterances = [u for u in read_split(MELD, "test") if u.dialogue_id == 0]
    videos = tmp_path / "MELD.Raw"
    for u in utterances[:2]:  # the rest have no clip: counted, never an error
        write_clip(videos / "output_repeated_splits_test" / f"{u.key}.mp4", 3.0)
    bag = tmp_path / "bag"
    from_meld(bag, "mcap", "--videos", str(videos), "--fps", "5", dialogues=1)
    with BagReader(bag) as reader:
        frames = list(reader.messages([IMAGE_TOPIC]))
        transcripts = [m.msg for m in reader.messages([TRANSCRIPT_TOPIC])]
    assert frames and all(f.msg.encoding == "bgr8" and f.msg.width == 320 for f in frames)
    windows = [
        (t.start_stamp.sec + t.start_stamp.nanosec * 1e-9, t.header.stamp.sec + t.header.stamp.nanosec * 1e-9)
        for t in transcripts[:2]
    ]
    for f in frames:
        stamp = f.msg.header.stamp.sec + f.msg.header.stamp.nanosec * 1e-9
        assert f.stamp_ns == f.msg.header.stamp.sec * 10**9 + f.msg.header.stamp.nanosec
        assert any(lo - 1e-6 <= stamp <= hi + 1e-6 for lo, hi in windows)
    # frames reach the node: faces are found and the visual branch is used for those utterances
    report = eval_bag(bag, tmp_path / "report.json", "--offline")
    assert report["modalities"] == ["text", "visual"]
    assert report["replay"]["frames_used_mean"] > 0
    assert report["replay"]["contract_violations"]["count"] == 0  # ddvlm_ros.contract on every answer
    assert report["unanswered"]["count"] == 0


def robot_bag(path: Path, storage: str, compressed: bool = False) -> list[Transcript]:
    """What `ros2 bag record /camera/image_raw /asr/transcript` of a robot would hold: no labels, and an
    ASR that leaves utterance_id empty (answers are then matched by conversation and stamp)."""
    base = 1_800_000_000 * 10**9
    texts = ["I love this, thank you so much!", "Why would you do that to me?", "Okay.", "This is terrible."]
    transcripts = []
    with BagWriter(path, storage) as bag:
        t = base
        for i, text in enumerate(texts):
            start = t
            for _ in range(10):  # 5 Hz camera while the person speaks
                frame = synthetic_face_frame(320, 240, seed=i)
                if compressed:
                    bag.write("/camera/image_raw/compressed", t, jpeg_msg(frame, t))
                else:
                    bag.write("/camera/image_raw", t, image_msg(frame, t))
                t += 200_000_000
            msg = transcript_msg("robot-1", "", text, t, start, speaker="visitor")
            bag.write("/asr/transcript", t + 1000, msg)
            transcripts.append(msg)
            t += 3_000_000_000
        partial = transcript_msg("robot-1", "", "This is", t, speaker="visitor", final=False)
        bag.write("/asr/transcript", t, partial)
    return transcripts


def jpeg_msg(frame, stamp_ns: int) -> CompressedImage:
    msg = CompressedImage(format="jpeg", data=cv2.imencode(".jpg", frame)[1].tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return msg


@pytest.mark.parametrize(("storage", "compressed"), [("mcap", False), ("sqlite3", False), ("mcap", True)])
def test_bag_without_labels_reports_distribution_latency_and_timeline(
    tmp_path: Path, storage: str, compressed: bool, ros_domain: int
) -> None:
    bag = tmp_path / "robot"
    transcripts = robot_bag(bag, storage, compressed)
    report = eval_bag(
        bag,
        tmp_path / "report.json",
        "--offline",
        "--timeline-csv",
        str(tmp_path / "timeline.csv"),
        "--timeline-png",
        str(tmp_path / "timeline.png"),
        "--bin-s",
        "5",
    )
    assert report["has_ground_truth"] is False and "weighted_f1" not in report
    assert not (tmp_path / "report.png").exists()
    assert report["replay"]["utterances_played"] == len(transcripts)  # the partial one is not expected
    assert report["unanswered"]["count"] == 0 and report["latency_ms"]["n"] == len(transcripts)
    assert sum(report["emotion_distribution"].values()) == len(transcripts)
    assert sum(sum(b[label] for label in LABELS) for b in report["emotion_over_time"]) == len(transcripts)
    assert len(report["emotion_over_time"]) > 1 and report["replay"]["frames_used_mean"] > 0
    rows = list(csv.DictReader((tmp_path / "timeline.csv").open()))
    assert [r["text"] for r in rows] == [t.text for t in transcripts]
    assert all(r["emotion"] in LABELS and float(r["latency_ms"]) > 0 for r in rows)
    assert (tmp_path / "timeline.png").stat().st_size > 1000


@pytest.mark.parametrize("wait_s", [0.0, 1.0])
def test_offline_replay_holds_answers_for_trailing_frames_like_the_node(
    tmp_path: Path, wait_s: float, ros_domain: int
) -> None:
    """A face seen only just after the transcript's stamp (inside window_pad_s) counts only when the node
    waits for trailing frames (trailing_frames_wait_s), offline as over DDS."""
    end = 1_800_000_000 * 10**9
    bag = tmp_path / "robot"
    with BagWriter(bag, "mcap") as writer:
        for i in range(-5, 10):  # 10 Hz; a face only from the transcript's stamp on
            t = end + i * 100_000_000 + 1
            writer.write("/image", t, image_msg(synthetic_face_frame(320, 240, face=i >= 0, seed=1), t))
            if i == -1:
                writer.write("/transcript", end, transcript_msg("robot", "u1", "Hey!", end, end - 10**8))
    params = node_params_file(tmp_path, trailing_frames_wait_s=wait_s, face_detection_rate_hz=10.0)
    report = eval_bag(bag, tmp_path / "report.json", "--offline", "--params-file", str(params))
    assert report["replay"]["answered"] == 1 and report["unanswered"]["count"] == 0
    assert (report["replay"]["frames_used_mean"] > 0) == (wait_s > 0)


def test_clear_errors_for_bad_bags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ddvlm_bag(["eval", str(tmp_path / "missing"), "--offline"]) == 1
    assert "not a rosbag2 directory" in capsys.readouterr().err
    images_only = tmp_path / "images_only"
    with BagWriter(images_only, "mcap") as bag:
        bag.write("/image", 1, image_msg(synthetic_face_frame(64, 48, face=False), 1))
    assert ddvlm_bag(["eval", str(images_only), "--offline"]) == 1
    assert "no ddvlm_msgs/msg/Transcript topic" in capsys.readouterr().err
    robot_bag(tmp_path / "robot", "sqlite3")
    assert ddvlm_bag(["eval", str(tmp_path / "robot"), "--offline", "--image-topic", "/nope"]) == 1
    assert "image topic /nope is not in the bag" in capsys.readouterr().err
    assert ddvlm_bag(["eval", str(tmp_path / "robot"), "--offline", "--image-topic", "/asr/transcript"]) == 1
    assert "has type ddvlm_msgs/msg/Transcript, expected sensor_msgs/msg/Image" in capsys.readouterr().err
    with pytest.raises(BagError, match="already exists"):
        BagWriter(images_only, "mcap")
    args = ["from-meld", "--data", str(MELD), "--out", str(images_only)]
    assert ddvlm_bag(args) == 1 and "already exists" in capsys.readouterr().err
    assert ddvlm_bag(["eval", str(images_only), "--rate", "0"]) == 1
    assert "--rate must be > 0" in capsys.readouterr().err


@pytest.mark.dds
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_replay_over_dds_through_a_launched_node_matches_ddvlm_eval(tmp_path: Path, ros_domain: int) -> None:
    bag = tmp_path / "bag"
    from_meld(bag, "sqlite3", dialogues=3)
    n = sum(1 for u in read_split(MELD, "test") if u.dialogue_id < 3)
    env = {**os.environ, **LIGHT_ENV}
    cmd = ["ddvlm-bag", "eval", str(bag), "--launch-node", "--rate", "20", "--json", str(tmp_path / "r.json")]
    run = subprocess.run(
        [*cmd, "--model-dir", str(model_dir())], env=env, capture_output=True, text=True, timeout=200
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    reference = evaluate(model_dir(), MELD, "test", limit=n, threads=1)
    assert report["replay"]["mode"] == "dds+launched-node"
    assert report["unanswered"]["count"] == 0 and report["n"] == n
    assert report["weighted_f1"] == pytest.approx(reference["weighted_f1"], abs=1e-9)
    assert report["confusion_matrix"] == reference["confusion_matrix"]
    assert report["replay"]["backends"] == ["onnxruntime"]
    assert (tmp_path / "emotion_node.log").read_text().count("ready: model") == 1


def launch_replay_eval(bag: Path, report_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`ros2 launch ddvlm_ros replay_eval.launch.py bag:=… rate:=20 json:=…` with the test model."""
    from test_launch_emotion import launch_available

    reason = launch_available()
    if reason:
        pytest.skip(reason)
    command = ["ros2", "launch", "ddvlm_ros", "replay_eval.launch.py", f"bag:={bag}", "rate:=20"]
    return subprocess.run(
        [*command, f"json:={report_path}", f"model_dir:={model_dir()}", *arguments],
        env={**os.environ, **LIGHT_ENV},
        capture_output=True,
        text=True,
        timeout=200,
        cwd=ROOT,
    )


@pytest.mark.dds
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_replay_eval_launch_file_runs_node_and_evaluator_together(tmp_path: Path, ros_domain: int) -> None:
    bag = tmp_path / "bag"
    from_meld(bag, "mcap", dialogues=2)
    n = sum(1 for u in read_split(MELD, "test") if u.dialogue_id < 2)
    report_path = tmp_path / "launch" / "report.json"
    run = launch_replay_eval(bag, report_path)
    assert report_path.is_file(), run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["replay"]["mode"] == "dds" and report["unanswered"]["count"] == 0 and report["n"] == n
    assert report["replay"]["answered"] == n
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.dds
@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("use_compressed", [False, True])
def test_replay_eval_launch_file_with_jpeg_frames_needs_use_compressed(
    tmp_path: Path, ros_domain: int, use_compressed: bool
) -> None:
    """Frames the node does not subscribe to must stop the evaluation with the fix, not vanish."""
    bag = tmp_path / "robot"
    transcripts = robot_bag(bag, "mcap", compressed=True)
    # vision at the node's priority: a pytest-xdist neighbour can starve the default niceness (10)
    config_path = node_params_file(tmp_path, use_compressed=use_compressed, vision_process_nice=0)
    report_path = tmp_path / "report.json"
    run = launch_replay_eval(bag, report_path, f"config:={config_path}")
    output = run.stdout + run.stderr
    if not use_compressed:
        assert not report_path.exists(), output[-3000:]
        assert "nothing subscribes to /image/compressed: the node needs use_compressed: true" in output
        assert "the node's use_compressed parameter is false" in output  # asked, not waited out
        assert "exit code 1," in output, output[-3000:]  # an error exit, not an abort at shutdown (-6)
        return
    assert report_path.is_file(), output[-3000:]
    report = json.loads(report_path.read_text())
    assert report["unanswered"]["count"] == 0 and report["replay"]["answered"] == len(transcripts)
    assert report["replay"]["frames_used_mean"] > 0


@pytest.mark.dds
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_replay_over_dds_with_clip_frames_feeds_the_visual_branch(tmp_path: Path, ros_domain: int) -> None:
    utterances = [u for u in read_split(MELD, "test") if u.dialogue_id == 0]
    videos = tmp_path / "MELD.Raw"
    for u in utterances[:3]:
        write_clip(videos / "output_repeated_splits_test" / f"{u.key}.mp4", 3.0)
    bag = tmp_path / "bag"
    from_meld(bag, "mcap", "--videos", str(videos), "--fps", "10", dialogues=1)
    report_path = tmp_path / "r.json"
    cmd = ["ddvlm-bag", "eval", str(bag), "--launch-node", "--rate", "2", "--json", str(report_path)]
    run = subprocess.run(
        [*cmd, "--model-dir", str(model_dir())],
        env={**os.environ, **LIGHT_ENV},
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(report_path.read_text())
    assert report["unanswered"]["count"] == 0 and report["n"] == len(utterances)
    assert report["modalities"] == ["text", "visual"]
    assert report["replay"]["messages_played"]["/image"] > 0 and report["replay"]["frames_used_mean"] > 0
