"""Plan a rollout: options and project in, the ordered steps out. Pure: runs nothing.

options.py holds what was asked, steps.py the frozen steps and the plan, gates.py the gate of
each new container, builds.py what the deploy builds, build.py the plans themselves.
"""

from zdd.plan.build import (
    build_plan,
    build_rollback_plan,
    image_names,
    refuse_role,
    replace_steps,
    start_first_steps,
    start_first_units,
)
from zdd.plan.builds import Builds, plan_builds
from zdd.plan.gates import Gate, GatePolicy, GateSource, gate_for
from zdd.plan.options import DeployOptions
from zdd.plan.steps import (
    Command,
    Part,
    Plan,
    Retag,
    Retire,
    Rotate,
    RotateAction,
    Step,
    Verb,
    Wait,
    Watch,
    down_first,
    with_delays,
)

__all__ = [
    "Builds",
    "Command",
    "DeployOptions",
    "Gate",
    "GatePolicy",
    "GateSource",
    "Part",
    "Plan",
    "Retag",
    "Retire",
    "Rotate",
    "RotateAction",
    "Step",
    "Verb",
    "Wait",
    "Watch",
    "build_plan",
    "build_rollback_plan",
    "down_first",
    "gate_for",
    "image_names",
    "plan_builds",
    "refuse_role",
    "replace_steps",
    "start_first_steps",
    "start_first_units",
    "with_delays",
]
