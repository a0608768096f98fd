# Source me: activates the venv and the colcon install of ddvlm_msgs/ddvlm_ros.
# On a machine with a real ROS install, source /opt/ros/<distro>/setup.bash and install/setup.bash instead.
_ddvlm_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
_ddvlm_venv=${DDVLM_VENV:-$_ddvlm_root/.venv}
# shellcheck disable=SC1091
. "$_ddvlm_venv/bin/activate"
export AMENT_PREFIX_PATH="$_ddvlm_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# shellcheck disable=SC1091
[ -f "$_ddvlm_root/install/setup.bash" ] && . "$_ddvlm_root/install/setup.bash"
export PATH="$_ddvlm_root/install/lib/ddvlm_ros:$PATH"
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
unset _ddvlm_root _ddvlm_venv
