"""The emotion node's QoS profiles, in one place so the adapter reads as wiring."""

from __future__ import annotations

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data


def transcript_qos() -> QoSProfile:
    """Reliable KEEP_ALL, so a burst is never overwritten in this reader's history.

    When its resource limits are reached the reader stops acknowledging and the publisher keeps the rest
    (a KEEP_ALL publisher: back-pressure, nothing lost) or overwrites them (KEEP_LAST): that is reported
    by the message-lost event, counted as transcripts_lost and raised as ERROR in /diagnostics.
    """
    return QoSProfile(depth=1, history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)


def emotion_qos(depth: int) -> QoSProfile:
    """Reliable answers with `transcript_queue_size` of history for slow readers."""
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)


def image_qos(depth: int) -> QoSProfile:
    """Sensor-data QoS (best effort, volatile) with the node's own history depth."""
    return QoSProfile(
        depth=depth,
        reliability=qos_profile_sensor_data.reliability,
        durability=qos_profile_sensor_data.durability,
        history=qos_profile_sensor_data.history,
    )
