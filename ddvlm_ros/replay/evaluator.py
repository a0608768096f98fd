"""Replay a bag through emotion_node over DDS and collect its answers (offline replay: replay/offline.py).

Each final Transcript that is played is expected to get exactly one EmotionState, matched by
(conversation_id, utterance_id), or by (conversation_id, header stamp) when the ASR leaves utterance_id
empty. Ground truth, when the bag has it, is an EmotionState topic (see meld_to_bag); without it the
report has the emotion distribution over time and latency only.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image

from ddvlm_msgs.msg import EmotionState, Transcript
from ddvlm_ros.contract import problems as contract_problems
from ddvlm_ros.labels import label_index
from ddvlm_ros.replay.bagfile import BagError, BagReader
from ddvlm_ros.stamps import to_stamp

TRANSCRIPT_TYPE = "ddvlm_msgs/msg/Transcript"
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
EMOTION_TYPE = "ddvlm_msgs/msg/EmotionState"
IMAGE_SUBSCRIBER_TIMEOUT_S = 10.0  # after the transcript path is matched, the image one is too, or never
Key = tuple[str, str]


def answer_key(msg: Transcript | EmotionState) -> Key:
    """How a Transcript and the EmotionState answering it are matched."""
    if msg.utterance_id:
        return msg.conversation_id, msg.utterance_id
    return msg.conversation_id, f"@{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}"


@dataclass(frozen=True)
class ReplayTopics:
    """Which bag topics feed the node (transcript, image) and which holds the ground truth."""

    transcript: str
    image: str | None
    ground_truth: str | None
    image_type: str = IMAGE_TYPE  # or COMPRESSED_TYPE: then it is played on image/compressed

    @property
    def compressed(self) -> bool:
        return self.image is not None and self.image_type == COMPRESSED_TYPE

    @property
    def played(self) -> list[str]:
        """The topics replayed into the node (ground truth is read, never played)."""
        return [t for t in (self.transcript, self.image) if t]

    @classmethod
    def find(
        cls,
        reader: BagReader,
        transcript: str | None = None,
        image: str | None = None,
        ground_truth: str | None = None,
    ) -> ReplayTopics:
        """Topics by name when given, else by type; BagError when that is ambiguous or missing."""
        types = {t.name: t.type for t in reader.topics}

        def pick(name: str | None, msg_type: str, what: str, required: bool) -> str | None:
            accepted = (IMAGE_TYPE, COMPRESSED_TYPE) if msg_type == IMAGE_TYPE else (msg_type,)
            if name is not None:
                if name not in types:
                    raise BagError(f"{what} topic {name} is not in the bag (topics: {', '.join(types)})")
                if types[name] not in accepted:
                    raise BagError(
                        f"{what} topic {name} has type {types[name]}, expected {' or '.join(accepted)}"
                    )
                return name
            found = [n for n, t in types.items() if t == msg_type]
            if not found and msg_type == IMAGE_TYPE:  # raw frames preferred; else jpeg/png ones
                found = [n for n, t in types.items() if t == COMPRESSED_TYPE]
            if len(found) > 1 and msg_type == EMOTION_TYPE:
                found = [n for n in found if n.endswith("ground_truth")] or found
            if len(found) > 1:
                raise BagError(f"several {msg_type} topics {found}; choose the {what} topic with an option")
            if not found and required:
                raise BagError(f"the bag has no {msg_type} topic (topics: {', '.join(types) or 'none'})")
            return found[0] if found else None

        image_topic = pick(image, IMAGE_TYPE, "image", False)
        return cls(
            transcript=pick(transcript, TRANSCRIPT_TYPE, "transcript", True),
            image=image_topic,
            ground_truth=pick(ground_truth, EMOTION_TYPE, "ground-truth", False),
            image_type=types[image_topic] if image_topic else IMAGE_TYPE,
        )


def read_ground_truth(reader: BagReader, topic: str | None) -> dict[Key, int]:
    """Label index per utterance key from the ground-truth EmotionState topic."""
    if topic is None:
        return {}
    truth: dict[Key, int] = {}
    for m in reader.messages([topic]):
        try:
            truth[answer_key(m.msg)] = label_index(m.msg.emotion)
        except ValueError as err:
            raise BagError(f"ground truth on {topic}: {err}") from err
    return truth


@dataclass
class ReplayResult:
    """What was sent and what came back; wall times are time.perf_counter() seconds."""

    mode: str
    sent: dict[Key, tuple[float, Transcript]] = field(default_factory=dict)
    answers: dict[Key, tuple[float, EmotionState]] = field(default_factory=dict)
    duplicate_answers: int = 0
    unexpected_answers: int = 0  # visual-only updates or answers to utterances not played here
    contract_violations: list[str] = field(default_factory=list)  # ddvlm_ros.contract, every message
    played: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0

    def record_answer(self, key: Key, when: float, msg: EmotionState) -> None:
        self.contract_violations += [f"{key[0]}/{key[1]}: {p}" for p in contract_problems(msg)]
        if key not in self.sent:
            self.unexpected_answers += 1
        elif key in self.answers:
            self.duplicate_answers += 1
        else:
            self.answers[key] = (when, msg)

    def latency_ms(self, key: Key) -> float:
        """Transcript sent → its EmotionState received (offline: the engine call that answered it)."""
        return (self.answers[key][0] - self.sent[key][0]) * 1000.0


def default_params_file() -> Path:
    """config/emotion.yaml of the installed package (the file emotion.launch.py uses)."""
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("ddvlm_ros")) / "config" / "emotion.yaml"


# -------------------------------------------------------------------------------------------- DDS
class ReplayNode(Node):
    """Plays bag messages into the node's input topics, with /clock, and collects its EmotionStates."""

    def __init__(self, result: ReplayResult, answer_queue_depth: int = 10000) -> None:
        super().__init__("ddvlm_replay_eval")
        reliable = QoSProfile(depth=answer_queue_depth, reliability=ReliabilityPolicy.RELIABLE)
        self.result = result
        self.lock = threading.Lock()
        self.last_answer = time.perf_counter()
        self.transcript_pub = self.create_publisher(Transcript, "transcript", reliable)
        self.image_pub = self.create_publisher(Image, "image", qos_profile_sensor_data)
        self.compressed_pub = self.create_publisher(
            CompressedImage, "image/compressed", qos_profile_sensor_data
        )
        self.clock_pub = self.create_publisher(Clock, "/clock", 10)
        self.emotion_sub = self.create_subscription(EmotionState, "emotion", self._on_emotion, reliable)
        self.parameter_clients: dict[str, object] = {}

    def _on_emotion(self, msg: EmotionState) -> None:
        now = time.perf_counter()
        with self.lock:
            self.result.record_answer(answer_key(msg), now, msg)
            self.last_answer = now

    def publish_clock(self, stamp_ns: int) -> None:
        self.clock_pub.publish(Clock(clock=to_stamp(stamp_ns)))

    def node_parameter(self, name: str, timeout_s: float = 5.0) -> object | None:
        """`name` of the node that subscribes to our transcripts, through its parameter service; None when
        it cannot be asked (no such node or parameter, or no answer in time: callers then wait instead).
        Called from a thread other than the one spinning this node."""
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python

        deadline = time.monotonic() + timeout_s
        while True:  # the graph learns node names after the endpoints match: until then they are unknown
            subscribers = self.get_subscriptions_info_by_topic(self.transcript_pub.topic_name)
            if len(subscribers) == 1 and not subscribers[0].node_name.startswith("_NODE_NAME_UNKNOWN"):
                break
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
        info = subscribers[0]
        namespace = info.node_namespace.rstrip("/")
        service = f"{namespace}/{info.node_name}/get_parameters"
        if service not in self.parameter_clients:  # kept: destroying one while the executor waits aborts
            self.parameter_clients[service] = self.create_client(GetParameters, service)
        client = self.parameter_clients[service]
        if not client.wait_for_service(timeout_sec=max(0.0, deadline - time.monotonic())):
            return None
        future = client.call_async(GetParameters.Request(names=[name]))
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        values = future.result().values if future.done() and future.result() else []
        return parameter_value_to_python(values[0]) if values and values[0].type != 0 else None

    def node_ready(self) -> bool:
        """Our transcript publisher and emotion subscription are both matched with the node's endpoints
        (matched, not only seen in the graph: an answer sent before matching would be lost)."""
        return self.transcript_pub.get_subscription_count() > 0 and self.emotion_sub.get_publisher_count() > 0


class NodeProcess:
    """emotion_node started as its own process, on sim time, with the given parameter file."""

    def __init__(
        self,
        params_file: str | Path,
        model_dir: str | None,
        backend: str | None,
        log: Path,
        compressed: bool = False,
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "ddvlm_ros.emotion_node",
            "--ros-args",
            "--params-file",
            str(params_file),
        ]
        cmd += ["-p", "use_sim_time:=true"]
        if model_dir:
            cmd += ["-p", f"model_dir:={model_dir}"]
        if backend:
            cmd += ["-p", f"backend:={backend}"]
        if compressed:
            cmd += ["-p", "use_compressed:=true"]
        self.log_path = log
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            tail = "".join(self.log_path.read_text().splitlines(keepends=True)[-15:])
            raise RuntimeError(f"emotion_node exited with code {code}; its log ({self.log_path}):\n{tail}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def replay_dds(
    reader: BagReader,
    topics: ReplayTopics,
    rate: float,
    node_timeout_s: float = 60.0,
    answer_timeout_s: float = 10.0,
    launch: Callable[[], NodeProcess] | None = None,
    progress: Callable[[str], None] = print,
    ros_args: list[str] | None = None,
) -> ReplayResult:
    """Play the bag at `rate`× its recorded timing to a node over DDS and wait for its answers.

    With `launch`, the node is started here (and stopped at the end); otherwise one must be running in
    this ROS_DOMAIN_ID with matching topics (e.g. from replay_eval.launch.py).
    """
    if not rate > 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    result = ReplayResult(mode="dds+launched-node" if launch else "dds")
    owns_context = not rclpy.ok()
    if owns_context:
        rclpy.init(args=ros_args)
    node = ReplayNode(result)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, name="replay-spin", daemon=True)
    spinner.start()
    process = launch() if launch else None
    try:
        _wait_for_node(node, topics, process, node_timeout_s, progress)
        t0 = time.perf_counter()
        _play(node, reader, topics, rate, result, progress)
        _wait_for_answers(node, result, answer_timeout_s, process)
        result.wall_s = time.perf_counter() - t0
    finally:
        if process is not None:
            process.stop()
        executor.shutdown(timeout_sec=5.0)
        spinner.join(timeout=5.0)  # the node is not destroyed under a running spin (that aborts the process)
        node.destroy_node()
        if owns_context:
            rclpy.try_shutdown()
    return result


def _wait_for_node(
    node: ReplayNode, topics: ReplayTopics, process: NodeProcess | None, timeout_s: float, progress
) -> None:
    """Until the node's transcript and emotion endpoints are matched, then its image subscription when
    the bag has frames: frames nobody subscribes to would be dropped without a trace."""
    _wait_until(
        node.node_ready,
        timeout_s,
        process,
        f"no emotion node on {node.resolve_topic_name('transcript')} → {node.resolve_topic_name('emotion')} "
        f"after {timeout_s:.0f} s (ROS_DOMAIN_ID and topic remappings must match; or use --launch-node / "
        "--offline)",
    )
    if topics.image is not None:
        image_pub = node.compressed_pub if topics.compressed else node.image_pub
        fix = (
            "the node needs use_compressed: true (--launch-node sets it; replay_eval.launch.py takes "
            "config:=<a parameter file that sets it>)"
            if topics.compressed
            else "its image topic remapping must match"
        )
        failure = (
            f"the bag has frames on {topics.image} but nothing subscribes to {image_pub.topic_name}: {fix}"
        )
        if topics.compressed and node.node_parameter("use_compressed") is False:  # it never will: say so now
            raise RuntimeError(f"{failure}; the node's use_compressed parameter is false")
        _wait_until(
            lambda: image_pub.get_subscription_count() > 0,
            min(timeout_s, IMAGE_SUBSCRIBER_TIMEOUT_S),
            process,
            failure,
        )
    time.sleep(0.5)  # let the node's side of the discovery settle too
    progress("emotion node found; replaying")


def _wait_until(
    done: Callable[[], bool], timeout_s: float, process: NodeProcess | None, failure: str
) -> None:
    """Poll done(); a launched node that exits, or the timeout, ends the wait with an error."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if process is not None:
            process.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(failure)
        time.sleep(0.1)


def _play(node: ReplayNode, reader: BagReader, topics: ReplayTopics, rate: float, result, progress) -> None:
    start_wall = time.perf_counter()
    first_ns: int | None = None
    next_report = start_wall + 10.0
    for m in reader.messages(topics.played):
        if first_ns is None:
            first_ns = m.stamp_ns
        delay = start_wall + (m.stamp_ns - first_ns) / 1e9 / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        node.publish_clock(m.stamp_ns)
        result.played[m.topic] += 1
        if m.topic == topics.image:
            (node.compressed_pub if topics.compressed else node.image_pub).publish(m.msg)
            continue
        if m.msg.is_final:
            with node.lock:
                result.sent[answer_key(m.msg)] = (time.perf_counter(), m.msg)
        node.transcript_pub.publish(m.msg)
        if time.perf_counter() > next_report:
            next_report += 10.0
            with node.lock:
                progress(f"played {len(result.sent)} utterances, {len(result.answers)} answered")


def _wait_for_answers(node: ReplayNode, result: ReplayResult, timeout_s: float, process) -> None:
    """Until every played utterance is answered, or no answer came for timeout_s."""
    while True:
        with node.lock:
            done = len(result.answers) >= len(result.sent)
            idle = time.perf_counter() - max(node.last_answer, _last_sent(result))
        if done or idle > timeout_s:
            return
        if process is not None and process.process.poll() is not None:
            return
        time.sleep(0.05)


def _last_sent(result: ReplayResult) -> float:
    return max((t for t, _ in result.sent.values()), default=0.0)
