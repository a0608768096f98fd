"""Stand-in for ROS 2 ``cv_bridge`` (Python API of ros-perception/vision_opencv).

Only installed where the real package cannot be imported; same names and signatures.
"""

from cv_bridge.core import CvBridge, CvBridgeError

__all__ = ["CvBridge", "CvBridgeError"]
