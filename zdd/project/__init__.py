"""The one reading of a compose project: compose's own `config` (cached), the raw files read
with PyYAML for what it flattens away (the `extends` graph, the legacy v1 format), and the
values parsed from them. No other part of zdd reads compose files or `config` output."""

from zdd.project.load import LoadOptions, load_project
from zdd.project.model import Group, Project, Service, check_settings, find_groups
from zdd.project.nginxconf import ProxyRouting, Routing
from zdd.project.rawyaml import Reset, dump_yaml
from zdd.project.roles import Evidence, Role
from zdd.project.values import (
    HostPort,
    UpdatePolicy,
    healthcheck_disabled,
    healthcheck_of,
    is_number,
    networks_of,
    parse_duration,
    port_entries,
    published_ports,
    replicas,
    service_port,
    side_by_side_blockers,
    update_config,
    update_monitor,
    update_order,
    update_policy,
)

__all__ = [
    "Evidence",
    "Group",
    "HostPort",
    "LoadOptions",
    "Project",
    "ProxyRouting",
    "Reset",
    "Role",
    "Routing",
    "Service",
    "UpdatePolicy",
    "check_settings",
    "dump_yaml",
    "find_groups",
    "healthcheck_disabled",
    "healthcheck_of",
    "is_number",
    "load_project",
    "networks_of",
    "parse_duration",
    "port_entries",
    "published_ports",
    "replicas",
    "service_port",
    "side_by_side_blockers",
    "update_config",
    "update_monitor",
    "update_order",
    "update_policy",
]
