"""Playbooks and drill scenarios: the shipped files, the loader's errors, event parameters."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.playbooks import (
    LEVELS,
    ROLES,
    SHAPES,
    ChecklistItemSpec,
    Inject,
    MessageTemplate,
    Parameter,
    Playbook,
    PlaybookError,
    Scenario,
    ZoneSpec,
    load_playbook,
    load_playbooks,
    load_scenario,
    load_scenarios,
    parse_yaml,
    playbook_from_dict,
    scenario_from_dict,
)

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
SCENARIOS = PLAYBOOKS / "scenarios"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "playbooks"

# The dataset slugs of the contract (docs/architecture.md).
CONTRACT_DATASETS = {
    "communes",
    "territory",
    "seine",
    "roads",
    "seveso-sites",
    "plant-inventory",
    "ppi",
    "population-grid",
    "schools",
    "health-care",
    "gas-network",
    "gas-assets",
    "gas-transport",
    "water-network",
    "water-assets",
    "power-network",
    "power-assets",
    "flood-extents",
    "vulnerable-persons",
}
FIXTURE_DATASETS = {"schools", "gas-network", "flood-extents"}
SHIPPED = {"toxic-release", "industrial-fire", "explosion", "seine-flood", "gas-pipeline-leak"}


@pytest.fixture(scope="module")
def shipped() -> dict[str, Playbook]:
    playbooks, errors = load_playbooks(PLAYBOOKS, CONTRACT_DATASETS)
    assert [str(e) for e in errors] == []
    return playbooks


@pytest.fixture(scope="module")
def sample() -> Playbook:
    return load_playbook(FIXTURES / "valid-sample.yaml", FIXTURE_DATASETS)


# --------------------------------------------------------------------------------------------
# The shipped playbooks and scenarios


def test_shipped_playbooks_load_with_contract_datasets(shipped: dict[str, Playbook]) -> None:
    assert set(shipped) == SHIPPED
    for playbook in shipped.values():
        assert 10 <= len(playbook.checklist) <= 16, playbook.id
        assert playbook.zones and playbook.datasets
        assert {item.role for item in playbook.checklist} <= {"director", "cell", "liaison"}
        assert all(zone.family and zone.threshold for zone in playbook.zones)
        dues = [item.due_min for item in playbook.checklist]
        assert dues == sorted(dues), f"{playbook.id}: checklist not in due order"
        for zone in playbook.zones:
            if zone.shape in ("circle", "plume", "corridor"):
                assert zone.default_m, f"{playbook.id}.{zone.id}: generic default distance"


def test_shipped_playbook_contracts(shipped: dict[str, Playbook]) -> None:
    toxic = shipped["toxic-release"]
    assert toxic.site_hazard == "toxic"
    assert [(z.level, z.threshold, z.shape) for z in toxic.zones] == [
        ("red", "SELS", "plume"),
        ("orange", "SEL", "plume"),
        ("yellow", "SEI", "plume"),
    ]
    assert all(z.calm_below_ms == 1.0 for z in toxic.zones)
    wind = toxic.parameter("wind_from_deg")
    assert wind is not None and wind.required and (wind.min, wind.max) == (0, 360)
    release = toxic.parameter("release_type")
    assert release is not None and [v for v, _ in release.choices] == ["instantane", "continu"]
    assert toxic.report_cadence_min == 30

    fire = shipped["industrial-fire"]
    assert [z.threshold for z in fire.zones[:3]] == ["8 kW/m²", "5 kW/m²", "3 kW/m²"]
    assert fire.zones[3].shape == "plume" and fire.zones[3].level == "yellow"

    explosion = shipped["explosion"]
    assert [(z.level, z.effect) for z in explosion.zones] == [
        ("red", "overpressure.200mbar"),
        ("red", "overpressure.140mbar"),
        ("orange", "overpressure.50mbar"),
        ("yellow", "overpressure.20mbar"),
    ]

    flood = shipped["seine-flood"]
    assert flood.report_cadence_min == 60
    level = flood.parameter("seine_level_m")
    assert level is not None and level.min == 8.5 and level.max is not None and level.max > 9.5
    for zone in flood.zones:
        assert (zone.shape, zone.dataset) == ("area", "flood-extents")
        assert zone.select_property == zone.select_param == "seine_level_m"
        assert zone.select_op == "<="

    gas = shipped["gas-pipeline-leak"]
    assert [z.shape for z in gas.zones] == ["corridor", "corridor", "circle"]
    assert gas.zones[0].dataset == "gas-transport"


def test_default_distances_grow_from_worst_to_mildest(shipped: dict[str, Playbook]) -> None:
    for playbook in shipped.values():
        by_family: dict[str, list[float]] = {}
        for zone in playbook.zones:
            if zone.default_m is not None:
                by_family.setdefault(zone.family, []).append(zone.default_m)
        for family, distances in by_family.items():
            assert distances == sorted(distances), f"{playbook.id}: {family}"


def test_shipped_scenarios_load(shipped: dict[str, Playbook]) -> None:
    scenarios, errors = load_scenarios(SCENARIOS, shipped, CONTRACT_DATASETS)
    assert [str(e) for e in errors] == []
    assert set(scenarios) == {"toxic-fictif-port-jerome", "seine-flood-rising"}

    toxic = scenarios["toxic-fictif-port-jerome"]
    assert (toxic.playbook, toxic.site, toxic.point) == ("toxic-release", "FICTIF-1", None)
    assert toxic.params["wind_from_deg"] == 240 and toxic.params["wind_speed_ms"] == 4
    kinds = {inject.kind for inject in toxic.injects}
    assert {"message", "wind_shift", "casualties", "escalation"} <= kinds
    shift = next(i for i in toxic.injects if i.kind == "wind_shift")
    assert shift.params["wind_from_deg"] == 290
    assert any(i.backup_for for i in toxic.injects)
    assert toxic.injects[-1].offset_min >= 110
    offsets = [i.offset_min for i in toxic.injects]
    assert offsets == sorted(offsets)

    flood = scenarios["seine-flood-rising"]
    assert flood.site is None and flood.point is not None
    lon, lat = flood.point
    assert 0.4 < lon < 0.8 and 49.4 < lat < 49.6
    levels = [flood.params["seine_level_m"]] + [
        i.params["seine_level_m"] for i in flood.injects if i.kind == "param_change"
    ]
    assert levels == [8.5, 9.0, 9.5]


def test_backup_inject_offset_follows_its_target(sample: Playbook) -> None:
    scenario = load_scenario(FIXTURES / "scenarios" / "valid-sample-drill.yaml", {"sample": sample})
    backup = scenario.inject("relance")
    assert backup is not None
    assert (backup.backup_for, backup.backup_after_min, backup.offset_min) == ("alerte", 10, 10)
    assert [i.id for i in scenario.injects] == ["alerte", "relance", "vent"]


# --------------------------------------------------------------------------------------------
# Broken playbooks: one fixture per error class


BROKEN_PLAYBOOKS = [
    ("missing-key.yaml", "title", "missing required key"),
    ("wrong-type.yaml", "report_cadence_min", "expected an integer, got text 'trente'"),
    ("unknown-key.yaml", "zones[1].colour", "unknown key 'colour'"),
    ("unknown-dataset.yaml", "datasets[1]", "unknown dataset 'gas-netwrok'"),
    (
        "unknown-shape.yaml",
        "zones[1].shape",
        "unknown zone shape 'cone' (expected circle, plume, corridor, area)",
    ),
    ("plume-without-distance.yaml", "zones[0]", "needs 'effect' or 'default_m'"),
    ("corridor-without-dataset.yaml", "zones[1].dataset", "missing required key"),
    ("area-without-select.yaml", "zones[1].select_param", "missing required key"),
    ("bad-level.yaml", "zones[1].level", "unknown value 'purple'"),
    ("zones-not-worst-first.yaml", "zones[1].level", "worst first"),
    ("bad-default-level.yaml", "default_level", "at most 5"),
    ("duplicate-ids.yaml", "checklist[1].id", "duplicate id 'alerte'"),
    ("min-above-max.yaml", "parameters[0].max", "below min"),
    ("default-outside-bounds.yaml", "parameters[1].default", "outside [0, 40]"),
    ("bad-role.yaml", "checklist[1].role", "unknown role 'maire'"),
    ("negative-due.yaml", "checklist[1].due_min", "at least 0"),
    ("not-yaml.yaml", "", "not valid YAML at line 3"),
    ("not-mapping.yaml", "", "expected a mapping"),
    ("empty.yaml", "", "empty file"),
]


@pytest.mark.parametrize(("name", "key", "message"), BROKEN_PLAYBOOKS)
def test_broken_playbook_names_file_and_key(name: str, key: str, message: str) -> None:
    path = FIXTURES / name
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path, FIXTURE_DATASETS)
    error = caught.value
    assert (error.file, error.key) == (str(path), key)
    assert message in error.message
    prefix = f"{path}: {key}: " if key else f"{path}: "
    assert str(error).startswith(prefix)


def test_error_format_matches_the_documented_example() -> None:
    error = PlaybookError("playbooks/x.yaml", "zones[1].shape", "unknown zone shape 'cone'")
    assert str(error) == "playbooks/x.yaml: zones[1].shape: unknown zone shape 'cone'"


def test_unknown_key_suggests_the_close_one() -> None:
    data = yaml.safe_load((FIXTURES / "valid-sample.yaml").read_text(encoding="utf-8"))
    data["zones"][0]["defaut_m"] = data["zones"][0].pop("default_m")
    with pytest.raises(PlaybookError, match=r"did you mean 'default_m'\?") as caught:
        playbook_from_dict(data, "x.yaml")
    assert caught.value.key == "zones[0].defaut_m"


def test_unknown_dataset_only_checked_when_known_datasets_given() -> None:
    assert load_playbook(FIXTURES / "unknown-dataset.yaml").datasets[1] == "gas-netwrok"


def test_roles_can_be_narrowed() -> None:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(FIXTURES / "valid-sample.yaml", roles={"director"})
    assert caught.value.key == "checklist[1].role"


def test_field_of_another_shape_is_refused() -> None:
    data = yaml.safe_load((FIXTURES / "valid-sample.yaml").read_text(encoding="utf-8"))
    data["zones"][1]["calm_below_ms"] = 1.0
    with pytest.raises(PlaybookError, match="not used by shape 'circle'") as caught:
        playbook_from_dict(data, "x.yaml")
    assert caught.value.key == "zones[1].calm_below_ms"


def test_plume_needs_wind_parameters() -> None:
    data = yaml.safe_load((FIXTURES / "valid-sample.yaml").read_text(encoding="utf-8"))
    del data["parameters"][1]
    with pytest.raises(PlaybookError, match="wind_speed_ms") as caught:
        playbook_from_dict(data, "x.yaml")
    assert caught.value.key == "zones[0].shape"


def test_load_playbooks_keeps_the_valid_ones(tmp_path: Path) -> None:
    for name in ("toxic-release.yaml", "seine-flood.yaml"):
        shutil.copy(PLAYBOOKS / name, tmp_path / name)
    shutil.copy(FIXTURES / "unknown-shape.yaml", tmp_path / "broken.yaml")
    (tmp_path / "duplicate.yaml").write_text(
        (PLAYBOOKS / "seine-flood.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    playbooks, errors = load_playbooks(tmp_path, CONTRACT_DATASETS)
    assert set(playbooks) == {"toxic-release", "seine-flood"}
    assert sorted((Path(e.file).name, e.key) for e in errors) == [
        ("broken.yaml", "zones[1].shape"),
        ("seine-flood.yaml", "id"),  # sorted after duplicate.yaml, so it is the second copy
    ]


def test_load_playbooks_reports_every_broken_fixture() -> None:
    playbooks, errors = load_playbooks(FIXTURES, FIXTURE_DATASETS)
    assert set(playbooks) == {"sample"}
    assert {Path(e.file).name for e in errors} == {name for name, _, _ in BROKEN_PLAYBOOKS}


def test_load_playbooks_missing_directory(tmp_path: Path) -> None:
    playbooks, errors = load_playbooks(tmp_path / "nope")
    assert playbooks == {} and "no such directory" in str(errors[0])


# --------------------------------------------------------------------------------------------
# Broken scenarios


BROKEN_SCENARIOS = [
    ("unknown-playbook.yaml", "playbook", "unknown playbook 'sampel' (did you mean 'sample'?)"),
    ("bad-params.yaml", "params.wind_speed_ms", "supérieur au maximum 40"),
    ("missing-param.yaml", "params.wind_from_deg", "valeur obligatoire"),
    ("bad-backup.yaml", "injects[1].backup_for", "no inject with id 'alrte'"),
    ("bad-wind-shift.yaml", "injects[2].params.wind_from_deg", "supérieur au maximum 360"),
    ("wind-shift-without-direction.yaml", "injects[2].params.wind_from_deg", "missing"),
    ("bad-inject-kind.yaml", "injects[2].kind", "unknown value 'tsunami'"),
    ("duplicate-inject.yaml", "injects[2].id", "duplicate id 'alerte'"),
]


@pytest.mark.parametrize(("name", "key", "message"), BROKEN_SCENARIOS)
def test_broken_scenario_names_file_and_key(
    sample: Playbook, name: str, key: str, message: str
) -> None:
    path = FIXTURES / "scenarios" / name
    with pytest.raises(PlaybookError) as caught:
        load_scenario(path, {"sample": sample})
    assert (caught.value.file, caught.value.key) == (str(path), key)
    assert message in caught.value.message
    assert str(caught.value).startswith(f"{path}: {key}: ")


def _sample_scenario() -> dict[str, Any]:
    text = (FIXTURES / "scenarios" / "valid-sample-drill.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (lambda d: d["injects"][1].update(offset_min=3), "injects[1].offset_min", "0 + 10 = 10"),
        (lambda d: d["injects"][1].pop("backup_after_min"), "injects[1].backup_after_min", ""),
        (lambda d: d["injects"][1].update(backup_for="relance"), "injects[1].backup_for", "itself"),
        (lambda d: d.update(point=[0.7, 49.5]), "site", "exactly one"),
        (lambda d: d.update(level=0), "level", "at least 1"),
        (lambda d: d["injects"][0].update(params={"x": 1}), "injects[0].params", "no params"),
        (lambda d: d["injects"][0].update(to_role="maire"), "injects[0].to_role", "maire"),
        (
            lambda d: d["injects"][0].update(kind="escalation", params={"level": 9}),
            "injects[0].params.level",
            "at most 5",
        ),
        (
            lambda d: d["injects"][0].update(kind="casualties", params={"dead": -1}),
            "injects[0].params.dead",
            "at least 0",
        ),
        (
            lambda d: d["injects"][2]["params"].update(release_type="continu"),
            "injects[2].params.release_type",
            "only changes",
        ),
        (lambda d: d["params"].update(wind_form_deg=3), "params.wind_form_deg", "did you mean"),
        (lambda d: d["injects"][0].update(apply=True), "injects[0].apply", "only a change"),
        (lambda d: d["injects"][2].update(apply="oui"), "injects[2].apply", "true or false"),
    ],
)
def test_scenario_validation(sample: Playbook, change: Any, key: str, message: str) -> None:
    data = _sample_scenario()
    change(data)
    with pytest.raises(PlaybookError) as caught:
        scenario_from_dict(data, {"sample": sample}, "s.yaml")
    assert caught.value.key == key
    assert message in caught.value.message


def test_a_change_inject_asks_the_players_unless_it_applies(sample: Playbook) -> None:
    data = _sample_scenario()
    wind = scenario_from_dict(data, {"sample": sample}, "s.yaml").inject("vent")
    assert wind is not None and not wind.apply and wind.asks_players
    data["injects"][2]["apply"] = True
    wind = scenario_from_dict(data, {"sample": sample}, "s.yaml").inject("vent")
    assert wind is not None and wind.apply and not wind.asks_players


def test_injects_are_sorted_by_offset(sample: Playbook) -> None:
    data = _sample_scenario()
    data["injects"].reverse()
    scenario = scenario_from_dict(data, {"sample": sample}, "s.yaml")
    assert [i.id for i in scenario.injects] == ["alerte", "relance", "vent"]


# --------------------------------------------------------------------------------------------
# Event parameters


def test_validate_params_coerces_and_fills_defaults(shipped: dict[str, Playbook]) -> None:
    toxic = shipped["toxic-release"]
    clean, errors = toxic.validate_params(
        {"wind_from_deg": "240", "wind_speed_ms": "4,5", "release_type": "Instantané (bouffée)"}
    )
    assert errors == []
    assert clean == {
        "wind_from_deg": 240.0,
        "wind_speed_ms": 4.5,
        "release_type": "instantane",
        "duration_min": None,
        "substance": None,
    }
    clean, errors = toxic.validate_params({"wind_from_deg": 0, "duration_min": "30"})
    assert errors == [] and clean["wind_speed_ms"] == 3 and clean["duration_min"] == 30
    assert clean["release_type"] == "continu"


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "« Vent venant du (direction) » : valeur obligatoire."),
        ({"wind_from_deg": ""}, "(direction) » : valeur obligatoire"),
        ({"wind_from_deg": 400}, "(direction) » : 400 ° est supérieur au maximum 360 °."),
        ({"wind_from_deg": -1}, "inférieur au minimum 0"),
        ({"wind_from_deg": "brise"}, "« brise » n'est ni un nombre de degrés ni un point cardinal"),
        ({"wind_speed_ms": "fort", "wind_from_deg": 1}, "« fort » n'est pas un nombre"),
        ({"wind_from_deg": True}, "un nombre est attendu"),
        ({"wind_from_deg": "nan"}, "hors limites"),
        ({"wind_from_deg": 1e400}, "hors limites"),
        (
            {"wind_from_deg": 10, "duration_min": 2.5},
            "« Durée estimée du rejet » : 2,5 n'est pas un nombre entier",
        ),
        ({"wind_from_deg": 10, "release_type": "lent"}, "choix inconnu « lent »"),
        ({"wind_from_deg": 10, "substance": "x" * 501}, "texte trop long"),
        ({"wind_from_deg": 10, "wind_speed": 3}, "Paramètre inconnu « wind_speed »"),
    ],
)
def test_validate_params_errors_name_the_parameter(
    shipped: dict[str, Playbook], params: dict[str, Any], fragment: str
) -> None:
    clean, errors = shipped["toxic-release"].validate_params(params)
    assert len(errors) == 1 and fragment in errors[0], errors
    # The cell reads the form's French labels, never the internal keys.
    known = [p.name for p in shipped["toxic-release"].parameters]
    assert not any(f"({name})" in errors[0] for name in known), errors


@pytest.mark.parametrize(
    ("given", "degrees"),
    [("NNE", 22.5), ("oso", 247.5), ("Sud-Ouest", 225.0), ("WSW", 247.5), ("N", 0.0),
     ("260", 260.0), ("260°", 260.0), ("247,5", 247.5)],
)  # fmt: skip
def test_wind_direction_as_a_point_of_the_compass(
    shipped: dict[str, Playbook], given: str, degrees: float
) -> None:
    clean, errors = shipped["toxic-release"].validate_params({"wind_from_deg": given})
    assert errors == [] and clean["wind_from_deg"] == degrees


def test_validate_params_refuses_instead_of_clamping(shipped: dict[str, Playbook]) -> None:
    clean, errors = shipped["seine-flood"].validate_params({"seine_level_m": 12})
    assert "seine_level_m" not in clean and "maximum 11 m" in errors[0]


def test_validate_params_partial(shipped: dict[str, Playbook]) -> None:
    toxic = shipped["toxic-release"]
    assert toxic.validate_params({"wind_from_deg": 290}, partial=True) == (
        {"wind_from_deg": 290.0},
        [],
    )
    assert toxic.validate_params({"wind_from_deg": None}, partial=True)[1]


def test_validate_params_of_non_mapping(shipped: dict[str, Playbook]) -> None:
    clean, errors = shipped["toxic-release"].validate_params(["x"])  # type: ignore[arg-type]
    assert clean == {} and errors


# --------------------------------------------------------------------------------------------
# The loader never raises anything but PlaybookError

KEYS = [
    "id", "title", "hazard", "description", "applies_to", "site_hazard", "parameters", "zones",
    "datasets", "checklist", "report_cadence_min", "default_level", "name", "label", "type",
    "required", "default", "min", "max", "unit", "choices", "value", "help", "level", "family",
    "threshold", "shape", "effect", "default_m", "calm_below_ms", "half_angle_deg", "dataset",
    "section_m", "select_property", "select_param", "select_op", "select_margin", "role",
    "due_min", "playbook", "site", "point", "params", "injects", "offset_min", "kind", "text",
    "to_role", "expected_action", "backup_for", "backup_after_min", "sender", "wind_from_deg",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["red", "plume", "circle", "area", "corridor", "director", "toxic", "toxic.SELS", "site"]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.integers()), children, max_size=6),
    ),
    max_leaves=30,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*prefix, i))
    return out


VALID_PLAYBOOK = yaml.safe_load((FIXTURES / "valid-sample.yaml").read_text(encoding="utf-8"))
VALID_SCENARIO = yaml.safe_load(
    (FIXTURES / "scenarios" / "valid-sample-drill.yaml").read_text(encoding="utf-8")
)
PLAYBOOK_PATHS = _paths(VALID_PLAYBOOK)
SCENARIO_PATHS = _paths(VALID_SCENARIO)


def _mutate(document: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    data = copy.deepcopy(document)
    node = data
    for step in path[:-1]:
        node = node[step]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


def _only_playbook_errors(call: Any) -> None:
    try:
        call()
    except PlaybookError as exc:
        assert str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_arbitrary_documents_only_raise_playbook_error(document: Any) -> None:
    sample = playbook_from_dict(VALID_PLAYBOOK, "sample.yaml")
    _only_playbook_errors(lambda: playbook_from_dict(document, "x.yaml", FIXTURE_DATASETS))
    _only_playbook_errors(lambda: scenario_from_dict(document, {"sample": sample}, "x.yaml"))
    _only_playbook_errors(lambda: sample.validate_params(document))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_documents_only_raise_playbook_error(data: st.DataObject) -> None:
    sample = playbook_from_dict(VALID_PLAYBOOK, "sample.yaml")
    delete = data.draw(st.booleans())
    path = data.draw(st.sampled_from(PLAYBOOK_PATHS))
    mutated = _mutate(VALID_PLAYBOOK, path, data.draw(VALUES), delete)
    _only_playbook_errors(lambda: playbook_from_dict(mutated, "x.yaml", FIXTURE_DATASETS))
    path = data.draw(st.sampled_from(SCENARIO_PATHS))
    mutated = _mutate(VALID_SCENARIO, path, data.draw(VALUES), delete)
    _only_playbook_errors(lambda: scenario_from_dict(mutated, {"sample": sample}, "x.yaml"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_only_raises_playbook_error(text: str) -> None:
    _only_playbook_errors(lambda: playbook_from_dict(parse_yaml(text, "x.yaml"), "x.yaml"))


def test_null_is_an_absent_key() -> None:
    data = copy.deepcopy(VALID_PLAYBOOK)
    data["site_hazard"] = None
    data["zones"][0]["help"] = None
    playbook = playbook_from_dict(data, "x.yaml")
    assert playbook.site_hazard is None and playbook.zones[0].help == ""
    data["title"] = None
    with pytest.raises(PlaybookError, match="missing required key") as caught:
        playbook_from_dict(data, "x.yaml")
    assert caught.value.key == "title"


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (lambda d: d.update(source_file="y.yaml"), "source_file", "unknown key 'source_file'"),
        (
            lambda d: d.update(titel="X"),
            "titel",
            "did you mean 'title'?); allowed keys: applies_to",
        ),
        (
            lambda d: d["zones"][0].update(default_m="500"),
            "zones[0].default_m",
            "expected a number",
        ),
        (lambda d: d["zones"][0].update(default_m=True), "zones[0].default_m", "got true/false"),
        (lambda d: d["zones"][0].update(default_m=-5), "zones[0].default_m", "greater than 0"),
        (lambda d: d["parameters"][0].update(required="oui"), "parameters[0].required", "true or"),
        (
            lambda d: d["parameters"][0].update(choices=[]),
            "parameters[0].choices",
            "only by choice",
        ),
        (lambda d: d["zones"][0].update(half_angle_deg=[30]), "zones[0].half_angle_deg", "[strong"),
        (
            lambda d: d["zones"][0].update(half_angle_deg=[30, 200]),
            "zones[0].half_angle_deg[1]",
            "",
        ),
        (lambda d: d.update(id="Sample"), "id", "'Sample' is not a valid id"),
        (lambda d: d.update(applies_to=["site", "site"]), "applies_to[1]", "duplicate value"),
        (lambda d: d.update(datasets=["schools", 3]), "datasets[1]", "expected text, got a number"),
        (lambda d: d.update({3: "x"}), "", "keys must be text"),
    ],
)
def test_declared_format_refusals(change: Any, key: str, message: str) -> None:
    data = copy.deepcopy(VALID_PLAYBOOK)
    change(data)
    with pytest.raises(PlaybookError) as caught:
        playbook_from_dict(data, "x.yaml", FIXTURE_DATASETS)
    assert (caught.value.key, caught.value.file) == (key, "x.yaml")
    assert message in caught.value.message


def test_choices_are_value_label_pairs() -> None:
    data = copy.deepcopy(VALID_PLAYBOOK)
    data["parameters"].append(
        {"name": "kind", "label": "Type", "type": "choice", "required": False, "default": "a",
         "choices": [{"value": "a", "label": "Un A"}, {"value": "b", "label": "Un B"}]}
    )  # fmt: skip
    parameter = playbook_from_dict(data, "x.yaml").parameter("kind")
    assert parameter is not None and parameter.default == "a"
    assert [(v, label) for v, label in parameter.choices] == [("a", "Un A"), ("b", "Un B")]
    assert parameter.choice_label("b") == "Un B"
    data["parameters"][-1]["choices"][1] = ["b", "Un B"]
    with pytest.raises(PlaybookError, match="expected a mapping, got a list") as caught:
        playbook_from_dict(data, "x.yaml")
    assert caught.value.key == "parameters[2].choices[1]"


def test_source_file_is_where_it_was_read(sample: Playbook) -> None:
    assert sample.source_file == str(FIXTURES / "valid-sample.yaml")
    assert playbook_from_dict(VALID_PLAYBOOK).source_file == "<playbook>"


MODELS_DOCUMENTED = [
    Playbook,
    Parameter,
    ZoneSpec,
    ChecklistItemSpec,
    MessageTemplate,
    Scenario,
    Inject,
]


@pytest.mark.parametrize("model", MODELS_DOCUMENTED, ids=lambda m: m.__name__)
def test_every_key_is_documented(model: Any) -> None:
    """A key added to a model without its row in docs/playbooks.md fails here."""
    doc = (ROOT / "docs" / "playbooks.md").read_text(encoding="utf-8")
    missing = [name for name in model.model_fields if f"`{name}`" not in doc]
    assert missing == []


def test_constants() -> None:
    assert ROLES == {"director", "cell", "liaison", "steward", "exercise", "admin"}
    assert SHAPES == ("circle", "plume", "corridor", "area")
    assert LEVELS == ("red", "orange", "yellow")


def test_message_templates_are_checked() -> None:
    """Every playbook writes the four templates; placeholders and CAP values are checked."""
    data = copy.deepcopy(VALID_PLAYBOOK)
    assert set(playbook_from_dict(data).messages) == {
        "mise-a-l-abri",
        "evacuation",
        "levee",
        "point-de-situation",
    }
    del data["messages"]["levee"]
    with pytest.raises(PlaybookError, match="missing template 'levee'") as caught:
        playbook_from_dict(data)
    assert caught.value.key == "messages"
    data = copy.deepcopy(VALID_PLAYBOOK)
    data["messages"]["evacuation"]["cbs"] = "ALERTE à {comune}"
    with pytest.raises(PlaybookError, match="unknown placeholder comune") as caught:
        playbook_from_dict(data)
    assert caught.value.key == "messages.evacuation.cbs"
    data = copy.deepcopy(VALID_PLAYBOOK)
    data["messages"]["levee"]["response"] = ["AllClear", "Relax"]
    with pytest.raises(PlaybookError) as caught:
        playbook_from_dict(data)
    assert caught.value.key == "messages.levee.response[1]"
    data = copy.deepcopy(VALID_PLAYBOOK)
    data["messages"]["mise-a-l-abri-bis"] = data["messages"]["levee"]
    with pytest.raises(PlaybookError) as caught:
        playbook_from_dict(data)
    assert caught.value.key.startswith("messages")
