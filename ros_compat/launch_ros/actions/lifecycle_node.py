"""LifecycleNode: a Node whose state transitions launch can request (ChangeState) and react to
(OnStateTransition), through the node's ~/change_state service and ~/transition_event topic."""

from __future__ import annotations

import threading
import time
from typing import Any

from launch import logging as launch_logging
from launch.event_handler import BaseEventHandler
from launch.launch_context import LaunchContext
from launch.some_substitutions_type import SomeSubstitutionsType

from ..events.lifecycle import ChangeState, StateTransition
from .node import Node

_SERVICE_WAIT_S = 0.5


class _ChangeStateHandler(BaseEventHandler):
    """Serves ChangeState events aimed at one LifecycleNode."""

    def __init__(self, node: LifecycleNode) -> None:
        super().__init__(
            matcher=lambda event: isinstance(event, ChangeState) and bool(event.lifecycle_node_matcher(node))
        )
        self.node = node

    def handle(self, event: Any, context: LaunchContext) -> None:
        super().handle(event, context)
        self.node._request_transition(context, event.transition_id)
        return None


class LifecycleNode(Node):
    """name= and namespace= are required (the services are found by the node's full name).

    autostart=True configures and then activates the node once it is up (Jazzy's option).
    """

    def __init__(
        self,
        *,
        name: SomeSubstitutionsType,
        namespace: SomeSubstitutionsType = "",
        autostart: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, namespace=namespace, **kwargs)
        self.autostart = autostart
        self._subscription: Any = None

    def describe(self) -> str:
        return (
            f"LifecycleNode(package={self.package!r}, executable={self.executable!r}, "
            f"name={self.node_name!r})"
        )

    def execute(self, context: LaunchContext) -> None:
        context.register_event_handler(_ChangeStateHandler(self))
        super().execute(context)
        if self.process_details is None:
            return None
        self._subscribe_transitions(context)
        if self.autostart:
            self._autostart(context)
        return None

    # --- ROS side ---------------------------------------------------------------------------
    def _subscribe_transitions(self, context: LaunchContext) -> None:
        from lifecycle_msgs.msg import TransitionEvent

        from ..ros_adapter import get_ros_node

        service = context.service
        self._subscription = get_ros_node().create_subscription(
            TransitionEvent,
            f"{self.node_fully_qualified_name}/transition_event",
            lambda msg: service.emit_event(StateTransition(action=self, msg=msg)),
            10,
        )

    def _process_running(self, context: LaunchContext) -> bool:
        return any(getattr(p, "action", None) is self for p in context.service.watched_processes())

    def _request_transition(self, context: LaunchContext, transition_id: int) -> None:
        """Call ~/change_state from a thread; the launch stays busy until the call is answered."""
        from lifecycle_msgs.srv import ChangeState as ChangeStateSrv

        from ..ros_adapter import get_ros_node

        node = get_ros_node()
        fqn = self.node_fully_qualified_name
        done = threading.Event()

        def call() -> None:
            client = node.create_client(ChangeStateSrv, f"{fqn}/change_state")
            try:
                while not client.wait_for_service(timeout_sec=_SERVICE_WAIT_S):
                    if context.service.is_shutting_down or not self._process_running(context):
                        launch_logging.log(
                            "WARNING",
                            "launch_ros",
                            f"'{fqn}' is gone: transition {transition_id} not requested",
                        )
                        return
                request = ChangeStateSrv.Request()
                request.transition.id = transition_id
                future = client.call_async(request)
                deadline = time.monotonic() + 30.0
                while not future.done() and time.monotonic() < deadline:
                    if not self._process_running(context):
                        return
                    time.sleep(0.02)
                result = future.result() if future.done() else None
                if result is None or not result.success:
                    launch_logging.log(
                        "ERROR",
                        "launch_ros",
                        f"failed to make transition {transition_id} for LifecycleNode '{fqn}'",
                    )
            finally:
                node.destroy_client(client)
                done.set()

        threading.Thread(target=call, name=f"change_state {fqn}", daemon=True).start()
        context.service.add_task(done.is_set)

    def _autostart(self, context: LaunchContext) -> None:
        from launch.actions import EmitEvent
        from launch.events import matches_action
        from lifecycle_msgs.msg import Transition

        from ..event_handlers import OnStateTransition

        context.register_event_handler(
            OnStateTransition(
                target_lifecycle_node=self,
                goal_state="inactive",
                handle_once=True,
                entities=[
                    EmitEvent(
                        event=ChangeState(
                            lifecycle_node_matcher=matches_action(self),
                            transition_id=Transition.TRANSITION_ACTIVATE,
                        )
                    )
                ],
            )
        )
        context.emit_event_sync(
            ChangeState(
                lifecycle_node_matcher=matches_action(self), transition_id=Transition.TRANSITION_CONFIGURE
            )
        )


__all__ = ["LifecycleNode"]
