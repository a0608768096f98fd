"""A `ros2` command for pip-installed ROS 2: the verbs ddvlm_ros needs, with upstream syntax."""
