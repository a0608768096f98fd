"""The bag tools together, as a user strings them: `ros2 launch ddvlm_ros demo.launch.py bag:=…` (node +
`ros2 bag play --clock` + `ros2 topic echo`), and a `ros2 bag record` of live topics scored by
`ddvlm-bag eval` (a bag from another tool: no labels, no MELD ids)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from test_launch_emotion import launch_available
from test_node_harness import (
    LIGHT_ENV,
    MELD,
    ROOT,
    Probe,
    image_msg,
    model_dir,
    synthetic_face_frame,
    transcript_msg,
)

from ddvlm_ros.replay.cli import main as ddvlm_bag
from ddvlm_ros.training.data import read_split

pytestmark = [pytest.mark.dds, pytest.mark.slow, pytest.mark.timeout(240)]


def test_demo_launch_replays_a_bag_into_the_node_and_echoes_emotions(tmp_path: Path, ros_domain: int) -> None:
    reason = launch_available()
    if reason:
        pytest.skip(reason)
    bag = tmp_path / "bag"
    args = ["from-meld", "--data", str(MELD), "--split", "test", "--out", str(bag), "--dialogues", "1"]
    assert ddvlm_bag([*args, "--storage", "sqlite3"]) == 0
    expected = [u.key for u in read_split(MELD, "test") if u.dialogue_id == 0]
    log_path = tmp_path / "demo.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                "ros2",
                "launch",
                "ddvlm_ros",
                "demo.launch.py",
                f"bag:={bag}",
                "rate:=4",
                f"model_dir:={model_dir()}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **LIGHT_ENV},
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline and proc.poll() is None:
                if all(f"utterance_id: {key}" in log_path.read_text() for key in expected):
                    break
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=30)
    out = log_path.read_text()
    echoed = [line.split(":", 1)[1].strip() for line in out.splitlines() if "utterance_id:" in line]
    assert [key for key in expected if key in echoed] == expected, out[-4000:]
    assert code == 0, out[-3000:]


def test_ros2_bag_record_of_live_topics_is_scored_without_labels(tmp_path: Path, ros_domain: int) -> None:
    bag = tmp_path / "robot"
    log_path = tmp_path / "record.log"
    probe = Probe()
    texts = ["I am so happy to see you!", "That is disgusting.", "What? Really?"]
    with open(log_path, "w") as log:
        record = subprocess.Popen(
            ["ros2", "bag", "record", "-o", str(bag), "-s", "sqlite3", "/image", "/transcript"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            assert probe.spin_until(
                lambda: (
                    probe.transcripts.get_subscription_count() > 0
                    and probe.images.get_subscription_count() > 0
                ),
                60,
            ), log_path.read_text()
            probe.spin_until(lambda: False, 1.0)
            for i, text in enumerate(texts):
                start = probe.now_ns()
                for _ in range(8):
                    probe.images.publish(image_msg(synthetic_face_frame(320, 240, seed=i), probe.now_ns()))
                    probe.spin_until(lambda: False, 0.1)
                probe.transcripts.publish(
                    transcript_msg("lobby", f"u{i}", text, probe.now_ns(), start, "visitor")
                )
            probe.spin_until(lambda: False, 1.0)
        finally:
            record.send_signal(signal.SIGINT)
            assert record.wait(timeout=30) == 0, log_path.read_text()
            probe.close()
    report_path = tmp_path / "report.json"
    csv_path = tmp_path / "timeline.csv"
    code = ddvlm_bag(
        ["eval", str(bag), "--offline", "--json", str(report_path), "--timeline-csv", str(csv_path)]
        + ["--model-dir", str(model_dir())]
    )
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["has_ground_truth"] is False
    assert report["replay"]["utterances_played"] == len(texts) and report["unanswered"]["count"] == 0
    assert report["replay"]["messages_played"]["/image"] > 0 and report["replay"]["frames_used_mean"] > 0
    rows = csv_path.read_text().splitlines()
    assert len(rows) == 1 + len(texts) and all(t in "\n".join(rows) for t in texts)
    info = subprocess.run(["ros2", "bag", "info", str(bag)], capture_output=True, text=True, timeout=60)
    assert "Topic: /transcript | Type: ddvlm_msgs/msg/Transcript | Count: 3" in info.stdout, info.stdout
    assert (
        yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]["message_count"]
        > 3
    )
