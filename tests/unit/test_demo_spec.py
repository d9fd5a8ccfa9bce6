"""Demo profiles: rates, coverage and conventions are a typed spec read from YAML, and they reach the data."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest
import yaml

from pipelines.demo import __main__ as demo_main
from pipelines.demo import apply_next_day_update, build_demo
from pipelines.demo.departments import department_systems
from pipelines.demo.population import generate_population
from pipelines.demo.spec import DemoSpec, SpecError, load_spec
from pipelines.demo.state import DemoState
from pipelines.demo.systems import SourceTable, build_systems

RESIDENTS = 3_000
SEED = 5


def overrides(tmp_path: Path, document: dict[str, object]) -> Path:
    path = tmp_path / "overrides.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def tables(spec: DemoSpec, residents: int = RESIDENTS, seed: int = SEED) -> dict[str, SourceTable]:
    population = generate_population(residents, seed, spec.district_map(), spec.population)
    built = build_systems(department_systems(spec), population, seed)
    return {table.system.source: table for table in built}


def logged(table: SourceTable, kind: str) -> int:
    return int(pc.sum(pc.equal(table.errors.column("kind"), kind)).as_py() or 0)


def test_default_profile_is_the_four_wuchang_systems() -> None:
    """The default profile is 武昌区: a household register, a grid roster, assistance and insurance."""
    spec = load_spec()
    assert (spec.name, spec.district) == ("wuchang", "420106")
    assert {source: system.kind for source, system in spec.systems.items()} == {
        "public_security": "household_register",
        "grid": "grid_roster",
        "civil_affairs": "assistance",
        "social_security": "insurance",
    }
    assert spec.systems["grid"].errors["id_number"]["missing"] == 0.06


def test_overrides_merge_key_by_key(tmp_path: Path) -> None:
    """An overrides file changes the rates it names and leaves the profile's others as they are."""
    path = overrides(
        tmp_path,
        {
            "error_scale": 1.5,
            "systems": {"grid": {"coverage": 0.5, "errors": {"id_number": {"missing": 0.2}}}},
        },
    )
    spec = load_spec("wuchang", path)
    grid = spec.systems["grid"]
    assert grid.coverage == 0.5 and spec.error_scale == 1.5
    assert grid.errors["id_number"]["missing"] == 0.2
    assert grid.errors["id_number"]["masked"] == 0.03  # untouched
    assert grid.rates("id_number", spec.error_scale)["missing"] == pytest.approx(0.3)
    assert grid.rates("name", 4.0)["rare_character_as_question_mark"] == 1.0  # capped


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"systems": {"grid": {"errors": {"id_number": {"misspelt": 0.1}}}}}, r"systems\.grid.*misspelt"),
        ({"systems": {"grid": {"coverage": 1.5}}}, r"systems\.grid\.coverage"),
        ({"systems": {"grid": {"errors": {"registered_at": {"missing": 0.1}}}}}, r"no errors in 'regist"),
        (
            {"systems": {"civil_affairs": {"columns": {"shoe_size": {"name": "X", "type": "varchar(2)"}}}}},
            "shoe_size",
        ),
        ({"systems": {"grid": {"columns": {"name": {"name": "XM", "type": "text"}}}}}, r"varchar\(N\)"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_wrong_overrides_file_names_the_key(
    tmp_path: Path, document: dict[str, object], message: str
) -> None:
    """A wrong rate, role, kind or key is an error naming the file and the key, not a crash later."""
    path = overrides(tmp_path, document)
    with pytest.raises(SpecError, match=message) as raised:
        load_spec("wuchang", path)
    assert str(path) in str(raised.value)


def test_an_unknown_profile_lists_the_known_ones() -> None:
    """Asking for a profile that does not exist names the built-in ones."""
    with pytest.raises(SpecError, match=r"no such demo profile.*'wuchang'"):
        load_spec("atlantis")


def test_rates_from_the_spec_reach_the_tables(tmp_path: Path) -> None:
    """Other rates give other data: a grid missing a fifth of its ID numbers, a register with no errors."""
    path = overrides(
        tmp_path,
        {
            "systems": {
                "grid": {"errors": {"id_number": {"missing": 0.2}}},
                "public_security": {"errors": {"id_number": {"lowercase_x": 0.0}}},
                "civil_affairs": {"paid_after_death": 1.0},
            }
        },
    )
    default, other = tables(load_spec()), tables(load_spec("wuchang", path))
    for built, rate in ((default, 0.06), (other, 0.2)):
        grid = built["grid"]
        assert logged(grid, "missing") - logged(grid, "unidentifiable_record") > 0
        ids = grid.data.column("ZJHM")
        missing_ids = grid.errors.filter(
            pc.and_(
                pc.equal(grid.errors.column("kind"), "missing"),
                pc.equal(grid.errors.column("column"), "ZJHM"),
            )
        )
        assert missing_ids.num_rows == pytest.approx(rate * grid.data.num_rows, rel=0.15)
        assert ids.null_count >= missing_ids.num_rows
    assert logged(default["public_security"], "lowercase_x") > 0
    assert logged(other["public_security"], "lowercase_x") == 0
    paid = other["civil_affairs"]
    dead_recipients = logged(paid, "paid_after_death")
    assert dead_recipients >= 2
    assert dead_recipients > logged(default["civil_affairs"], "paid_after_death")


def test_error_scale_scales_what_is_injected() -> None:
    """Doubling the error scale doubles (about) every kind of error injected."""
    base = load_spec()
    doubled = base.model_copy(update={"error_scale": 2.0})
    for kind in ("homophone", "masked", "dashed"):
        once, twice = logged(tables(base)["grid"], kind), logged(tables(doubled)["grid"], kind)
        assert twice == pytest.approx(2 * once, rel=0.35), kind


def test_same_spec_and_seed_give_the_same_tables_and_other_seeds_do_not() -> None:
    """Generation is deterministic per spec and seed."""
    spec = load_spec()
    first, again, other = tables(spec), tables(spec), tables(spec, seed=SEED + 1)
    for source, table in first.items():
        assert table.data.equals(again[source].data), source
        assert table.errors.equals(again[source].errors), source
        assert not table.data.equals(other[source].data), source


def test_the_spec_is_kept_with_the_demo_and_used_the_next_day(tmp_path: Path) -> None:
    """A demo built with overrides keeps its spec in demo.json, and its next day uses it again."""
    path = overrides(tmp_path, {"systems": {"grid": {"same_day": {"address": 0.0, "phone": 0.0}}}})
    spec = load_spec("wuchang", path)
    demo = build_demo(tmp_path / "demo", residents=400, seed=3, spec=spec)
    assert DemoState.load(demo.out_dir).spec == spec
    update = apply_next_day_update(demo.out_dir)
    assert update.updated["grid"] == 0 and update.updated["public_security"] > 0
    assert DemoState.load(demo.out_dir).spec == spec


def test_the_command_line_refuses_a_wrong_overrides_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m pipelines.demo --errors FILE`` with a wrong key says which, builds nothing, exits 1."""
    path = overrides(tmp_path, {"systems": {"grid": {"errors": {"id_number": {"misspelt": 0.1}}}}})
    assert demo_main.main(["--out", str(tmp_path / "demo"), "--errors", str(path)]) == 1
    assert "misspelt" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_spec_round_trips_through_its_document() -> None:
    """The spec saved as plain data reads back as the same spec."""
    spec = load_spec()
    again = DemoSpec.model_validate(spec.document())
    assert again == spec
    assert again.population.as_of == spec.population.as_of
