"""Rosbag replay: MELD → rosbag2 (`ddvlm-bag from-meld`) and replay evaluation (`ddvlm-bag eval`)."""
