"""Source filter wrapping an rclpy subscription."""

from __future__ import annotations

from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription

from message_filters.simple_filter import SimpleFilter


class Subscriber(SimpleFilter):
    """``Subscriber(node, msg_type, topic, qos_profile=10, **kwargs)``: every message is signalled."""

    def __init__(
        self, node: Node, msg_type: type, topic: str, qos_profile: QoSProfile | int = 10, **kwargs: Any
    ) -> None:
        super().__init__()
        self.node = node
        self.topic = topic
        self.sub: Subscription = node.create_subscription(
            msg_type, topic, self.callback, qos_profile, **kwargs
        )

    def callback(self, msg: Any) -> None:
        """Subscription callback: forward the message down the filter chain."""
        self.signalMessage(msg)

    def getTopic(self) -> str:  # noqa: N802 - upstream name
        """The topic name as given (upstream returns the constructor argument)."""
        return self.topic

    def getSubscriber(self) -> Subscription:  # noqa: N802 - upstream name
        """The underlying rclpy subscription."""
        return self.sub

    def __getattr__(self, key: str) -> Any:
        """Delegate unknown attributes to the subscription, as upstream does."""
        if key == "sub":  # not yet constructed: avoid infinite recursion
            raise AttributeError(key)
        return getattr(self.sub, key)
