"""ddvlm-bag: MELD → rosbag2 (`from-meld`) and replay evaluation of emotion_node (`eval`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from ddvlm_ros.replay.bagfile import STORAGES, BagError, BagReader


def add_from_meld(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("from-meld", help="write a MELD split as a rosbag2", description=from_meld.__doc__)
    p.add_argument("--data", required=True, help="directory with MELD {train,dev,test}_sent_emo.csv")
    p.add_argument("--split", default="test", choices=("train", "dev", "test"))
    p.add_argument("--out", required=True, help="bag directory to create (must not exist)")
    p.add_argument("--videos", default=None, help="MELD.Raw directory: adds the clips' frames on /image")
    p.add_argument("--storage", default="mcap", choices=sorted(STORAGES))
    p.add_argument("--dialogues", type=int, default=None, help="first N dialogues only (smoke runs)")
    p.add_argument("--fps", type=float, default=10.0, help="frames per second taken from each clip")
    p.add_argument("--max-width", type=int, default=640, help="frames wider than this are downscaled")
    p.set_defaults(run=from_meld)


def add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="replay a bag through emotion_node and score it", description=evaluate.__doc__
    )
    p.add_argument("bag", help="rosbag2 directory (mcap or sqlite3)")
    p.add_argument("--json", default=None, help="report file (confusion PNG next to it when labelled)")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed factor over DDS")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--launch-node", action="store_true", help="start emotion_node here (sim time)")
    mode.add_argument("--offline", action="store_true", help="run the node in-process, no DDS, full speed")
    p.add_argument(
        "--params-file", default=None, help="node parameters (default: the package's emotion.yaml)"
    )
    p.add_argument("--model-dir", default=None, help="override model_dir for --launch-node/--offline")
    p.add_argument("--backend", default=None, help="override backend for --launch-node/--offline")
    p.add_argument("--transcript-topic", default=None, help="bag topic with Transcripts (default: by type)")
    p.add_argument("--image-topic", default=None, help="bag topic with Images (default: by type)")
    p.add_argument("--ground-truth-topic", default=None, help="bag topic with labels (default: by type)")
    p.add_argument("--no-images", action="store_true", help="replay transcripts only")
    p.add_argument("--node-timeout", type=float, default=60.0, help="seconds to wait for the node")
    p.add_argument(
        "--answer-timeout", type=float, default=10.0, help="seconds without answers before giving up"
    )
    p.add_argument("--timeline-csv", default=None, help="write one row per utterance here")
    p.add_argument("--timeline-png", default=None, help="plot predicted emotion/valence over bag time")
    p.add_argument("--bin-s", type=float, default=60.0, help="bin width of emotion_over_time (bag seconds)")
    p.set_defaults(run=evaluate)


def from_meld(a: argparse.Namespace) -> int:
    """Write a MELD split as a rosbag2: /transcript, /emotion/ground_truth and (with --videos) /image."""
    from ddvlm_ros.replay.meld_to_bag import write_meld_bag

    t0 = time.perf_counter()
    summary = write_meld_bag(a.data, a.split, a.out, a.videos, a.storage, a.dialogues, a.fps, a.max_width)
    summary["wall_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(summary, indent=2))
    return 0


def evaluate(a: argparse.Namespace) -> int:
    """Replay a bag through emotion_node (over DDS, or in-process with --offline) and score its answers."""
    from ddvlm_ros.metrics import save_confusion_png
    from ddvlm_ros.replay import report as rep
    from ddvlm_ros.replay.evaluator import (
        NodeProcess,
        ReplayTopics,
        default_params_file,
        read_ground_truth,
        replay_dds,
    )
    from ddvlm_ros.replay.offline import replay_offline

    if not a.rate > 0:
        raise ValueError(f"--rate must be > 0, got {a.rate}")
    params = Path(a.params_file) if a.params_file else default_params_file()
    with BagReader(a.bag) as reader:
        topics = ReplayTopics.find(reader, a.transcript_topic, a.image_topic, a.ground_truth_topic)
        if a.no_images:
            topics = ReplayTopics(topics.transcript, None, topics.ground_truth)
        truth = read_ground_truth(reader, topics.ground_truth)
        print(
            f"bag {a.bag}: transcripts {topics.transcript}, images {topics.image or '-'}, "
            f"ground truth {topics.ground_truth or '- (report without accuracy)'}; "
            f"{reader.duration_ns / 1e9:.1f} s recorded",
            flush=True,
        )
        if a.offline:
            result = replay_offline(reader, topics, params, a.model_dir, a.backend)
        else:
            launch = None
            if a.launch_node:
                log_dir = Path(a.json).parent if a.json else Path(tempfile.mkdtemp(prefix="ddvlm_bag_"))
                log_dir.mkdir(parents=True, exist_ok=True)

                def launch() -> NodeProcess:
                    log = log_dir / "emotion_node.log"
                    return NodeProcess(params, a.model_dir, a.backend, log, topics.compressed)

            elif topics.compressed:
                print("note: images are jpeg/png; the running node needs use_compressed:=true", flush=True)

            result = replay_dds(
                reader,
                topics,
                a.rate,
                a.node_timeout,
                a.answer_timeout,
                launch,
                lambda line: print(line, flush=True),
                ros_args=a.ros_args,
            )
        start_s = reader.start_ns / 1e9
        bag_info = {"path": str(a.bag), "duration_s": round(reader.duration_ns / 1e9, 3)}
    report = rep.build_report(result, truth, start_s, a.bin_s)
    report["run"] = bag_info | {"rate": a.rate if not a.offline else None, "params_file": str(params)}
    print(rep.format_summary(report))
    rows = rep.timeline_rows(result, truth, start_s) if (a.timeline_csv or a.timeline_png) else []
    if a.json:
        path = Path(a.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))
        written = [str(path)]
        if "confusion_matrix" in report:
            png = path.with_suffix(".png")
            save_confusion_png(
                report, png, f"replay {Path(a.bag).name} · weighted-F1 {report['weighted_f1']:.3f}"
            )
            written.append(str(png))
        print("wrote " + ", ".join(written))
    if a.timeline_csv:
        print(f"wrote {rep.save_timeline_csv(rows, a.timeline_csv)}")
    if a.timeline_png:
        print(f"wrote {rep.save_timeline_png(rows, a.timeline_png, Path(a.bag).name)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="ddvlm-bag", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)
    add_from_meld(sub)
    add_eval(sub)
    # `ros2 run` / launch_ros append `--ros-args ...` (node name, remappings): rclpy gets them, argparse not.
    from rclpy.utilities import remove_ros_args

    full = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(remove_ros_args(["ddvlm-bag", *full])[1:])
    args.ros_args = ["ddvlm-bag", *full]
    try:
        return int(args.run(args) or 0)
    except (BagError, FileNotFoundError, ValueError, TimeoutError, RuntimeError) as err:
        print(f"ddvlm-bag {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
