"""Nothing lost silently, over real loopback DDS against a node process: a 500-transcript burst gets 500
answers; transcripts a publisher drops before the node can take them are counted (message-lost event)
and turn /diagnostics to ERROR; a PNG bomb on image/compressed is refused from its header without
delaying an answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage
from test_image_input_headers import blank_png
from test_node_harness import Diagnostics, NodeProcess, Probe, model_dir, node_for, probe_in, transcript_msg

from ddvlm_msgs.msg import EmotionState, Transcript

pytestmark = [pytest.mark.dds, pytest.mark.slow, pytest.mark.timeout(300)]

NS = "/rel"
BURST = 500  # the burst size README states as guaranteed with any publisher history


def keep_all() -> QoSProfile:
    return QoSProfile(depth=1, history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)


@pytest.fixture
def probe(ros_domain: int) -> Iterator[Probe]:
    yield from probe_in(NS)


@pytest.fixture
def node(tmp_path: Path, probe: Probe) -> Iterator[NodeProcess]:
    params = {"model_dir": str(model_dir()), "threads": 1, "use_compressed": True}
    yield from node_for(probe, tmp_path / "node.log", params, NS)


def answers_by_id(probe: Probe) -> dict[str, EmotionState]:
    received: dict[str, EmotionState] = {}
    probe.node.create_subscription(
        EmotionState, "emotion", lambda m: received.setdefault(m.utterance_id, m), keep_all()
    )
    return received


def matched(probe: Probe, pub) -> None:
    assert probe.spin_until(lambda: pub.get_subscription_count() > 0, 20), (
        "transcript publisher never matched"
    )
    probe.spin_until(lambda: False, 0.5)


def test_burst_of_500_final_transcripts_gets_500_answers(probe: Probe, node: NodeProcess) -> None:
    received = answers_by_id(probe)
    diagnostics = Diagnostics(probe)
    pub = probe.node.create_publisher(Transcript, "transcript", keep_all())
    matched(probe, pub)
    now = probe.now_ns()
    for i in range(BURST):  # back to back, no waiting for answers
        pub.publish(transcript_msg(f"c{i % 7}", f"b{i}", f"Line number {i}, really?", now + i, now - 10**9))
    assert probe.spin_until(lambda: len(received) == BURST, 180), (
        f"{len(received)}/{BURST} answered:\n{node.log()[-3000:]}"
    )
    assert set(received) == {f"b{i}" for i in range(BURST)}
    seen = diagnostics.updates
    assert probe.spin_until(lambda: diagnostics.updates > seen + 1, 10)
    assert diagnostics.counts.get("transcripts_lost", 0) == 0
    assert diagnostics.counts.get("emotions_published") == BURST
    assert not any(k.startswith("unanswered_") for k in diagnostics.counts), diagnostics.counts


def test_transcripts_a_publisher_drops_are_counted_and_raise_an_error(
    probe: Probe, node: NodeProcess
) -> None:
    """A KEEP_LAST(10) publisher overruns the node's reader (Fast DDS keeps 5000 samples per reader): the
    samples it overwrites are reported lost; every sample sent is either taken by the node or counted."""
    received = answers_by_id(probe)
    diagnostics = Diagnostics(probe)
    pub = probe.node.create_publisher(
        Transcript, "transcript", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    )
    matched(probe, pub)
    now = probe.now_ns()
    finals, partials = 100, 9000
    for i in range(finals):  # slow to answer: the reader fills while they are classified
        pub.publish(transcript_msg("c", f"f{i}", f"Final words {i}.", now + i, now - 10**9))
    for i in range(partials):  # cheap for the node, but they arrive faster than it takes them
        pub.publish(transcript_msg("c", f"p{i}", "partial", now + finals + i, 0, final=False))

    def settled() -> bool:
        c = diagnostics.counts
        taken = c.get("transcripts_final", 0) + c.get("transcripts_partial", 0)
        return taken + c.get("transcripts_lost", 0) == finals + partials

    assert probe.spin_until(settled, 120), (
        f"counters do not add up: {diagnostics.counts}\n{node.log()[-2000:]}"
    )
    lost = diagnostics.counts.get("transcripts_lost", 0)
    assert lost > 0, f"the publisher was never overrun: {diagnostics.counts}"
    assert diagnostics.level == DiagnosticStatus.ERROR[0] and "lost in transport" in diagnostics.message
    assert len(received) == diagnostics.counts["transcripts_final"]  # every final taken was answered
    assert "transcript(s) lost before reaching the node" in node.log()


def test_png_bomb_on_compressed_is_refused_and_answers_stay_fast(probe: Probe, node: NodeProcess) -> None:
    received = answers_by_id(probe)
    diagnostics = Diagnostics(probe)
    images = probe.node.create_publisher(CompressedImage, "image/compressed", qos_profile_sensor_data)
    pub = probe.node.create_publisher(Transcript, "transcript", keep_all())
    matched(probe, pub)
    assert probe.spin_until(lambda: images.get_subscription_count() > 0, 20)
    bomb = CompressedImage(format="png")
    bomb.data = blank_png(20_000, 20_000)
    for _ in range(3):
        bomb.header.stamp = probe.node.get_clock().now().to_msg()
        images.publish(bomb)
        probe.spin_until(lambda: False, 0.2)
    sent = time.perf_counter()
    pub.publish(transcript_msg("c", "after-bomb", "Is it over?", probe.now_ns(), 0))
    assert probe.spin_until(lambda: "after-bomb" in received, 20)
    assert time.perf_counter() - sent < 1.0, "answer delayed behind the bomb"
    assert probe.spin_until(lambda: diagnostics.counts.get("image_huge_image", 0) >= 1, 10), (
        diagnostics.counts
    )
