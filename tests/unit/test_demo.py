"""The demo department systems: deterministic, realistically covered, and as messy as real data."""

from __future__ import annotations

import datetime
import re
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.contracts import load_contracts
from pipelines.demo import DemoSystems, apply_next_day_update, build_demo, names
from pipelines.demo.departments import default_systems, department_systems
from pipelines.demo.population import generate_population
from pipelines.demo.spec import load_spec
from pipelines.demo.systems import UNUSABLE_RULES, build_systems
from pipelines.extract import extract_source
from pipelines.layout import WarehouseLayout
from pipelines.stage import read_state, stage_source

RESIDENTS = 2_000
SEED = 7
SYSTEMS = default_systems()
TABLES = {system.source: system.table for system in SYSTEMS}
KEYS = {system.source: system.primary_key for system in SYSTEMS}
CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "sources"

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"


def is_valid_citizen_id(number: str) -> bool:
    """GB 11643: 17 digits, then the ISO 7064 MOD 11-2 check character (written out here on purpose)."""
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return False
    return CHECK[sum(int(d) * w for d, w in zip(number[:17], WEIGHTS, strict=True)) % 11] == number[17]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSystems:
    return build_demo(tmp_path_factory.mktemp("demo"), residents=RESIDENTS, seed=SEED)


def read_source(demo: DemoSystems, source: str) -> pd.DataFrame:
    with sqlite3.connect(demo.sqlite_paths[source]) as connection:
        frame = pd.read_sql_query(f"select * from {TABLES[source]}", connection)
    return frame.sort_values(KEYS[source], ignore_index=True, kind="stable")


def keys(values: Iterable[object]) -> Counter[object]:
    """Record keys as a multiset (a key may be missing, or repeated in the grid roster)."""
    return Counter(None if pd.isna(value) else value for value in values)


@pytest.fixture(scope="module")
def sources(demo: DemoSystems) -> dict[str, pd.DataFrame]:
    return {source: read_source(demo, source) for source in TABLES}


@pytest.fixture(scope="module")
def population(demo: DemoSystems) -> pd.DataFrame:
    return pq.read_table(demo.population_path).to_pandas()


@pytest.fixture(scope="module")
def truth(demo: DemoSystems) -> pd.DataFrame:
    return pq.read_table(demo.truth_path).to_pandas()


def logged(demo: DemoSystems, source: str, kind: str) -> set[str]:
    """Record keys of a source that the error log says got ``kind``."""
    errors = pq.read_table(demo.errors_path).to_pandas()
    return set(errors.source_record_id[(errors.source_system == source) & (errors.kind == kind)])


def names_the_flat(address: str, person: pd.Series) -> bool:
    """Whether an address names the person's true flat: its room, and its compound, road or community."""
    text = unicodedata.normalize("NFKC", address)
    places = [f"{person.true_road}{person.true_road_number}号", person.true_community]
    if isinstance(person.true_compound, str):
        places.append(person.true_compound)
    return str(person.true_room) in text and any(place in text for place in places)


def with_truth(
    rows: pd.DataFrame, source: str, truth: pd.DataFrame, population: pd.DataFrame
) -> pd.DataFrame:
    """Source rows joined to the true person behind each (columns of the person get a ``true_`` prefix)."""
    links = truth[truth.source_system == source].rename(columns={"source_record_id": KEYS[source]})
    people = population.add_prefix("true_").rename(columns={"true_person_key": "person_key"})
    return rows.merge(links[[KEYS[source], "person_key"]], on=KEYS[source]).merge(people, on="person_key")


# -- determinism ---------------------------------------------------------------------------------------


def test_same_seed_gives_identical_tables(
    demo: DemoSystems, sources: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    """Building again with the same seed reproduces every table and the truth exactly."""
    again = build_demo(tmp_path, residents=RESIDENTS, seed=SEED)
    for source, frame in sources.items():
        pd.testing.assert_frame_equal(read_source(again, source), frame)
    pd.testing.assert_frame_equal(
        pq.read_table(again.truth_path).to_pandas(), pq.read_table(demo.truth_path).to_pandas()
    )


def test_other_seed_gives_other_tables(sources: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    """Another seed gives other people in every table."""
    other = build_demo(tmp_path, residents=RESIDENTS, seed=SEED + 1)
    for source, frame in sources.items():
        names = set(read_source(other, source)["XM" if "XM" in frame else "AAC003"])
        assert names != set(frame["XM" if "XM" in frame else "AAC003"]), source


def test_building_again_replaces_the_tables(tmp_path: Path) -> None:
    """A second build into the same folder replaces the tables instead of adding to them."""
    first = build_demo(tmp_path, residents=500, seed=1)
    second = build_demo(tmp_path, residents=300, seed=2)
    for source in TABLES:
        assert len(read_source(second, source)) == second.row_counts[source] != first.row_counts[source]


# -- coverage ------------------------------------------------------------------------------------------


def test_coverage_of_each_system(
    sources: dict[str, pd.DataFrame], truth: pd.DataFrame, population: pd.DataFrame
) -> None:
    """Each system covers the people its department knows, at its own rate."""
    covered = {s: set(truth.person_key[truth.source_system == s]) for s in TABLES}
    people = population.set_index("person_key")
    registered = set(people.index[people.residency == "registered"])
    migrants = set(people.index[people.residency == "migrant"])
    foreigners = set(people.index[people.residency == "foreign"])
    adults = set(people.index[pd.to_datetime(people.birth_date) <= pd.Timestamp("2008-11-27")]) - foreigners
    assert 0.93 <= len(covered["public_security"] & registered) / len(registered) <= 1.0
    assert covered["public_security"] <= registered  # migrants are registered elsewhere
    assert 0.84 <= len(covered["grid"]) / len(people) <= 0.93
    assert covered["grid"] & migrants and covered["grid"] & foreigners
    assert 0.015 <= len(sources["civil_affairs"]) / len(people) <= 0.05
    assert 0.62 <= len(covered["social_security"] & adults) / len(adults) <= 0.78
    assert not (covered["civil_affairs"] | covered["social_security"]) & foreigners
    assert 0.10 <= len(migrants) / len(people) <= 0.20


def test_population_has_migrants_foreigners_and_deaths(population: pd.DataFrame) -> None:
    """About 15% are migrants, some foreigners carry passports or permits, a few percent died."""
    foreign = population[population.residency == "foreign"]
    assert set(foreign.id_type) <= {"passport", "hk_macao_permit", "tw_permit", "foreign_permanent_resident"}
    assert len(foreign) > 0
    assert 0.005 <= population.is_deceased.mean() <= 0.05
    dead = population[population.is_deceased]
    assert (pd.to_datetime(dead.death_date) > pd.to_datetime(dead.birth_date)).all()
    assert population.death_date[~population.is_deceased].isna().all()


# -- truth ---------------------------------------------------------------------------------------------


def test_truth_covers_every_source_row_exactly_once(
    sources: dict[str, pd.DataFrame], truth: pd.DataFrame, population: pd.DataFrame
) -> None:
    """Every source row has one truth row; those naming a person are one per key and source."""
    persons = truth[truth.person_key.notna()]
    assert not persons.duplicated(["source_system", "source_record_id"]).any()
    assert persons.source_record_id.notna().all()
    assert set(persons.person_key) <= set(population.person_key)
    for source, frame in sources.items():
        assert keys(truth.source_record_id[truth.source_system == source]) == keys(frame[KEYS[source]])
    assert len(truth) == sum(len(frame) for frame in sources.values())


def test_record_keys_are_the_departments_own(
    demo: DemoSystems, sources: dict[str, pd.DataFrame], population: pd.DataFrame
) -> None:
    """No source key is a person key; keys are unique but where the grid exported a row twice."""
    person_keys = set(population.person_key)
    errors = pq.read_table(demo.errors_path).to_pandas()
    for source, frame in sources.items():
        present = frame[KEYS[source]].dropna()
        present = present[present.str.strip() != ""]
        exported_twice = errors.query("source_system == @source and kind == 'duplicate_primary_key'")
        assert set(present[present.duplicated()]) == set(exported_twice.source_record_id), source
        assert not set(present) & person_keys


# -- rows standardizing has to reject -------------------------------------------------------------------


def test_grid_has_unusable_rows_of_each_kind(
    demo: DemoSystems, sources: dict[str, pd.DataFrame], truth: pd.DataFrame
) -> None:
    """Grid rows without a key, keys exported twice, rows with no name and no usable ID; none a person's."""
    grid = sources["grid"]
    keyless = grid.RYBH.isna() | (grid.RYBH.fillna("").str.strip() == "")
    repeated = ~keyless & grid.RYBH.duplicated()
    nameless = grid.XM.isna() | (grid.XM.fillna("").str.strip() == "")
    no_id = grid.ZJHM.isna() | grid.ZJHM.isin(["无", "不详", "000000000000000000"])
    unidentifiable = ~keyless & nameless & no_id
    assert keyless.sum() >= 2 and repeated.sum() >= 2 and unidentifiable.sum() >= 2
    assert keyless.sum() + repeated.sum() + unidentifiable.sum() <= 0.005 * len(grid) + 6
    junk = truth[truth.person_key.isna()]
    assert keys(junk.source_record_id[junk.source_system == "grid"]) == keys(
        grid.RYBH[keyless | repeated | unidentifiable]
    )
    errors = pq.read_table(demo.errors_path).to_pandas().query("source_system == 'grid'")
    assert set(UNUSABLE_RULES) <= set(errors.kind)


def test_standardizing_quarantines_the_unusable_rows(
    demo: DemoSystems, truth: pd.DataFrame, tmp_path: Path
) -> None:
    """The grid's junk rows land in quarantine, each under its rule with a reason; persons' rows are kept."""
    contract = next(c for c in load_contracts(CONTRACTS_DIR) if c.name == "grid")
    layout = WarehouseLayout(tmp_path / "warehouse")
    extract_source(contract, layout, demo.environment())
    result = stage_source(contract, layout)
    state = read_state(layout, "grid")
    quarantine = state.quarantine.to_pandas()
    assert quarantine.groupby("rule").size().to_dict() == {rule: 2 for rule in UNUSABLE_RULES}
    assert dict(zip(quarantine.rule, quarantine.reason, strict=True)) == {
        "missing_primary_key": "no primary key",
        "duplicate_primary_key": "primary key repeated in batch",
        "unidentifiable_record": "neither a name nor a usable ID number",
    }
    assert quarantine.raw_values.notna().all()
    grid = truth[truth.source_system == "grid"]
    assert keys(quarantine.source_record_id) == keys(grid.source_record_id[grid.person_key.isna()])
    assert set(state.records.column("source_record_id").to_pylist()) == set(
        grid.source_record_id[grid.person_key.notna()]
    )
    assert result.records + result.quarantined == len(grid)


# -- the population's ID numbers, twins and namesakes -------------------------------------------------


def test_population_ids_pass_gb11643_and_agree_with_birth_date_and_sex(population: pd.DataFrame) -> None:
    """Every citizen ID number has a correct check character, the person's birth date and sex digit."""
    citizens = population[population.id_type == "cn_resident_id"]
    assert citizens.id_number.map(is_valid_citizen_id).all()
    assert citizens.id_number.is_unique
    births = pd.to_datetime(citizens.birth_date).dt.strftime("%Y%m%d")
    assert (citizens.id_number.str[6:14] == births).all()
    male_digit = citizens.id_number.str[16].astype(int) % 2 == 1
    assert (male_digit == (citizens.gender == "M")).all()


def test_twins_share_surname_birth_date_and_home_but_not_person_key(population: pd.DataFrame) -> None:
    """Twins exist; each pair shares surname, birth date, household and home, with adjacent ID numbers."""
    people = population.set_index("person_key")
    twins = people[people.twin_of.notna()]
    assert len(twins) >= 2
    for key, twin in twins.iterrows():
        other = people.loc[twin.twin_of]
        assert other.twin_of == key != twin.twin_of
        assert (other.surname, other.birth_date, other.household_key, other.address) == (
            twin.surname,
            twin.birth_date,
            twin.household_key,
            twin.address,
        )
        assert other.id_number[:14] == twin.id_number[:14] and other.id_number != twin.id_number
        assert abs(int(other.id_number[14:17]) - int(twin.id_number[14:17])) <= 3


def test_strangers_share_a_name_and_birth_date(population: pd.DataFrame) -> None:
    """Unrelated people share one name and birth date, in different households, with different IDs."""
    people = population.set_index("person_key")
    namesakes = people[people.namesake_of.notna()]
    assert len(namesakes) >= 2
    for key, person in namesakes.iterrows():
        other = people.loc[person.namesake_of]
        assert (other["name"], other.birth_date, other.gender) == (
            person["name"],
            person.birth_date,
            person.gender,
        )
        assert other.household_key != person.household_key
        assert other.id_number != person.id_number and key != person.namesake_of


def test_common_names_repeat(population: pd.DataFrame) -> None:
    """Surnames follow real frequencies, so the commonest full names repeat many times."""
    assert population.name.value_counts().iloc[0] >= 3
    assert population.surname.value_counts().index[:3].isin(["王", "李", "张", "刘", "陈"]).all()
    dotted = population.name.str.contains("·", regex=False)
    assert 0.002 <= dotted.mean() <= 0.03


# -- every error kind is in the output ------------------------------------------------------------------

TRADITIONAL = set(
    "張劉陳楊黃趙吳孫馬羅鄭謝許韓鄧馮蔣葉蘇呂盧鍾譚陸韋賈鄒閆龍賀顧龔萬聶單偉強軍傑濤剛輝鵬華飛凱帥寧東軒靜麗艷紅潔穎蘭瑤國榮澤銘陽曉雲鳳詩夢語諾悅鳴"
)
HAN = r"[\u4e00-\u9fff]"
RARE = "[喆堃翀玥淼]"
UYGHUR_GIVEN = names.MINORITY_GIVEN[True] + names.MINORITY_GIVEN[False]


def _matches(pattern: str) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str) and re.fullmatch(pattern, value) is not None


def _fails_check(value: object) -> bool:
    return (
        isinstance(value, str)
        and re.fullmatch(r"\d{17}[\dX]", value) is not None
        and not is_valid_citizen_id(value)
    )


def _lost_digits(value: object) -> bool:
    return isinstance(value, str) and value.endswith("000") and _fails_check(value)


def _traditional(value: object) -> bool:
    return isinstance(value, str) and bool(set(value) & TRADITIONAL)


def _padded(value: object) -> bool:
    return isinstance(value, str) and value != value.strip()


def _placeholder(value: object) -> bool:
    return value in {"000000000000000000", "111111111111111111", "123456789012345678", "无", "不详"}


def _dotted_name_run_together(value: object) -> bool:
    """A Uyghur name (given name, father's name) written without any dot."""
    return (
        isinstance(value, str)
        and value.startswith(UYGHUR_GIVEN)
        and re.fullmatch(f"{HAN}{{4,}}", value) is not None
    )


ERROR_KINDS: list[tuple[str, str, str, Callable[[object], bool]]] = [
    ("grid", "ZJHM", "missing", lambda v: v is None),
    ("grid", "ZJHM", "masked middle", _matches(r"\d{6}\*{8}\d{3}[\dXx]")),
    ("grid", "ZJHM", "placeholder", _placeholder),
    ("grid", "ZJHM", "lowercase x", _matches(r"\d{17}x")),
    ("grid", "ZJHM", "full-width digits", _matches(r"[０-９]{17}[０-９Ｘ]")),
    ("grid", "ZJHM", "old 15-digit", _matches(r"\d{15}")),
    ("grid", "ZJHM", "spaces inside", _matches(r"\d{6} \d{8} \d{3}[\dX]")),
    ("grid", "ZJHM", "wrong check character", _fails_check),
    ("grid", "ZJLX", "missing document type", lambda v: v is None),
    ("grid", "ZJLX", "passport", lambda v: v == "414"),
    ("grid", "XM", "pinyin only", _matches(r"[A-Za-z]+( [A-Za-z]+)?")),
    ("grid", "XM", "space inside", _matches(rf"{HAN}+[ \u3000]+{HAN}+")),
    ("grid", "XM", "traditional characters", _traditional),
    ("grid", "XM", "other middle dot", _matches(rf"{HAN}+[•.．・]{HAN}+")),
    ("grid", "XM", "dotted name run together", _dotted_name_run_together),
    ("grid", "XM", "surrounding spaces", _padded),
    ("grid", "XB", "missing gender", lambda v: v is None),
    ("grid", "CSRQ", "YYYY/MM/DD", _matches(r"\d{4}/\d{2}/\d{2}")),
    ("grid", "CSRQ", "YYYY年M月D日", _matches(r"\d{4}年\d{1,2}月\d{1,2}日")),
    ("grid", "CSRQ", "missing birth date", lambda v: v is None),
    ("grid", "LXDH", "plain mobile", _matches(r"1\d{10}")),
    ("grid", "LXDH", "dashed mobile", _matches(r"1\d{2}-\d{4}-\d{4}")),
    ("grid", "LXDH", "spaced mobile", _matches(r"1\d{2} \d{4} \d{4}")),
    ("grid", "LXDH", "country code", _matches(r"(\+86 ?|0086 |86-|\(\+86\))1\d{10}")),
    ("grid", "LXDH", "two numbers", _matches(r"1\d{10}[/，; ]1\d{10}")),
    ("grid", "LXDH", "landline with area code", _matches(r"027-\d{8}")),
    ("grid", "LXDH", "landline in brackets", _matches(r"\(027\)\d{8}")),
    ("grid", "LXDH", "landline without area code", _matches(r"[568]\d{7}")),
    ("grid", "LXDH", "missing phone", lambda v: v is None),
    ("grid", "LXDH", "full-width digits", _matches(r"[０-９\-]+")),
    ("grid", "XZZ", "abbreviated flat", _matches(rf"{HAN}+\d+-\d+-\d+")),
    ("grid", "RYLB", "migrant", lambda v: v == "流动"),
    ("public_security", "GMSFHM", "lowercase x", _matches(r"\d{17}x")),
    ("public_security", "XM", "surrounding spaces", _padded),
    ("public_security", "SWBZ", "deceased", lambda v: v == "1"),
    ("public_security", "CSRQ", "YYYYMMDD", _matches(r"\d{8}")),
    ("civil_affairs", "XM", "traditional characters", _traditional),
    ("civil_affairs", "SFZJHM", "full-width digits", _matches(r"[０-９]{17}[０-９Ｘ]")),
    ("civil_affairs", "SFZJHM", "old 15-digit", _matches(r"\d{15}")),
    ("civil_affairs", "SFZJHM", "missing", lambda v: v is None),
    ("civil_affairs", "XB", "M/F", lambda v: v in {"M", "F"}),
    ("civil_affairs", "CSRQ", "YYYY-MM-DD", _matches(r"\d{4}-\d{2}-\d{2}")),
    ("civil_affairs", "JZLB", "临时救助", lambda v: v == "临时救助"),
    ("civil_affairs", "SFZJHM", "lowercase x", _matches(r"\d{17}x")),
    ("civil_affairs", "SFZJHM", "surrounding spaces", _padded),
    ("civil_affairs", "XM", "space inside", _matches(rf"{HAN}+[ \u3000]+{HAN}+")),
    ("civil_affairs", "LXDH", "dashed mobile", _matches(r"1\d{2}-\d{4}-\d{4}")),
    ("civil_affairs", "LXDH", "missing phone", lambda v: v is None),
    ("social_security", "AAC002", "Excel scientific notation", _matches(r"\d\.\d+E\+17")),
    ("social_security", "AAC002", "Excel lost digits", _lost_digits),
    ("social_security", "AAC002", "old 15-digit", _matches(r"\d{15}")),
    ("social_security", "AAC002", "lowercase x", _matches(r"\d{17}x")),
    ("social_security", "AAC002", "full-width digits", _matches(r"[０-９]{17}[０-９Ｘ]")),
    ("social_security", "AAC002", "surrounding spaces", lambda v: isinstance(v, str) and v != v.strip()),
    ("social_security", "AAC003", "padded with an ideographic space", _matches(rf"{HAN}\u3000{HAN}")),
    ("social_security", "AAE005", "country code", _matches(r"(\+86 ?|0086 |86-|\(\+86\))1\d{10}")),
    ("social_security", "AAC008", "terminated", lambda v: v == "3"),
    ("social_security", "AIC162", "retired", _matches(r"\d{4}-\d{2}-\d{2}")),
    ("social_security", "AAC003", "traditional characters", _traditional),
    ("social_security", "AAE005", "dashed mobile", _matches(r"1\d{2}-\d{4}-\d{4}")),
    ("social_security", "AAE005", "missing phone", lambda v: v is None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "column", "kind", "predicate"), ERROR_KINDS, ids=[f"{s}-{c}-{k}" for s, c, k, _ in ERROR_KINDS]
)
def test_error_kind_is_present(
    sources: dict[str, pd.DataFrame], source: str, column: str, kind: str, predicate: Callable[[object], bool]
) -> None:
    """Each kind of messy value occurs in the source even at a small size."""
    values = sources[source][column].astype(object).where(sources[source][column].notna(), None)
    assert any(predicate(value) for value in values), f"no {kind} in {source}.{column}"


def test_rare_characters_come_out_as_question_marks(
    sources: dict[str, pd.DataFrame], truth: pd.DataFrame, population: pd.DataFrame
) -> None:
    """Systems lacking rare characters store '?' instead: civil affairs always, the grid often."""

    def rare(source: str) -> pd.DataFrame:
        rows = with_truth(sources[source], source, truth, population)
        return rows[rows.true_name.str.contains(RARE) & rows.XM.notna()]

    grid = rare("grid")
    assert any(
        written == re.sub(RARE, "?", true) for written, true in zip(grid.XM, grid.true_name, strict=True)
    )
    assert all("?" in written for written in rare("civil_affairs").XM)


def test_homophone_typos_change_one_character(
    sources: dict[str, pd.DataFrame], truth: pd.DataFrame, population: pd.DataFrame
) -> None:
    """Some grid names differ from the true name in exactly one character of the same sound."""
    rows = with_truth(sources["grid"], "grid", truth, population)
    han = rows[
        rows.XM.notna()
        & rows.XM.str.fullmatch(f"{HAN}{{2,4}}")
        & rows.true_name.str.fullmatch(f"{HAN}{{2,4}}")
    ]
    one_off = han[
        [
            len(a) == len(b)
            and sum(x != y for x, y in zip(a, b, strict=True)) == 1
            and not set(a) & TRADITIONAL
            for a, b in zip(han.XM, han.true_name, strict=True)
        ]
    ]
    assert len(one_off) >= 2
    assert (one_off.XM.str[0] == one_off.true_name.str[0]).any() or (
        one_off.XM.str[-1] == one_off.true_name.str[-1]
    ).any()


def test_pinyin_names_spell_the_true_name(
    sources: dict[str, pd.DataFrame], truth: pd.DataFrame, population: pd.DataFrame
) -> None:
    """A pinyin-only grid name is the person's name in pinyin, in some order and case."""
    rows = with_truth(sources["grid"], "grid", truth, population)
    pinyin = rows[rows.XM.notna() & rows.XM.str.fullmatch(r"[A-Za-z ]+") & (rows.RYLB != "境外")]
    assert len(pinyin) >= 2
    for written, true in zip(pinyin.XM, pinyin.true_name_pinyin, strict=True):
        assert sorted(written.lower().split()) in (
            sorted(true.lower().split()),
            [true.lower().replace(" ", "")],
        )


def test_grid_birth_dates_sometimes_disagree_with_the_id_number(sources: dict[str, pd.DataFrame]) -> None:
    """A few grid birth dates are mistyped: a valid ID number says another day."""
    grid = sources["grid"]
    valid = grid[grid.ZJHM.map(lambda v: isinstance(v, str) and is_valid_citizen_id(v)) & grid.CSRQ.notna()]
    written = pd.to_datetime(
        valid.CSRQ.str.replace(r"(\d+)年(\d+)月(\d+)日", r"\1/\2/\3", regex=True), format="%Y/%m/%d"
    )
    encoded = pd.to_datetime(valid.ZJHM.str[6:14], format="%Y%m%d")
    off = (written - encoded).dt.days
    assert (off != 0).sum() >= 2
    assert off[off != 0].abs().max() <= 3


def test_social_security_keeps_old_contacts_and_dead_members(
    demo: DemoSystems, sources: dict[str, pd.DataFrame], truth: pd.DataFrame, population: pd.DataFrame
) -> None:
    """Some insured have an address or phone they no longer use, and some deceased are still insured."""
    rows = with_truth(sources["social_security"], "social_security", truth, population)
    stale = logged(demo, "social_security", "stale_address")
    moved = rows[rows.AAC001.isin(stale)]
    assert len(moved) >= 2
    assert not any(
        names_the_flat(a, person) for a, (_, person) in zip(moved.AAE006, moved.iterrows(), strict=True)
    )
    digits = rows.AAE005.fillna("").str.replace(r"\D", "", regex=True).str[-11:]
    renumbered = rows.AAE005.notna() & (digits != rows.true_phone.str.replace("-", "").str[-11:])
    assert renumbered.sum() >= 2
    assert ((rows.AAC008 == "1") & rows.true_is_deceased).sum() >= 1


def test_grid_registers_some_people_twice(truth: pd.DataFrame) -> None:
    """The grid roster holds duplicates: one person under two record keys."""
    grid = truth[truth.source_system == "grid"]
    assert grid.person_key.duplicated().sum() >= 2


def test_civil_affairs_pays_some_people_public_security_knows_are_dead(
    sources: dict[str, pd.DataFrame], truth: pd.DataFrame, population: pd.DataFrame
) -> None:
    """A cross-source conflict to find: payments 正常 for people the household register marks dead."""
    dead = set(
        with_truth(sources["public_security"], "public_security", truth, population)
        .query("SWBZ == '1'")
        .person_key
    )
    paid = with_truth(sources["civil_affairs"], "civil_affairs", truth, population).query("FFZT == '正常'")
    assert set(paid.person_key) & dead


def test_the_deceased_still_paid_or_insured_are_exactly_the_logged_ones(
    demo: DemoSystems, sources: dict[str, pd.DataFrame], truth: pd.DataFrame, population: pd.DataFrame
) -> None:
    """The log names every deceased person still paid (civil affairs) and still insured (social security)."""
    for source, status, active, kind in (
        ("civil_affairs", "FFZT", "正常", "paid_after_death"),
        ("social_security", "AAC008", "1", "insured_after_death"),
    ):
        rows = with_truth(sources[source], source, truth, population)
        still = set(rows[KEYS[source]][rows.true_is_deceased & (rows[status] == active)])
        assert len(still) >= 2 and still == logged(demo, source, kind), source


def test_error_log_names_existing_records(demo: DemoSystems, truth: pd.DataFrame) -> None:
    """The injected-error log only names records that exist, and records each kind it injected."""
    errors = pq.read_table(demo.errors_path).to_pandas()
    known = set(zip(truth.source_system, truth.source_record_id, strict=True))
    assert set(zip(errors.source_system, errors.source_record_id, strict=True)) <= known
    assert {"masked", "pinyin_only", "excel_scientific", "homophone"} <= set(errors.kind)


# -- places: divisions, flats, households, grids ------------------------------------------------------

DIVISIONS = Path(__file__).resolve().parents[2] / "schemas" / "divisions" / "420106.csv"
ADDRESS_COLUMNS = {
    "public_security": "HJDZ",
    "grid": "XZZ",
    "civil_affairs": "JTZZ",
    "social_security": "AAE006",
}
PLACE_KEYS = ["dwelling_key", "household_key", "grid_code"]


@pytest.fixture(scope="module")
def divisions() -> pd.DataFrame:
    return pd.read_csv(DIVISIONS, dtype=str, keep_default_na=False)


def test_division_table_is_a_tree_of_real_streets_communities_and_grids(divisions: pd.DataFrame) -> None:
    """The 14 real streets of 武昌区, communities under them (12 digits), grids under communities (15)."""
    assert list(divisions.columns) == ["code", "name", "level", "parent_code"]
    assert divisions.code.is_unique
    streets = divisions[divisions.level == "street"]
    assert len(streets) == 14 and {"积玉桥街道", "粮道街道", "南湖街道"} <= set(streets.name)
    assert dict(zip(streets.name, streets.code, strict=True))["粮道街道"] == "420106005"
    level_of = divisions.set_index("code").level
    for level, parent_level, digits in (
        ("street", "district", 9),
        ("community", "street", 12),
        ("grid", "community", 15),
    ):
        rows = divisions[divisions.level == level]
        assert len(rows) and rows.code.str.fullmatch(rf"\d{{{digits}}}").all(), level
        assert (rows.code.str[: digits - 3] == rows.parent_code).all(), level
        assert (level_of.loc[rows.parent_code].to_numpy() == parent_level).all(), level


def test_truth_places_each_record_where_its_person_lives(
    truth: pd.DataFrame, population: pd.DataFrame, divisions: pd.DataFrame
) -> None:
    """A record's truth is its person's flat, household and grid; a flat is in one grid of its community."""
    rows = truth[truth.person_key.notna()].merge(population[["person_key", *PLACE_KEYS]], on="person_key")
    for key in PLACE_KEYS:
        assert (rows[f"{key}_x"] == rows[f"{key}_y"]).all(), key
    assert truth[truth.person_key.isna()][PLACE_KEYS].isna().all().all()
    assert population.groupby("dwelling_key").grid_code.nunique().max() == 1
    assert population.groupby("household_key").dwelling_key.nunique().max() == 1
    grid_parent = divisions.set_index("code").parent_code
    assert (grid_parent.loc[population.grid_code].to_numpy() == population.division_code.to_numpy()).all()
    assert population.dwelling_key.str.fullmatch(r"420106B\d{5}-\d{2}-\d{4}").all()
    shared = population.groupby("dwelling_key").household_key.nunique()
    assert shared.max() >= 2  # flatmates: two households in one flat (合租)


def test_registered_households_are_registered_at_their_flat_or_apart(
    population: pd.DataFrame, sources: dict[str, pd.DataFrame], truth: pd.DataFrame
) -> None:
    """人户分离: about 15% of registered households are registered at another flat; a household shares one."""
    registered = population[population.residency == "registered"]
    apart = (
        (registered.registered_dwelling_key != registered.dwelling_key)
        .groupby(registered.household_key)
        .first()
    )
    assert 0.10 <= apart.mean() <= 0.20
    assert registered.groupby("household_key").registered_dwelling_key.nunique().max() == 1
    assert population[population.residency != "registered"].registered_dwelling_key.isna().all()
    register = with_truth(sources["public_security"], "public_security", truth, population)
    assert register.groupby("HH").true_household_key.nunique().max() == 1
    assert register.groupby("true_household_key").HH.nunique().max() == 1
    assert (register.true_registered_division_code == register.SSXQDM).all()


def test_grid_roster_places_residents_in_their_grid(
    demo: DemoSystems, sources: dict[str, pd.DataFrame], truth: pd.DataFrame, population: pd.DataFrame
) -> None:
    """The roster's 网格编码 and community are its resident's, but on second records left at an old flat."""
    rows = with_truth(sources["grid"], "grid", truth, population)
    assert (rows.WGBM.str[:12] == rows.SQDM).all()
    stale = rows.RYBH.isin(logged(demo, "grid", "stale_address"))
    assert stale.sum() >= 2 and (rows.RYBH[stale].isin(rows.RYBH[rows.duplicated("person_key")])).all()
    assert (rows.true_grid_code == rows.WGBM)[~stale].all()
    assert (rows.true_division_code == rows.SQDM)[~stale].all()
    assert (rows.true_grid_code != rows.WGBM)[stale].mean() > 0.9


ADDRESS_FORMS: list[tuple[str, str]] = [
    ("road and number, 栋 单元 室", r"[^\d]+[路街道]\d+号\d+栋\d+单元\d+室"),
    ("city and district, 幢, no 室", r"武汉市武昌区\D+\d+号?\D*\d+幢\d+单元\d+"),
    ("compound, building and room, no unit", r"\D+[^\d号]\d+[栋幢]\d+室"),
    ("community, building", r"(\D+街道)?\D+社区\d+栋\d+单元\d+"),
    ("dashed building-unit-room", r"\D+\d+-\d+-\d+"),
    ("full administrative prefix", r"湖北省武汉市武昌区\D+街道\D+社区.+"),
    ("号楼", r".+\d+号楼.+"),
    ("座", r".+\d+座.+"),
    ("门", r".+\d+门\d+.*"),
    ("号 as the room's marker", r".+单元\d+号"),
    ("full-width digits", r".*[０-９]+.*"),
    ("Chinese numerals", r".*[一二三四五六七八九十]+[栋幢].*"),
]


@pytest.mark.parametrize(("form", "pattern"), ADDRESS_FORMS, ids=[form for form, _ in ADDRESS_FORMS])
def test_addresses_are_written_in_every_form(
    sources: dict[str, pd.DataFrame], form: str, pattern: str
) -> None:
    """Some system writes addresses in each of the forms real exports use."""
    written = pd.concat([sources[s][column] for s, column in ADDRESS_COLUMNS.items()]).dropna()
    assert written.str.fullmatch(pattern).any(), form


def test_addresses_name_the_true_flat(
    demo: DemoSystems, sources: dict[str, pd.DataFrame], truth: pd.DataFrame, population: pd.DataFrame
) -> None:
    """However written, an address names its resident's room and compound, road or community."""
    for source in ("grid", "civil_affairs", "social_security"):
        column = ADDRESS_COLUMNS[source]
        rows = with_truth(sources[source], source, truth, population)
        key = KEYS[source]
        odd = logged(demo, source, "stale_address") | logged(demo, source, "compound_typo")
        rows = rows[~rows[key].isin(odd)]
        named = [
            names_the_flat(a, person) for a, (_, person) in zip(rows[column], rows.iterrows(), strict=True)
        ]
        assert all(named), (source, rows[column][[not n for n in named]].head().tolist())
    assert logged(demo, "grid", "compound_typo") and logged(demo, "civil_affairs", "full_width")


# -- errors that break identity: borrowed numbers, no number, names across scripts ----------------------

IDENTITY_RATES = {
    "population": {"foreign_share": 0.08},
    "systems": {
        "grid": {
            "errors": {
                "id_number": {"head_id_on_member": 0.05, "parent_id_on_child": 0.1, "no_usable_id": 0.05},
                "name": {
                    "surname_typo": 0.02,
                    "transliterated": 0.3,
                    "name_order_swapped": 0.3,
                    "surname_changed": 0.3,
                },
            },
        },
        "social_security": {"foreign_coverage": 0.6, "errors": {"name": {"transliterated": 0.8}}},
    },
}


@pytest.fixture(scope="module")
def identity_demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """Tables (with their true persons) and error log of a demo with every identity error turned up."""
    folder = tmp_path_factory.mktemp("identity")
    (folder / "rates.yaml").write_text(yaml.safe_dump(IDENTITY_RATES), encoding="utf-8")
    spec = load_spec("wuchang", folder / "rates.yaml")
    population = generate_population(3_000, SEED, spec.district_map(), spec.population)
    built = build_systems(department_systems(spec), population, SEED)
    people = population.to_pandas().add_prefix("true_").rename(columns={"true_person_key": "person_key"})
    tables = {
        table.system.source: table.data.to_pandas()
        .assign(person_key=table.person_keys.to_pylist())
        .merge(people, on="person_key")
        for table in built
    }
    errors = pd.concat([table.errors.to_pandas() for table in built])
    return tables, errors, population.to_pandas()


def rows_with(tables: dict[str, pd.DataFrame], errors: pd.DataFrame, source: str, kind: str) -> pd.DataFrame:
    table = tables[source]
    keys = errors.source_record_id[(errors.source_system == source) & (errors.kind == kind)]
    return table[table[KEYS[source]].isin(set(keys))]


def test_members_are_listed_under_their_head_s_number(identity_demo) -> None:
    """A spouse or child on the roster has the head's citizen ID, and their own name, birth date and sex."""
    tables, errors, population = identity_demo
    heads = population.groupby("household_key").id_number.first()
    grid = tables["grid"]
    for kind, rate, adult in (("head_id_on_member", 0.05, True), ("parent_id_on_child", 0.1, False)):
        rows = rows_with(tables, errors, "grid", kind)
        assert (rows.ZJHM.to_numpy() == heads.loc[rows.true_household_key].to_numpy()).all(), kind
        assert (rows.true_id_number != rows.ZJHM).all(), kind
        age = (pd.Timestamp("2026-11-27") - pd.to_datetime(rows.true_birth_date)).dt.days / 365.25
        assert ((age >= 18) == adult).all(), kind
        born = pd.to_datetime(rows.true_birth_date).dt.strftime("%Y%m%d")
        assert (rows.ZJHM.str[6:14] != born).mean() > 0.8, kind  # the number contradicts its record
        pool = grid[(grid.true_id_type == "cn_resident_id") & ((age_of(grid) >= 18) == adult)]
        members = pool[pool.true_id_number != heads.loc[pool.true_household_key].to_numpy()]
        assert len(rows) == pytest.approx(rate * len(members), rel=0.35), kind


def age_of(rows: pd.DataFrame) -> pd.Series:
    return (pd.Timestamp("2026-11-27") - pd.to_datetime(rows.true_birth_date)).dt.days / 365.25


def test_records_without_a_usable_number_keep_name_birth_date_and_flat(identity_demo) -> None:
    """No usable ID (blank, 不详, zeros, masked), but the exact name and birth date, the flat by community."""
    tables, errors, _ = identity_demo
    rows = rows_with(tables, errors, "grid", "no_usable_id")
    assert len(rows) >= 10 and (rows.true_residency == "registered").all()
    unusable = (
        rows.ZJHM.isna()
        | rows.ZJHM.isin(["", "不详", "000000000000000000"])
        | rows.ZJHM.str.contains(r"\*{8}", na=False)
    )
    assert unusable.all()
    assert {"", "不详", "000000000000000000"} <= set(rows.ZJHM.dropna()) or len(rows) < 20
    assert (rows.true_name == rows.XM).all()
    written = rows.CSRQ.dropna().str.replace(r"(\d+)年(\d+)月(\d+)日", r"\1/\2/\3", regex=True)
    assert (pd.to_datetime(written, format="%Y/%m/%d").dt.date == rows.true_birth_date[written.index]).all()
    stale = rows_with(tables, errors, "grid", "stale_address").RYBH
    in_compound = rows[rows.true_compound.notna() & ~rows.RYBH.isin(stale)]
    assert all(
        community in address
        for community, address in zip(in_compound.true_community, in_compound.XZZ, strict=True)
    )


def test_names_go_wrong_across_scripts_and_orders(identity_demo) -> None:
    """Latin names in Chinese, in the other order, with another surname; Han surnames mistyped by sound."""
    tables, errors, _ = identity_demo
    written = rows_with(tables, errors, "grid", "transliterated")
    assert len(written) >= 2 and (written.true_name_chinese == written.XM).all()
    assert written.XM.str.contains("·").any() or written.XM.str.fullmatch(r"[\u4e00-\u9fff]+").all()
    swapped = rows_with(tables, errors, "grid", "name_order_swapped")
    assert len(swapped) >= 2
    for name, true, surname in zip(swapped.XM, swapped.true_name, swapped.true_surname, strict=True):
        assert name != true and sorted(name.split()) == sorted(true.split()) and name.endswith(surname)
    changed = rows_with(tables, errors, "grid", "surname_changed")
    assert len(changed) >= 2 and (changed.true_gender == "F").all()
    for name, true, surname in zip(changed.XM, changed.true_name, changed.true_surname, strict=True):
        assert not name.startswith(surname + " ") and name.endswith(true[len(surname) :])
    typos = rows_with(tables, errors, "grid", "surname_typo")
    assert len(typos) >= 2
    for name, true in zip(typos.XM, typos.true_name, strict=True):
        assert len(name) == len(true) and sum(a != b for a, b in zip(name, true, strict=True)) == 1
    han = typos[typos.true_name.str.fullmatch(r"[\u4e00-\u9fff]+")]
    assert (han.XM.str[1:] == han.true_name.str[1:]).all() and (han.XM.str[0] != han.true_name.str[0]).all()


def test_insured_foreigners_are_written_in_chinese_with_their_document_type(identity_demo) -> None:
    """Foreigners working here are insured, their passports typed as such and most names in Chinese."""
    tables, errors, _ = identity_demo
    insured = tables["social_security"]
    foreign = insured[insured.true_residency == "foreign"]
    assert len(foreign) >= 5
    assert (
        set(foreign.AAC058) <= {"2", "3", "4", "5"}
        and (insured.AAC058[insured.true_residency != "foreign"] == "1").all()
    )
    latin = foreign[foreign.true_name_chinese.notna()]
    assert (latin.true_name_chinese == latin.AAC003).mean() > 0.5


# -- contracts -------------------------------------------------------------------------------------------


def test_contracts_describe_the_demo_tables(sources: dict[str, pd.DataFrame]) -> None:
    """Each source contract names its table, key and columns, and its code lists cover the demo's codes."""
    contracts = {c.name: c for c in load_contracts(CONTRACTS_DIR)}
    assert set(TABLES) <= set(contracts)
    for system in SYSTEMS:
        contract = contracts[system.source]
        frame = sources[system.source]
        assert (contract.table, contract.primary_key) == (system.table, system.primary_key)
        assert contract.incremental_column == system.updated_column
        assert set(contract.source_columns) <= set(frame.columns)
        for field, mapping in contract.fields.items():
            if mapping.codes is not None and mapping.column is not None:
                present = set(frame[mapping.column].dropna())
                assert present <= set(mapping.codes), (
                    f"{system.source}.{field}: {present - set(mapping.codes)}"
                )


# -- the next day ------------------------------------------------------------------------------------------


def test_next_day_changes_rows_in_place_and_adds_rows(tmp_path: Path) -> None:
    """A daily update bumps the update column of changed rows, adds newcomers, and keeps the truth whole."""
    demo = build_demo(tmp_path, residents=RESIDENTS, seed=SEED)
    before = {source: read_source(demo, source) for source in TABLES}
    before_population = pq.read_table(demo.population_path).to_pandas()
    update = apply_next_day_update(tmp_path, fraction=0.03)
    after = {source: read_source(demo, source) for source in TABLES}
    truth = pq.read_table(demo.truth_path).to_pandas()
    assert update.day == datetime.date(2026, 11, 28)
    assert update.arrivals > 0 and update.deaths > 0
    for system in SYSTEMS:
        old, new = before[system.source], after[system.source]
        assert len(new) == len(old) + update.inserted[system.source]
        stamps = new[system.updated_column]
        assert (stamps.str[:10] == "2026-11-28").sum() >= update.inserted[system.source] + min(
            update.updated[system.source], 1
        )
        assert old[system.updated_column].max() < "2026-11-28"
        assert keys(truth.source_record_id[truth.source_system == system.source]) == keys(
            new[system.primary_key]
        )
    died = after["public_security"].query("SWRQ == '20261127'")
    assert len(died) > 0 and (died.SWBZ == "1").all()
    population = pq.read_table(demo.population_path).to_pandas()
    assert len(population) == RESIDENTS + update.arrivals
    citizens = population.id_number[population.id_type == "cn_resident_id"]
    assert citizens.is_unique and citizens.map(is_valid_citizen_id).all()
    assert_moves_keep_places_in_step(demo, before_population, population, truth)
    assert apply_next_day_update(tmp_path).day == datetime.date(2026, 11, 29)


def assert_moves_keep_places_in_step(
    demo: DemoSystems, before: pd.DataFrame, after: pd.DataFrame, truth: pd.DataFrame
) -> None:
    """Whole households move to new flats, in their grid or elsewhere; the truth and the roster follow."""
    both = before.merge(after, on="person_key", suffixes=("_before", ""))
    moved = both[both.dwelling_key != both.dwelling_key_before]
    assert len(moved) > 0
    assert (moved.household_key == moved.household_key_before).all()
    stayed = both[both.household_key.isin(moved.household_key) & ~both.is_deceased_before]
    assert (stayed.dwelling_key != stayed.dwelling_key_before).all()  # every living member moved
    same_grid = moved.grid_code == moved.grid_code_before
    assert same_grid.any() and not same_grid.all()
    reregistered = moved[moved.registered_dwelling_key.notna()]
    assert (reregistered.registered_dwelling_key == reregistered.dwelling_key).any()
    rows = truth[truth.person_key.notna()].merge(after[["person_key", *PLACE_KEYS]], on="person_key")
    for key in PLACE_KEYS:
        assert (rows[f"{key}_x"] == rows[f"{key}_y"]).all(), key


def test_a_next_day_on_a_tiny_demo_has_nobody_arriving(tmp_path: Path) -> None:
    """A day on a demo too small for anyone to arrive still plays (it used to fail on no newcomers)."""
    build_demo(tmp_path, residents=3, seed=SEED)
    update = apply_next_day_update(tmp_path)
    assert update.arrivals == 0 and not any(update.inserted.values())
    assert len(pq.read_table(tmp_path / "population.parquet")) == 3


def test_next_day_needs_the_urls_the_demo_was_built_on(tmp_path: Path) -> None:
    """A demo built on given database URLs is updated only when those URLs are given again."""
    elsewhere = {"grid": f"sqlite:///{tmp_path / 'elsewhere-grid.sqlite'}"}
    demo = build_demo(tmp_path / "demo", residents=300, seed=3, urls=elsewhere)
    assert "grid" not in demo.sqlite_paths and demo.urls["grid"] == elsewhere["grid"]
    with pytest.raises(ValueError, match=r"\['grid'\] were built on database URLs"):
        apply_next_day_update(tmp_path / "demo")
    update = apply_next_day_update(tmp_path / "demo", urls=elsewhere)
    with sqlite3.connect(tmp_path / "elsewhere-grid.sqlite") as connection:
        rows = connection.execute("select count(*) from wg_syrk").fetchone()[0]
    assert rows == demo.row_counts["grid"] + update.inserted["grid"]
    assert update.day == datetime.date(2026, 11, 28)
    assert not (tmp_path / "demo" / "grid.sqlite").exists()


def test_all_sources_can_share_one_database(tmp_path: Path) -> None:
    """Four tables given one SQLite URL land side by side in that one file."""
    shared = f"sqlite:///{tmp_path / 'all.sqlite'}"
    demo = build_demo(tmp_path / "demo", residents=300, seed=5, urls=dict.fromkeys(TABLES, shared))
    with sqlite3.connect(tmp_path / "all.sqlite") as connection:
        counts = {s: connection.execute(f"select count(*) from {t}").fetchone()[0] for s, t in TABLES.items()}
    assert counts == demo.row_counts
    assert not demo.sqlite_paths
