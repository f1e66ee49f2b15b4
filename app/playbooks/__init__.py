"""Risk playbooks and drill scenarios: what they are (:mod:`.model`), how their files are read
(:mod:`.files`) and the library loaded once per process (:mod:`.library`).

This package never imports Flask.
"""

from .files import (
    PlaybookError,
    load_playbook,
    load_playbooks,
    load_scenario,
    load_scenarios,
    parse_yaml,
    playbook_from_dict,
    scenario_from_dict,
)
from .library import Library, for_settings, known_datasets
from .model import (
    APPLIES_TO,
    CASUALTY_KEYS,
    EVENT_LEVEL_MAX,
    EVENT_LEVEL_MIN,
    INJECT_KINDS,
    LEVELS,
    PARAMETER_TYPES,
    ROLES,
    SELECT_OPS,
    SHAPES,
    SITE_HAZARDS,
    WIND_PARAMETERS,
    ChecklistItemSpec,
    Inject,
    Parameter,
    Playbook,
    Scenario,
    ZoneSpec,
)

__all__ = [
    "APPLIES_TO",
    "CASUALTY_KEYS",
    "EVENT_LEVEL_MAX",
    "EVENT_LEVEL_MIN",
    "INJECT_KINDS",
    "LEVELS",
    "PARAMETER_TYPES",
    "ROLES",
    "SELECT_OPS",
    "SHAPES",
    "SITE_HAZARDS",
    "WIND_PARAMETERS",
    "ChecklistItemSpec",
    "Inject",
    "Library",
    "Parameter",
    "Playbook",
    "PlaybookError",
    "Scenario",
    "ZoneSpec",
    "for_settings",
    "known_datasets",
    "load_playbook",
    "load_playbooks",
    "load_scenario",
    "load_scenarios",
    "parse_yaml",
    "playbook_from_dict",
    "scenario_from_dict",
]
