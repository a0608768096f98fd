"""Stand-in for ROS 2 ``message_filters`` (Python API of ros2/message_filters, jazzy/rolling).

Only installed where the real package cannot be imported; same names, signatures and
semantics as upstream so code written against it runs unchanged on a real ROS install.
"""

from message_filters.cache import Cache
from message_filters.simple_filter import SimpleFilter
from message_filters.subscriber import Subscriber
from message_filters.synchronizers import ApproximateTimeSynchronizer, TimeSynchronizer

__all__ = ["ApproximateTimeSynchronizer", "Cache", "SimpleFilter", "Subscriber", "TimeSynchronizer"]
