"""End-to-end latency of emotion_node: transcript published → EmotionState received, under a camera load.

A real node process, real loopback DDS, a 30 Hz 640×480 stream with a (drawn) face, MELD test-set
utterances (with their dialogue ids, so dialogue context is used). The bare model (tokenize + text
encoder + fusion, same backend and threads, same texts and frame count) is timed in this process in
the same run, so the ratio node/bare isolates what ROS, alignment and queuing add.

    scripts/with_env python benchmarks/node_latency.py [--utterances 500] [--data ../shared/data/meld]

Writes a table to stdout and benchmarks/results/node_latency.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "test"), str(ROOT)]

from test_node_harness import (  # noqa: E402 - test helpers live next to the tests
    LIGHT_ENV,
    NodeProcess,
    Probe,
    image_msg,
    model_dir,
    synthetic_face_frame,
    transcript_msg,
)

from conftest import _claim_domain  # noqa: E402 - the repo root is on sys.path below
from ddvlm_msgs.msg import EmotionState  # noqa: E402
from ddvlm_ros.backends import load_backend  # noqa: E402
from ddvlm_ros.preprocessing import TextTokenizer, Turn  # noqa: E402

TARGETS = {"p50_ms": 30.0, "p99_ms": 80.0, "ratio_p50": 1.5, "drops": 0, "rss_growth_pct": 5.0}


def meld_utterances(data: Path, count: int) -> list[tuple[str, str, str]]:
    """(dialogue id, speaker, utterance) from MELD test_sent_emo.csv, in dialogue order."""
    path = data / "test_sent_emo.csv"
    if not path.is_file():
        raise SystemExit(f"MELD annotations not found: {path} (pass --data)")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [
            (f"meld-test-{r['Dialogue_ID']}", r["Speaker"], r["Utterance"]) for r in csv.DictReader(handle)
        ]
    if len(rows) < count:
        rows = (rows * (count // len(rows) + 1))[:count]
    return rows[:count]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values)
    return {f"p{q}_ms": round(float(np.percentile(arr, q)), 2) for q in (50, 95, 99)} | {
        "mean_ms": round(float(arr.mean()), 2),
        "max_ms": round(float(arr.max()), 2),
    }


def run_camera(namespace: str, hz: float, seconds: float) -> int:
    """Camera driver stand-in (its own process, as on a robot): face frames at hz with current stamps."""
    probe = Probe(namespace=namespace)
    stopped: list[int] = []
    signal.signal(signal.SIGINT, lambda *_: stopped.append(1))  # replaces rclpy's handler: stop cleanly
    frame = synthetic_face_frame(640, 480, face=True)
    sent, next_t, end = 0, time.monotonic(), time.monotonic() + seconds
    try:
        while time.monotonic() < end and not stopped:
            probe.images.publish(image_msg(frame, probe.now_ns()))
            sent += 1
            next_t += 1.0 / hz
            time.sleep(max(0.0, next_t - time.monotonic()))
    finally:
        probe.close()
    print(f"camera frames sent {sent}", flush=True)
    return 0


class CameraProcess:
    """This script with --camera-only, as a child process; stopped with SIGINT."""

    def __init__(self, namespace: str, hz: float) -> None:
        cmd = [sys.executable, __file__, "--camera-only", "--namespace", namespace, "--camera-hz", str(hz)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, **LIGHT_ENV})
        self.sent = 0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=15)
        for line in out.splitlines():
            if line.startswith("camera frames sent"):
                self.sent = int(line.split()[-1])


def bare_model_ms(
    backend,
    tokenizer: TextTokenizer,
    history: dict,
    conv: str,
    speaker: str,
    text: str,
    frames: int,
    dv: int,
    max_frames: int,
    context_turns: int,
) -> float:
    """Time what the node must do per utterance, without ROS: tokenize, encode text, fuse."""
    start = time.perf_counter()
    ids, mask = tokenizer.encode_dialogue(Turn(speaker, text), history.get(conv, []), context_turns)
    tf, _ = backend.encode_text(ids, mask)
    ff = np.zeros((1, max_frames, dv), np.float32)
    fm = np.zeros((1, max_frames), np.float32)
    fm[0, :frames] = 1.0
    backend.fuse(tf, np.ones((1,), np.float32), ff, fm)
    elapsed = (time.perf_counter() - start) * 1000.0
    history.setdefault(conv, []).append(Turn(speaker, text))
    history[conv] = history[conv][-context_turns:] if context_turns else []
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20, help="utterances before RSS-at-start is taken")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "meld")
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: test harness choice)")
    parser.add_argument("--camera-hz", type=float, default=30.0)
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between utterances")
    parser.add_argument(
        "--timeout", type=float, default=2.0, help="seconds before an answer counts as dropped"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "node_latency.json")
    parser.add_argument(
        "--domain", type=int, default=None, help="ROS_DOMAIN_ID (default: a free one, locked)"
    )
    parser.add_argument("--camera-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", default="/bench", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.camera_only:
        return run_camera(args.namespace, args.camera_hz, seconds=3600)
    if args.domain is None:
        args.domain, _lock = _claim_domain()  # same locks as the tests' ros_domain fixture
    os.environ["ROS_DOMAIN_ID"] = str(args.domain)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    model = args.model or model_dir()
    config = ROOT / "config" / "emotion.yaml"
    utterances = meld_utterances(args.data, args.utterances + args.warmup)

    node = NodeProcess(
        Path("/tmp") / f"node_latency_{os.getpid()}.log",
        {"model_dir": str(model)},
        ["--params-file", str(config), "-r", "__ns:=/bench", "-p", f"model_dir:={model}"],
    )
    probe = Probe(namespace="/bench")
    backend = load_backend(model, backend="onnxruntime", threads=1)
    md = backend.metadata
    tokenizer = TextTokenizer(model / "tokenizer", max_length=int(md["max_length"]))
    dv = int(backend.encode_faces(np.zeros((1, 1, 64, 64), np.float32)).shape[-1])
    received: dict[str, tuple[float, EmotionState]] = {}
    probe.node.create_subscription(
        EmotionState, "emotion", lambda m: received.setdefault(m.utterance_id, (time.perf_counter(), m)), 1000
    )
    node_ms: list[float] = []
    bare_ms: list[float] = []
    frames_used: list[int] = []
    drops = 0
    history: dict = {}
    camera: CameraProcess | None = None
    try:
        probe.wait_for_node()
        camera = CameraProcess("/bench", args.camera_hz)
        probe.spin_until(lambda: False, 4.0)  # camera process up, frames in the buffer before utterances
        rss_start = rss_mb(node.proc.pid)
        load_start = os.getloadavg()[0]
        for i, (conv, speaker, text) in enumerate(utterances):
            if i == args.warmup:
                rss_start = rss_mb(node.proc.pid)
            uid = f"u{i}"
            now = probe.now_ns()
            sent = time.perf_counter()
            probe.transcripts.publish(transcript_msg(conv, uid, text, now, now - 1_500_000_000, speaker))
            if not probe.spin_until(lambda uid=uid: uid in received, args.timeout):
                drops += 1 if i >= args.warmup else 0
                continue
            got_at, msg = received[uid]
            if i >= args.warmup:
                node_ms.append((got_at - sent) * 1000.0)
                frames_used.append(msg.frames_used)
                bare_ms.append(
                    bare_model_ms(
                        backend,
                        tokenizer,
                        history,
                        conv,
                        speaker,
                        text,
                        msg.frames_used,
                        dv,
                        int(md["max_frames"]),
                        3,
                    )
                )
            else:
                bare_model_ms(
                    backend, tokenizer, history, conv, speaker, text, 0, dv, int(md["max_frames"]), 3
                )
            probe.spin_until(lambda: False, args.gap)
        rss_end = rss_mb(node.proc.pid)
        load_end = os.getloadavg()[0]
    finally:
        if camera is not None:
            camera.stop()
        probe.close()
        rc = node.stop()
    node_stats, bare_stats = percentiles(node_ms), percentiles(bare_ms)
    result = {
        "utterances": len(node_ms),
        "drops": drops,
        "camera": {"hz": args.camera_hz, "size": "640x480 bgr8", "frames_sent": camera.sent},
        "node_latency": node_stats,
        "bare_model": bare_stats,
        "ratio_p50": round(node_stats["p50_ms"] / bare_stats["p50_ms"], 2),
        "ratio_p99": round(node_stats["p99_ms"] / bare_stats["p99_ms"], 2),
        "visual_used_fraction": round(float(np.mean([f > 0 for f in frames_used])), 3),
        "mean_frames_used": round(float(np.mean(frames_used)), 2),
        "rss_mb": {
            "start": round(rss_start, 1),
            "end": round(rss_end, 1),
            "growth_pct": round(100 * (rss_end - rss_start) / rss_start, 2),
        },
        "node_exit_code": rc,
        "model": {
            "dir": str(model),
            "name": md.get("name"),
            "precision": md.get("precision"),
            "random_init": md.get("source", {}).get("checkpoint") is None,
        },
        "host": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "load_avg_1m": {"start": round(load_start, 2), "end": round(load_end, 2)},  # shared machine
        },
        "targets": TARGETS,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    result["meets_targets"] = {
        "p50": node_stats["p50_ms"] <= TARGETS["p50_ms"],
        "p99": node_stats["p99_ms"] <= TARGETS["p99_ms"],
        "ratio": result["ratio_p50"] <= TARGETS["ratio_p50"],
        "drops": drops == 0,
        "rss": result["rss_mb"]["growth_pct"] <= TARGETS["rss_growth_pct"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| {'':22} | {'p50 ms':>7} | {'p95 ms':>7} | {'p99 ms':>7} | {'max ms':>7} |")
    print(f"|{'-' * 24}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for name, s in (("node (end to end)", node_stats), ("bare model", bare_stats)):
        cells = " | ".join(f"{s[k]:7.2f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))
        print(f"| {name:22} | {cells} |")
    print(
        f"utterances {len(node_ms)}, drops {drops}, ratio p50 {result['ratio_p50']}, "
        f"RSS {rss_start:.0f} → {rss_end:.0f} MiB ({result['rss_mb']['growth_pct']:+.1f} %), "
        f"camera frames sent {camera.sent}, visual used {result['visual_used_fraction']:.0%}"
    )
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
