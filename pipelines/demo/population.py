"""Synthetic residents of the demo district: the truth the four department systems are views of.

Everything is drawn with numpy from one seed and assembled as Arrow columns, so a million residents
take a few seconds. A resident has a stable ``person_key`` (never shown to a source system), a real
18-character citizen ID number whose region, birth date, sex digit and GB 11643 check character are
consistent, a name, a phone, a flat in one of the district's compounds, a household, and possibly a
death. Some residents are deliberately hard to tell apart: twins (same surname, birth date and home,
adjacent ID numbers) and strangers who share a common name and birth date.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ConfigDict
from pydantic.dataclasses import dataclass as validated_dataclass

from pipelines.demo import names, places
from pipelines.demo.dwellings import (
    PLACE_FIELDS,
    REGISTERED_FIELDS,
    draw_flats,
    place_columns,
    registered_columns,
    share_flats,
)
from pipelines.demo.geography import DistrictMap, Flats
from pipelines.demo.strings import concat, lookup, scatter, zero_pad

AS_OF = datetime.date(2026, 11, 27)
"""The demo's 'today': ages, deaths and update timestamps are relative to it."""

CHECK_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARACTERS = "10X98765432"
MALE_SHARE = 0.51
MODERN_NAMES_FROM = np.datetime64("1980-01-01")
SURNAME_UNTIL_AGE = 25  # heads and members younger than this carry the household's surname
PARENT_PHONE_UNTIL_AGE = 16  # members younger than this are reached on the head's phone

# Share of each 5-year age band (0-4 … 95-99), in percent.
REGISTERED_AGE_BANDS = "5 6 6 5 5.5 6.5 8.5 7.5 6.8 8 8.5 7.2 5.5 5.5 4 2.6 1.6 0.9 0.3 0.1"
MIGRANT_AGE_BANDS = "4 4 3 5 14 18 16 12 9 6 4 2 1 1 0.5 0.3 0.1 0 0 0"
FOREIGN_AGE_BANDS = "1 1 1 2 12 16 16 14 12 9 7 5 3 1 0 0 0 0 0 0"
HEAD_FIRST_BAND = 4  # a household's first member (its head) is at least 20
HOUSEHOLD_SIZES = {"1": 25.0, "2": 30.0, "3": 22.0, "4": 13.0, "5": 7.0, "6": 3.0}
# 民族 codes (GB 3304) with shares in percent; Uyghur (05) and Kazakh (17) names carry a dot.
ETHNICITIES = {"01": 95.3, "15": 2.0, "03": 0.8, "05": 0.9, "17": 0.2, "06": 0.3, "08": 0.3, "02": 0.2}
DOTTED_NAME_ETHNICITIES = ("05", "17")
FOREIGN_DOCUMENTS = {
    "passport": 50.0,
    "hk_macao_permit": 25.0,
    "tw_permit": 15.0,
    "foreign_permanent_resident": 10.0,
}
LATIN_NAME_DOCUMENTS = ("passport", "foreign_permanent_resident")
FOREIGN_COUNTRY_CODES = ("840", "410", "392", "704", "276", "643", "724", "586", "076", "826")

RESIDENCIES = ("registered", "migrant", "foreign")
REGISTERED, MIGRANT, FOREIGN = range(3)


@validated_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class PopulationSpec:
    """Shares and rates that shape the synthetic population.

    Attributes:
        as_of: the demo's 'today'.
        migrant_share: households registered elsewhere (流动人口): no population-register record here.
        foreign_share: households of foreigners and of Hong Kong, Macao and Taiwan residents.
        twin_pair_rate: twin pairs per resident.
        namesake_pair_rate: pairs of unrelated residents given one name and birth date, per resident
            (on top of the collisions that common names produce by themselves).
        elderly_death_rate: share of residents aged 60 or more who died within the death window.
        death_rate: the same for younger residents.
        death_window_days: deaths fall within this many days before ``as_of``.
        registered_elsewhere_share: registered households whose registered address (户籍地址) is
            another flat than the one they live in (人户分离).
        shared_flat_share: migrant households living in the flat of another migrant household (合租).
        elderly_landline_share: residents aged 70 or more reachable only on a landline.
        min_foreign_households: at least this many foreign households, and every kind of foreign
            document at least once, so that even a small demo has them.
    """

    as_of: datetime.date = AS_OF
    migrant_share: float = 0.15
    foreign_share: float = 0.005
    twin_pair_rate: float = 0.005
    namesake_pair_rate: float = 0.002
    elderly_death_rate: float = 0.10
    death_rate: float = 0.003
    death_window_days: int = 3 * 365
    registered_elsewhere_share: float = 0.15
    shared_flat_share: float = 0.05
    elderly_landline_share: float = 0.4
    min_foreign_households: int = 4


POPULATION_SCHEMA = pa.schema(
    [
        ("person_key", pa.string()),
        ("household_key", pa.string()),
        ("residency", pa.string()),
        ("ethnicity", pa.string()),
        ("id_type", pa.string()),
        ("id_number", pa.string()),
        ("surname", pa.string()),
        ("given_name", pa.string()),
        ("name", pa.string()),
        ("name_pinyin", pa.string()),
        ("name_chinese", pa.string()),
        ("gender", pa.string()),
        ("birth_date", pa.date32()),
        ("phone", pa.string()),
        *PLACE_FIELDS,
        *REGISTERED_FIELDS,
        ("is_deceased", pa.bool_()),
        ("death_date", pa.date32()),
        ("twin_of", pa.string()),
        ("namesake_of", pa.string()),
    ]
)
"""One row per resident. ``household_key`` is the household (a registered household, 户, or people
living together); ``dwelling_key``, ``grid_code`` and the other place columns say where the person
actually lives, ``registered_*`` where a registered resident is registered. ``twin_of``/``namesake_of``
name the other person of a twin or namesake pair."""


@dataclass(frozen=True)
class Households:
    """Who lives with whom, per person; a household's first member is its head."""

    of_person: np.ndarray
    is_head: np.ndarray
    head: np.ndarray
    residency: np.ndarray
    ethnicity: np.ndarray
    count: int


@dataclass(frozen=True)
class PersonNames:
    """Name parts, per person; pinyin is null for dotted and foreign names, ``chinese`` the Chinese
    rendering of a Latin name (null for the others)."""

    surname: pa.Array
    given: pa.Array
    surname_pinyin: pa.Array
    given_pinyin: pa.Array
    chinese: pa.Array

    def copy_rows(self, source: np.ndarray, surname_only: bool = False) -> PersonNames:
        """The names with row ``i`` (or only its surname) taken from row ``source[i]``.

        Twins and namesakes are never foreigners, so the Chinese rendering stays as it is.
        """
        take = pa.array(source)
        surname, surname_pinyin = self.surname.take(take), self.surname_pinyin.take(take)
        if surname_only:
            return PersonNames(surname, self.given, surname_pinyin, self.given_pinyin, self.chinese)
        given, given_pinyin = self.given.take(take), self.given_pinyin.take(take)
        return PersonNames(surname, given, surname_pinyin, given_pinyin, self.chinese)


@dataclass(frozen=True)
class People:
    """Everything drawn about the residents before it is written out as a table."""

    households: Households
    male: np.ndarray
    birth: np.ndarray
    region: np.ndarray
    foreign: np.ndarray
    documents: list[str]
    names: PersonNames
    twins: tuple[np.ndarray, np.ndarray]
    namesakes: tuple[np.ndarray, np.ndarray]


def _shares(table: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    weights = np.asarray(list(table.values()), dtype=np.float64)
    return list(table), weights / weights.sum()


def _weighted_choice(rng: np.random.Generator, table: Mapping[str, float], count: int) -> np.ndarray:
    keys, p = _shares(table)
    return np.asarray(keys)[rng.choice(len(keys), count, p=p)]


def _weighted_codes(rng: np.random.Generator, table: Mapping[str, float], count: int) -> np.ndarray:
    codes, p = _shares(table)
    return np.asarray(codes, dtype=np.int64)[rng.choice(len(codes), count, p=p)]


def draw_households(rng: np.random.Generator, residents: int, spec: PopulationSpec) -> Households:
    """Group residents into households, each with one residency status and one ethnicity.

    Args:
        rng: the population's random generator.
        residents: how many people.
        spec: the population's shares.

    Returns:
        Household membership per person.
    """
    sizes = _weighted_choice(rng, HOUSEHOLD_SIZES, residents).astype(np.int64)
    count = int(np.searchsorted(np.cumsum(sizes), residents)) + 1
    sizes = sizes[:count]
    sizes[-1] -= int(sizes.sum()) - residents
    starts = np.cumsum(sizes) - sizes
    of_person = np.repeat(np.arange(count), sizes)
    other = 1 - spec.migrant_share - spec.foreign_share
    residency = rng.choice(3, count, p=[other, spec.migrant_share, spec.foreign_share])
    shortfall = min(spec.min_foreign_households, count) - int((residency == FOREIGN).sum())
    if shortfall > 0:
        residency[rng.choice(np.flatnonzero(residency != FOREIGN), shortfall, replace=False)] = FOREIGN
    ethnicity = _weighted_choice(rng, ETHNICITIES, count)
    is_head = np.zeros(residents, dtype=bool)
    is_head[starts] = True
    return Households(
        of_person, is_head, starts[of_person], residency[of_person], ethnicity[of_person], count
    )


def _ages_in_days(rng: np.random.Generator, bands: str, count: int, first_band: int = 0) -> np.ndarray:
    weights = np.asarray(bands.split(), dtype=np.float64)
    weights[:first_band] = 0.0
    band = rng.choice(len(weights), count, p=weights / weights.sum())
    return ((band + rng.random(count)) * 5 * 365.25).astype(np.int64)


def draw_birth_dates(rng: np.random.Generator, households: Households, spec: PopulationSpec) -> np.ndarray:
    """Draw birth dates from each residency's age pyramid; heads are adults.

    Args:
        rng: the population's random generator.
        households: heads and residency per person.
        spec: gives the reference date.

    Returns:
        Birth dates as ``datetime64[D]``, all before ``spec.as_of``.
    """
    age_days = np.zeros(len(households.of_person), dtype=np.int64)
    for kind, bands in enumerate((REGISTERED_AGE_BANDS, MIGRANT_AGE_BANDS, FOREIGN_AGE_BANDS)):
        for is_head, first_band in ((False, 0), (True, HEAD_FIRST_BAND)):
            rows = np.flatnonzero((households.residency == kind) & (households.is_head == is_head))
            age_days[rows] = _ages_in_days(rng, bands, len(rows), first_band)
    return np.datetime64(spec.as_of, "D") - age_days - 1


def age_in_years(birth: np.ndarray, on: datetime.date) -> np.ndarray:
    """Completed years of age on a date.

    Args:
        birth: birth dates as ``datetime64[D]``.
        on: the date of reference.

    Returns:
        Ages in whole years.
    """
    ymd = ymd_numbers(birth)
    return on.year - ymd // 10000 - ((ymd % 10000) > on.month * 100 + on.day)


def ymd_numbers(dates: np.ndarray) -> np.ndarray:
    """Dates as integers ``YYYYMMDD``.

    Args:
        dates: ``datetime64`` values.

    Returns:
        The integers.
    """
    days = dates.astype("datetime64[D]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    return year * 10000 + month * 100 + day


def pick_twin_pairs(
    rng: np.random.Generator, households: Households, rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Choose twins: the two members after the head in households of three or more.

    Args:
        rng: the population's random generator.
        households: membership per person.
        rate: twin pairs per resident.

    Returns:
        Older and younger twin positions; the younger is always the next person.
    """
    starts = np.flatnonzero(households.is_head)
    sizes = np.diff(np.append(starts, len(households.of_person)))
    eligible = starts[(sizes >= 3) & (households.residency[starts] != FOREIGN)] + 1
    count = min(round(rate * len(households.of_person)), len(eligible))
    older = np.sort(rng.choice(eligible, count, replace=False))
    return older, older + 1


def _han_names(
    rng: np.random.Generator,
    male: np.ndarray,
    birth: np.ndarray,
    households: Households,
    as_of: datetime.date,
) -> PersonNames:
    surnames = names.surname_catalog()
    family = rng.choice(len(surnames.text), households.count, p=surnames.probability)
    own = rng.choice(len(surnames.text), len(male), p=surnames.probability)
    takes_family = households.is_head | (age_in_years(birth, as_of) < SURNAME_UNTIL_AGE)
    surname = np.where(takes_family, family[households.of_person], own)
    modern = birth >= MODERN_NAMES_FROM
    given = np.empty(len(male), dtype=np.int64)
    given_text: list[str] = []
    given_pinyin: list[str] = []
    for is_male in (True, False):
        for is_modern in (True, False):
            catalog = names.given_name_catalog(is_male, is_modern)
            rows = np.flatnonzero((male == is_male) & (modern == is_modern))
            picked = rng.choice(len(catalog.text), len(rows), p=catalog.probability)
            given[rows] = len(given_text) + picked
            given_text.extend(catalog.text)
            given_pinyin.extend(catalog.pinyin)
    return PersonNames(
        lookup(surnames.text, surname),
        lookup(given_text, given),
        lookup(surnames.pinyin, surname),
        lookup(given_pinyin, given),
        pa.nulls(len(male), pa.string()),
    )


def _dotted_names(rng: np.random.Generator, male: np.ndarray) -> pa.Array:
    def draw(pool: tuple[str, ...]) -> pa.Array:
        return lookup(pool, rng.integers(0, len(pool), len(male)))

    own = pc.if_else(pa.array(male), draw(names.MINORITY_GIVEN[True]), draw(names.MINORITY_GIVEN[False]))
    return concat(own, names.MIDDLE_DOT, draw(names.MINORITY_GIVEN[True]))


def _traditional_name(rng: np.random.Generator, is_male: bool) -> tuple[str, str]:
    """A Hong Kong, Macao or Taiwan resident's name, in traditional characters."""
    surnames, given = names.surname_catalog(), names.given_name_catalog(is_male, True)
    surname = surnames.text[rng.choice(len(surnames.text), p=surnames.probability)]
    given_name = given.text[rng.choice(len(given.text), p=given.probability)]
    return names.to_traditional(surname), names.to_traditional(given_name)


def _foreign_names(
    rng: np.random.Generator, male: np.ndarray, households: np.ndarray, documents: list[str]
) -> list[tuple[str, str, str | None]]:
    """Surname, given name and Chinese rendering of each foreign resident.

    A household has one nationality and its passport holders one family name; permits of Hong
    Kong, Macao and Taiwan residents carry Chinese names in traditional characters.
    """
    table = names.foreign_names()
    codes = list(names.FOREIGN_NATIONALITY_SHARES)
    shares = np.asarray(list(names.FOREIGN_NATIONALITY_SHARES.values()))
    spelled: list[tuple[str, str, str | None]] = []
    family: dict[int, tuple[str, str]] = {}
    for is_male, household, document in zip(male, households, documents, strict=True):
        if document not in LATIN_NAME_DOCUMENTS:
            spelled.append((*_traditional_name(rng, bool(is_male)), None))
            continue
        if household not in family:
            code = codes[rng.choice(len(codes), p=shares)]
            surnames = list(table[code].surnames)
            family[household] = (code, surnames[rng.integers(len(surnames))])
        code, surname = family[household]
        given_names = list(table[code].given[bool(is_male)])
        given = given_names[rng.integers(len(given_names))]
        spelled.append((surname, given, table[code].chinese(surname, given)))
    return spelled


def draw_names(
    rng: np.random.Generator,
    male: np.ndarray,
    birth: np.ndarray,
    households: Households,
    documents: list[str],
    as_of: datetime.date,
) -> PersonNames:
    """Draw names: Han names by sex and era, dotted minority names, foreign spellings.

    Heads of household and members under ``SURNAME_UNTIL_AGE`` carry the household's surname.

    Args:
        rng: the population's random generator.
        male: sex per person.
        birth: birth date per person (naming fashions changed around 1980).
        households: membership, ethnicity and residency per person.
        documents: identity document type of each foreign resident, in person order.
        as_of: the day ages are counted on.

    Returns:
        Name parts per person.
    """
    han = _han_names(rng, male, birth, households, as_of)
    dotted = pa.array(np.isin(households.ethnicity, DOTTED_NAME_ETHNICITIES))
    no_pinyin = pa.nulls(len(male), pa.string())
    foreign = np.flatnonzero(households.residency == FOREIGN)
    spelled = _foreign_names(rng, male[foreign], households.of_person[foreign], documents)
    return PersonNames(
        scatter(pc.if_else(dotted, "", han.surname), foreign, [s for s, _, _ in spelled]),
        scatter(pc.if_else(dotted, _dotted_names(rng, male), han.given), foreign, [g for _, g, _ in spelled]),
        scatter(pc.if_else(dotted, no_pinyin, han.surname_pinyin), foreign, [None] * len(foreign)),
        scatter(pc.if_else(dotted, no_pinyin, han.given_pinyin), foreign, [None] * len(foreign)),
        scatter(no_pinyin, foreign, [c for _, _, c in spelled]),
    )


def pick_namesakes(
    rng: np.random.Generator, households: Households, excluded: np.ndarray, rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Choose unrelated residents to be given someone else's name, sex and birth date.

    Args:
        rng: the population's random generator.
        households: membership, residency and ethnicity per person.
        excluded: positions that must stay as they are (twins).
        rate: pairs per resident.

    Returns:
        Originals and their namesakes, each pair in two different households.
    """
    candidate = (households.residency != FOREIGN) & ~np.isin(households.ethnicity, DOTTED_NAME_ETHNICITIES)
    candidate[excluded] = False
    pool = np.flatnonzero(candidate)
    count = min(round(rate * len(candidate)), len(pool) // 2)
    chosen = rng.choice(pool, 2 * count, replace=False)
    original, namesake = chosen[:count], chosen[count:]
    apart = households.of_person[original] != households.of_person[namesake]
    return original[apart], namesake[apart]


def draw_regions(
    rng: np.random.Generator, households: Households, age: np.ndarray, district_code: str
) -> np.ndarray:
    """Draw the 6-digit region code at the head of each resident's ID number.

    Args:
        rng: the population's random generator.
        households: residency and ethnicity per person.
        age: age per person; registered children were born here.
        district_code: the district's division code.

    Returns:
        Region codes as integers (0 for foreigners).
    """
    count = len(age)
    migrant = _weighted_codes(rng, places.MIGRANT_REGIONS, count)
    registered = _weighted_codes(rng, places.registered_regions(district_code), count)
    region = np.where(households.residency == MIGRANT, migrant, registered)
    region[(households.residency == REGISTERED) & (age < 18)] = int(district_code)
    dotted = np.isin(households.ethnicity, DOTTED_NAME_ETHNICITIES)
    region[dotted] = _weighted_codes(rng, places.XINJIANG_REGIONS, int(dotted.sum()))
    region[households.residency == FOREIGN] = 0
    return region


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (numbers[:, None] // powers) % 10


def check_characters(first17: np.ndarray) -> np.ndarray:
    """GB 11643 (ISO 7064 MOD 11-2) check characters.

    Args:
        first17: an (n, 17) array of the first seventeen digits.

    Returns:
        ASCII codes of the check characters ('0'-'9' or 'X').
    """
    table = np.frombuffer(CHECK_CHARACTERS.encode(), dtype=np.uint8)
    return table[(first17 @ CHECK_WEIGHTS) % 11]


def with_check_character(first17: str) -> str:
    """Complete a 17-digit prefix into an 18-character ID number.

    Args:
        first17: the first seventeen digits.

    Returns:
        The prefix followed by its check character.
    """
    digits = np.array([[int(c) for c in first17]], dtype=np.int64)
    return first17 + chr(check_characters(digits)[0])


def sequence_codes(
    rng: np.random.Generator, region: np.ndarray, birth: np.ndarray, male: np.ndarray
) -> np.ndarray:
    """Assign the 3-digit sequence codes (顺序码) so that no two ID numbers collide.

    People with one region and birth date get adjacent slots from a random start, so twins (adjacent
    in person order) get adjacent ID numbers; the last digit is odd for men.

    Args:
        rng: the population's random generator.
        region: region code per person.
        birth: birth date per person.
        male: sex per person.

    Returns:
        Sequence codes 0-999 per person.

    Raises:
        ValueError: more than 500 people share one region and birth date.
    """
    key = region * 10**8 + ymd_numbers(birth)
    order = np.lexsort((np.arange(len(key)), key))
    sorted_key = key[order]
    new_group = np.concatenate([[True], sorted_key[1:] != sorted_key[:-1]])
    group = np.cumsum(new_group) - 1
    group_start = np.flatnonzero(new_group)
    rank = np.arange(len(key)) - group_start[group]
    if len(rank) and rank.max() >= 500:
        raise ValueError("more than 500 people share one region and birth date")
    group_size = np.diff(np.append(group_start, len(key)))
    first_slot = (rng.random(len(group_start)) * (501 - group_size)).astype(
        np.int64
    )  # the group fits below 500
    slot = first_slot[group] + rank
    codes = np.empty(len(key), dtype=np.int64)
    codes[order] = 2 * slot + male[order]
    return codes


def citizen_id_numbers(region: np.ndarray, birth: np.ndarray, sequence: np.ndarray) -> pa.Array:
    """Compose 18-character citizen ID numbers.

    Args:
        region: 6-digit region codes.
        birth: birth dates.
        sequence: 3-digit sequence codes.

    Returns:
        The ID numbers, check character included.
    """
    first17 = np.hstack([_digits(region, 6), _digits(ymd_numbers(birth), 8), _digits(sequence, 3)])
    text = np.empty((len(region), 18), dtype=np.uint8)
    text[:, :17] = first17 + ord("0")
    text[:, 17] = check_characters(first17)
    return pa.array(text.view("S18").ravel(), pa.binary(18)).cast(pa.string())


def avoid_taken_ids(ids: pa.Array, taken: Collection[str]) -> pa.Array:
    """Move ID numbers that are already in use to the next free sequence code of the same sex.

    Args:
        ids: freshly composed ID numbers, distinct among themselves.
        taken: ID numbers already in use.

    Returns:
        The ID numbers, none of them in ``taken``.
    """
    values = ids.to_pylist()
    used = set(taken) | set(values)
    for i, value in enumerate(values):
        if value not in taken:
            continue
        sequence = int(value[14:17])
        while value in used:
            sequence = (sequence + 2) % 1000
            value = with_check_character(f"{value[:14]}{sequence:03d}")
        used.add(value)
        values[i] = value
    return pa.array(values, pa.string())


def _foreign_document_number(rng: np.random.Generator, document: str, birth: np.datetime64) -> str:
    digits = "".join(str(d) for d in rng.integers(0, 10, 8))
    if document == "hk_macao_permit":
        return ("H" if rng.random() < 0.8 else "M") + digits
    if document == "tw_permit":
        return digits
    if document == "foreign_permanent_resident":  # 2023 layout: 9, province, country, birth, sequence
        country = FOREIGN_COUNTRY_CODES[rng.integers(len(FOREIGN_COUNTRY_CODES))]
        return with_check_character(f"942{country}{str(birth).replace('-', '')}{digits[:3]}")
    return ("" if rng.random() < 0.4 else "EGKMPS"[rng.integers(6)]) + digits


def identity_documents(rng: np.random.Generator, people: People, taken_ids: Collection[str]) -> pa.Array:
    """Citizen ID numbers for citizens, passport or permit numbers for the others.

    Args:
        rng: the population's random generator.
        people: region, birth date, sex and documents per person.
        taken_ids: numbers already in use.

    Returns:
        The document number per person.
    """
    sequence = sequence_codes(rng, people.region, people.birth, people.male)
    ids = citizen_id_numbers(people.region, people.birth, sequence)
    if taken_ids:
        ids = avoid_taken_ids(ids, taken_ids)
    numbers = [
        _foreign_document_number(rng, doc, people.birth[i])
        for i, doc in zip(people.foreign, people.documents, strict=True)
    ]
    return scatter(ids, people.foreign, numbers)


def draw_mobiles(rng: np.random.Generator, count: int) -> pa.Array:
    """Draw 11-digit mobile numbers with real operator prefixes.

    Args:
        rng: a random generator.
        count: how many.

    Returns:
        The numbers.
    """
    prefix = lookup(places.MOBILE_PREFIXES, rng.integers(0, len(places.MOBILE_PREFIXES), count))
    return concat(prefix, zero_pad(rng.integers(0, 10**8, count), 8))


def draw_phones(
    rng: np.random.Generator, households: Households, age: np.ndarray, spec: PopulationSpec
) -> pa.Array:
    """Draw phone numbers: mobiles, landlines for some elderly, the head's number for children.

    Args:
        rng: the population's random generator.
        households: heads per person.
        age: age per person.
        spec: the landline share.

    Returns:
        11-digit mobiles or ``027-NNNNNNNN`` landlines.
    """
    count = len(age)
    mobile = draw_mobiles(rng, count)
    exchange = lookup(("5", "6", "8"), rng.integers(0, 3, count))
    landline = concat(places.CITY_AREA_CODE, "-", exchange, zero_pad(rng.integers(0, 10**7, count), 7))
    uses_landline = (age >= 70) & (rng.random(count) < spec.elderly_landline_share)
    phone = pc.if_else(pa.array(uses_landline), landline, mobile)
    child = (age < PARENT_PHONE_UNTIL_AGE) & ~households.is_head
    return phone.take(pa.array(np.where(child, households.head, np.arange(count))))


def draw_deaths(
    rng: np.random.Generator, birth: np.ndarray, age: np.ndarray, spec: PopulationSpec
) -> tuple[np.ndarray, pa.Array]:
    """Decide who died recently, more often the old.

    Args:
        rng: the population's random generator.
        birth: birth date per person.
        age: age per person.
        spec: death rates and window.

    Returns:
        Whether each person is deceased, and the death dates (null for the living).
    """
    deceased = rng.random(len(age)) < np.where(age >= 60, spec.elderly_death_rate, spec.death_rate)
    died = np.datetime64(spec.as_of, "D") - rng.integers(1, spec.death_window_days, len(age))
    died = np.maximum(died, birth + 1).astype("datetime64[D]")
    return deceased, pa.array(died, pa.date32(), mask=~deceased)


def _pair_keys(keys: pa.Array, first: np.ndarray, second: np.ndarray) -> pa.Array:
    index = np.concatenate([first, second])
    partner = np.concatenate([second, first])
    return scatter(pa.nulls(len(keys), pa.string()), index, keys.take(pa.array(partner)))


def draw_people(rng: np.random.Generator, residents: int, spec: PopulationSpec, district_code: str) -> People:
    """Draw households, sex, birth dates, names, twins, namesakes and ID regions.

    Args:
        rng: the population's random generator.
        residents: how many people.
        spec: shares and rates.
        district_code: the district's division code (where registered children's IDs are issued).

    Returns:
        The drawn attributes per person.
    """
    households = draw_households(rng, residents, spec)
    male = rng.random(residents) < MALE_SHARE
    birth = draw_birth_dates(rng, households, spec)
    older, younger = pick_twin_pairs(rng, households, spec.twin_pair_rate)
    birth[younger] = birth[older]
    foreign = np.flatnonzero(households.residency == FOREIGN)
    documents = list(_weighted_choice(rng, FOREIGN_DOCUMENTS, len(foreign)))
    if spec.min_foreign_households and len(foreign) >= len(FOREIGN_DOCUMENTS):
        documents[: len(FOREIGN_DOCUMENTS)] = list(FOREIGN_DOCUMENTS)
    person_names = draw_names(rng, male, birth, households, documents, spec.as_of)
    twin_source = np.arange(residents)
    twin_source[younger] = older
    person_names = person_names.copy_rows(twin_source, surname_only=True)
    original, namesake = pick_namesakes(
        rng, households, np.concatenate([older, younger]), spec.namesake_pair_rate
    )
    namesake_source = np.arange(residents)
    namesake_source[namesake] = original
    male, birth = male[namesake_source], birth[namesake_source]
    region = draw_regions(rng, households, age_in_years(birth, spec.as_of), district_code)
    region[younger] = region[older]
    return People(
        households, male, birth, region, foreign, documents,
        person_names.copy_rows(namesake_source), (older, younger), (original, namesake),
    )  # fmt: skip


def household_flats(
    rng: np.random.Generator, district: DistrictMap, households: Households, spec: PopulationSpec
) -> tuple[Flats, Flats]:
    """Draw each household's flat, and its registered flat (人户分离 for a share of registered ones).

    Args:
        rng: the population's random generator.
        district: the map.
        households: residency per person.
        spec: the shares of shared flats and of households registered elsewhere.

    Returns:
        Per person: the flat they live in, and the flat they are registered in (meaningful for
        registered residents only).
    """
    residency = households.residency[np.flatnonzero(households.is_head)]
    homes = draw_flats(rng, district, households.count)
    migrant = np.flatnonzero(residency == MIGRANT)
    sharing = migrant[rng.random(len(migrant)) < spec.shared_flat_share]
    homes = share_flats(rng, homes, sharing, np.setdiff1d(migrant, sharing))
    apart = np.flatnonzero(
        (residency == REGISTERED) & (rng.random(households.count) < spec.registered_elsewhere_share)
    )
    registered = homes.replace(apart, draw_flats(rng, district, len(apart)))
    return homes.take(households.of_person), registered.take(households.of_person)


def population_table(
    rng: np.random.Generator,
    people: People,
    spec: PopulationSpec,
    district: DistrictMap,
    first_person_no: int,
    first_household_no: int,
    taken_ids: Collection[str],
) -> pa.Table:
    """Draw homes, phones and deaths, compose ID numbers, and write everything as one table.

    Args:
        rng: the population's random generator.
        people: what was drawn so far.
        spec: shares and rates.
        district: the map homes are drawn from.
        first_person_no: number of the first person key.
        first_household_no: number of the first household key.
        taken_ids: ID numbers the new residents must not get.

    Returns:
        One row per resident with the columns of ``POPULATION_SCHEMA``.
    """
    count = len(people.male)
    households = people.households
    age = age_in_years(people.birth, spec.as_of)
    id_type = scatter(pa.array(["cn_resident_id"] * count, pa.string()), people.foreign, people.documents)
    homes, registered_homes = household_flats(rng, district, households, spec)
    deceased, death_date = draw_deaths(rng, people.birth, age, spec)
    keys = concat("P", zero_pad(np.arange(count) + first_person_no, 9))
    person_names = people.names
    latin = pc.is_in(id_type, pa.array(LATIN_NAME_DOCUMENTS))
    columns = {
        "person_key": keys,
        "household_key": concat("H", zero_pad(households.of_person + first_household_no, 8)),
        "residency": lookup(RESIDENCIES, households.residency),
        "ethnicity": pa.array(households.ethnicity, pa.string()),
        "id_type": id_type,
        "id_number": identity_documents(rng, people, taken_ids),
        "surname": person_names.surname,
        "given_name": person_names.given,
        "name": concat(person_names.surname, pc.if_else(latin, " ", ""), person_names.given),
        "name_pinyin": concat(person_names.surname_pinyin, " ", person_names.given_pinyin),
        "name_chinese": person_names.chinese,
        "gender": lookup(("F", "M"), people.male.astype(np.int64)),
        "birth_date": pa.array(people.birth.astype("datetime64[D]"), pa.date32()),
        "phone": draw_phones(rng, households, age, spec),
        **place_columns(district, homes),
        **registered_columns(district, registered_homes, households.residency == REGISTERED),
        "is_deceased": pa.array(deceased),
        "death_date": death_date,
        "twin_of": _pair_keys(keys, *people.twins),
        "namesake_of": _pair_keys(keys, *people.namesakes),
    }
    return pa.table(columns, schema=POPULATION_SCHEMA)


def generate_population(
    residents: int,
    seed: int,
    district: DistrictMap,
    spec: PopulationSpec | None = None,
    first_person_no: int = 1,
    first_household_no: int = 1,
    taken_ids: Collection[str] = (),
) -> pa.Table:
    """Generate the synthetic residents of a district.

    Args:
        residents: how many people.
        seed: seeds ``np.random.default_rng``; the same seed gives the same people.
        district: the district's map (where they live).
        spec: shares and rates; the defaults of ``PopulationSpec`` if None.
        first_person_no: number of the first person key (to add people to an existing population).
        first_household_no: number of the first household key.
        taken_ids: ID numbers already in use, which the new residents must not get.

    Returns:
        One row per resident with the columns of ``POPULATION_SCHEMA``.
    """
    spec = spec or PopulationSpec()
    rng = np.random.default_rng(seed)
    people = draw_people(rng, residents, spec, district.district_code)
    return population_table(rng, people, spec, district, first_person_no, first_household_no, taken_ids)
