"""Each comparison of schemas/matching.yaml on literal record pairs, through the real standardizers."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.resolve.explain import comparison_levels, levels_of_pairs
from tests.unit.resolve_records import staged_record, staged_table

ID = "11010519491231002X"
OTHER_VALID_ID = "110105194912310011"

CASES: list[dict[str, Any]] = [
    # name: characters compared as characters, traditional folded, pinyin for homophones
    {"field": "name", "l": {"name": "张伟"}, "r": {"name": "張偉"}, "expected": "same name"},
    {"field": "name", "l": {"name": "张伟"}, "r": {"name": "张 伟"}, "expected": "same name"},
    {
        "field": "name",
        "l": {"name": "张伟"},
        "r": {"name": "章玮"},
        "expected": "same pinyin (homophone, traditional form or pinyin spelling)",
    },
    {
        "field": "name",
        "l": {"name": "张伟"},
        "r": {"name": "ZHANG WEI"},
        "expected": "same pinyin (homophone, traditional form or pinyin spelling)",
    },
    {
        "field": "name",
        "l": {"name": "单雄"},
        "r": {"name": "Shan Xiong"},
        "expected": "same pinyin (homophone, traditional form or pinyin spelling)",
    },
    {
        "field": "name",
        "l": {"name": "John Smith"},
        "r": {"name": "SMITH, JOHN"},
        "expected": "same words in another order",
    },
    # Latin names: a hyphen parts words; middle names (or second surnames) left out or written as
    # initials; one letter mistyped inside a word, in any word order
    {
        "field": "name",
        "l": {"name": "Jean-Pierre Martin"},
        "r": {"name": "MARTIN, Jean Pierre"},
        "expected": "same words in another order",
    },
    {
        "field": "name",
        "l": {"name": "Marie Anna Martin"},
        "r": {"name": "Marie A. Martin"},
        "expected": "same words, some left out or written as initials",
    },
    {
        "field": "name",
        "l": {"name": "MARTIN, Marie Anna"},
        "r": {"name": "Marie Martin"},
        "expected": "same words, some left out or written as initials",
    },
    {
        "field": "name",
        "l": {"name": "João L. Andersson"},
        "r": {"name": "Joao Andersson"},
        "expected": "same words, some left out or written as initials",
    },
    {
        "field": "name",
        "l": {"name": "Laura Müller-Öztürk"},
        "r": {"name": "MULLER, Laura"},
        "expected": "same words, some left out or written as initials",
    },
    # a different middle name, or a given name reduced to its initial, is not that level
    {
        "field": "name",
        "l": {"name": "Marie A. Martin"},
        "r": {"name": "Marie Léa Martin"},
        "expected": "spelling close",
    },
    {
        "field": "name",
        "l": {"name": "M. Martin"},
        "r": {"name": "Marie Martin"},
        "expected": "a word in common, the others different",
    },
    {
        "field": "name",
        "l": {"name": "Lucia Kohler"},
        "r": {"name": "KIHLER, Lucia"},
        "expected": "same words, one letter mistyped inside a word",
    },
    {
        "field": "name",
        "l": {"name": "Thomas Szymanski"},
        "r": {"name": "SZYMAASKI, Thomas"},
        "expected": "same words, one letter mistyped inside a word",
    },
    # names told apart by their last letter are not a typo (twins Mario and Maria, Paul and Paula)
    {
        "field": "name",
        "l": {"name": "Mario Rossi"},
        "r": {"name": "Maria Rossi"},
        "expected": "one character apart",
    },
    {
        "field": "name",
        "l": {"name": "Paul Martin"},
        "r": {"name": "Paula Martin"},
        "expected": "one character apart",
    },
    {
        "field": "name",
        "l": {"name": "KATHARINA SCHMIDT"},
        "r": {"name": "Katharine Schmitt"},
        "expected": "spelling close",
    },
    # a letter added, left out or two swapped inside a word, each word keeping its first and last
    # letter; two letters swapped at a word's end are a typo too, a letter added there is not
    {
        "field": "name",
        "l": {"name": "Michael Boyle"},
        "r": {"name": "MICHAL BOYLE"},
        "expected": "same words, one letter added, left out or two swapped inside a word",
    },
    {
        "field": "name",
        "l": {"name": "Olivia Noack"},
        "r": {"name": "NOACK, Oliiva"},
        "expected": "same words, one letter added, left out or two swapped inside a word",
    },
    {
        "field": "name",
        "l": {"name": "Joshua Donkin"},
        "r": {"name": "Joshau Donkin"},
        "expected": "same words, one letter added, left out or two swapped inside a word",
    },
    {
        "field": "name",
        "l": {"name": "James Worsley"},
        "r": {"name": "James Worsleyw"},
        "expected": "one character apart",
    },
    {
        "field": "name",
        "l": {"name": "Ella Green"},
        "r": {"name": "Bella Green"},
        "expected": "one character apart",
    },
    # one name word the same, the others changed (a married name; siblings): evidence, no agreement
    {
        "field": "name",
        "l": {"name": "Hayden Tabrett"},
        "r": {"name": "Hayden Everett"},
        "expected": "a word in common, the others different",
    },
    {
        "field": "name",
        "l": {"name": "Nicholas Coffey"},
        "r": {"name": "Georgia Coffey"},
        "expected": "a word in common, the others different",
    },
    {"field": "name", "l": {"name": "王建国"}, "r": {"name": "王丽"}, "expected": "different"},
    {"field": "name", "l": {"name": "王建国"}, "r": {"name": "王建军"}, "expected": "one character apart"},
    {"field": "name", "l": {"name": "欧阳娜娜"}, "r": {"name": "欧阳娜"}, "expected": "one character apart"},
    {
        "field": "name",
        "l": {"name": "MARIA GONZALEZ"},
        "r": {"name": "MARIA GONZALEZ LOPEZ"},
        "expected": "same words, some left out or written as initials",
    },
    {"field": "name", "l": {"name": "张伟明"}, "r": {"name": "張偉民"}, "expected": "one character apart"},
    {"field": "name", "l": {"name": "张伟"}, "r": {"name": "李娜"}, "expected": "different"},
    {"field": "name", "l": {"name": "张伟"}, "r": {}, "expected": "missing"},
    # birth date: swapped day and month, one digit, partial agreement
    {
        "field": "birth_date",
        "l": {"birth_date": "1990-03-04"},
        "r": {"birth_date": "1990-03-04"},
        "expected": "same date",
    },
    {
        "field": "birth_date",
        "l": {"birth_date": "1990-03-04"},
        "r": {"birth_date": "1990-04-03"},
        "expected": "day and month swapped",
    },
    {
        "field": "birth_date",
        "l": {"birth_date": "1990-03-04"},
        "r": {"birth_date": "1990-03-24"},
        "expected": "one digit apart",
    },
    {
        "field": "birth_date",
        "l": {"birth_date": "1957-10-24"},
        "r": {"birth_date": "1957-12-04"},
        "expected": "two adjacent digits swapped",
    },
    {
        "field": "birth_date",
        "l": {"birth_date": "1990-03-04"},
        "r": {"birth_date": "1990-03-17"},
        "expected": "same year and month",
    },
    {
        "field": "birth_date",
        "l": {"birth_date": "1990-03-04"},
        "r": {"birth_date": "1985-11-20"},
        "expected": "different",
    },
    # the birth date a citizen ID number encodes stands in for a missing one
    {
        "field": "birth_date",
        "l": {"id_number": ID},
        "r": {"birth_date": "1949-12-31"},
        "expected": "same date",
    },
    # ID number: 15 vs 18 digits, masked numbers on their visible digits, near misses
    {
        "field": "id_number",
        "l": {"id_number": ID},
        "r": {"id_number": "110105491231002"},
        "expected": "same number",
    },
    {
        "field": "id_number",
        "l": {"id_number": ID},
        "r": {"id_number": "11010519491231002x"},
        "expected": "same number",
    },
    {
        "field": "id_number",
        "l": {"id_number": ID},
        "r": {"id_number": "110105********002X"},
        "expected": "masked number agrees on its visible characters",
    },
    {
        "field": "id_number",
        "l": {"id_number": ID},
        "r": {"id_number": "110105********0011"},
        "expected": "different",
    },
    {
        "field": "id_number",
        "l": {"id_number": ID},
        "r": {"id_number": "11010519491231003X"},
        "expected": "one character apart or two swapped",
    },
    {
        "field": "id_number",
        "l": {"id_number": ID},
        "r": {"id_number": "11010519492131002X"},
        "expected": "one character apart or two swapped",
    },
    {
        "field": "id_number",
        "l": {"id_number": ID},
        "r": {"id_number": OTHER_VALID_ID},
        "expected": "different",
    },
    {
        "field": "id_number",
        "l": {"id_number": "E12345678", "id_type": "passport"},
        "r": {"id_number": "E12345678", "id_type": "passport"},
        "expected": "same number",
    },
    # another country's identity card: kept as written, compacted and upper-cased
    {
        "field": "id_number",
        "l": {"id_number": "m8j nv4 23g", "id_type": "national_id"},
        "r": {"id_number": "M8JNV423G", "id_type": "national_id"},
        "expected": "same number",
    },
    {
        "field": "id_number",
        "l": {"id_number": "M8JNV423G", "id_type": "national_id"},
        "r": {"id_number": "M8JNV423H", "id_type": "national_id"},
        "expected": "one character apart or two swapped",
    },
    # a passport and an identity card of one person are no disagreement
    {
        "field": "id_number",
        "l": {"id_number": "XT3586923", "id_type": "passport"},
        "r": {"id_number": "M8JNV423G", "id_type": "national_id"},
        "expected": "missing, a suspect number, or documents of different kinds",
    },
    {
        "field": "id_number",
        "l": {"id_number": "E12345678", "id_type": "passport"},
        "r": {"id_number": ID},
        "expected": "missing, a suspect number, or documents of different kinds",
    },
    # ... but the same number under two kinds agrees, and so does a masked number whose kind is
    # inferred (a resident ID) with the full number of a permanent resident card
    {
        "field": "id_number",
        "l": {"id_number": "M8JNV423G", "id_type": "other"},
        "r": {"id_number": "M8JNV423G", "id_type": "national_id"},
        "expected": "same number",
    },
    {
        "field": "id_number",
        "l": {"id_number": "942704********2105"},
        "r": {"id_number": "942704199703252105", "id_type": "foreign_permanent_resident"},
        "expected": "masked number agrees on its visible characters",
    },
    {
        "field": "id_number",
        "l": {"id_number": "XT3586923", "id_type": "passport"},
        "r": {"id_number": "RB5338649", "id_type": "passport"},
        "expected": "different",
    },
    {
        "field": "id_number",
        "l": {"id_number": ID},
        "r": {"id_number": "000000000000000000"},
        "expected": "missing, a suspect number, or documents of different kinds",
    },
    # gender, phone, address
    {"field": "gender", "l": {"gender": "M"}, "r": {"id_number": ID}, "expected": "different"},
    {"field": "gender", "l": {"gender": "U"}, "r": {"gender": "F"}, "expected": "missing"},
    {
        "field": "phone",
        "l": {"phone": "+86 138 1234 5678"},
        "r": {"phone": "13812345678"},
        "expected": "same number",
    },
    {
        "field": "phone",
        "l": {"phone": "13812345678"},
        "r": {"phone": "13812345687"},
        "expected": "two adjacent digits swapped",
    },
    # numbers issued in sequence belong to different people: no near-agreement
    # A number that contradicts its own record (staging's id_status) is suspect evidence.
    {
        "field": "id_number",
        "l": {"id_number": ID},
        "r": {"id_number": ID, "id_status": "contradicts_record"},
        "expected": "same number, but it contradicts a record",
    },
    {
        "field": "id_number",
        "l": {"id_number": OTHER_VALID_ID},
        "r": {"id_number": ID, "id_status": "contradicts_record"},
        "expected": "missing, a suspect number, or documents of different kinds",
    },
    {
        "field": "name",
        "l": {"name": "YUI SUZUKI"},
        "r": {"name": "铃木结衣"},
        "expected": "written in different scripts",
    },
    # A birth date read from the number both records hold adds nothing to the number's agreement.
    {
        "field": "birth_date",
        "l": {"id_number": ID},
        "r": {"id_number": ID, "birth_date": "1949-12-31"},
        "expected": "read from the number both records share",
    },
    {
        "field": "birth_date",
        "l": {"id_number": ID},
        "r": {"id_number": OTHER_VALID_ID, "birth_date": "1949-12-31"},
        "expected": "same date",
    },
    {
        "field": "phone",
        "l": {"phone": "13812345678"},
        "r": {"phone": "13812345679"},
        "expected": "different",
    },
    {
        "field": "phone",
        "l": {"phone": "13812345609"},
        "r": {"phone": "13812345610"},
        "expected": "different",
    },
    # The place register's flats and buildings: one flat written two ways is the same flat; a
    # registered flat counts as one of the record's flats.
    {
        "field": "address",
        "l": {"address": "兴业社区4栋1单元601", "dwelling_id": "D1", "building_id": "B1"},
        "r": {"address": "中山大道39号4栋1单元601室", "dwelling_id": "D1", "building_id": "B1"},
        "expected": "same flat",
    },
    {
        "field": "address",
        "l": {"address": "兴业社区4栋1单元601", "dwelling_id": "D1", "building_id": "B1"},
        "r": {
            "registered_address": "中山大道39号4栋1单元601室",
            "registered_dwelling_id": "D1",
            "registered_building_id": "B1",
            "dwelling_id": "D7",
            "building_id": "B7",
        },
        "expected": "same flat",
    },
    {
        "field": "address",
        "l": {"address": "兴业社区4栋1单元601", "dwelling_id": "D1", "building_id": "B1"},
        "r": {"address": "中山大道39号4栋2单元1202室", "dwelling_id": "D2", "building_id": "B1"},
        "expected": "same building",
    },
    {
        "field": "address",
        "l": {"address": "江岸区 解放大道 1号 3栋"},
        "r": {"address": "江岸区解放大道1号3栋"},
        "expected": "same address",
    },
    {
        "field": "address",
        "l": {"address": "江岸区解放大道100号3栋201"},
        "r": {"address": "江岸区解放大道100号3栋202"},
        "expected": "very similar",
    },
    {
        "field": "address",
        "l": {"address": "江岸区解放大道1号"},
        "r": {"address": "洪山区珞喻路7号"},
        "expected": "different",
    },
    # Latin addresses on their words and numbers, in any order
    {
        "field": "address",
        "l": {"address": "32 McClintock Street, Silverdale, Carlingford 2880 NSW"},
        "r": {"address": "Silverdale, 12 McClintock Street, Carlingford 2880 NSW"},
        "expected": "same words but one",
    },
    {
        "field": "address",
        "l": {"address": "32 mcclintock street, silverdale south, carlingford 0880 nsw"},
        "r": {"address": "163 mackenzie street, silverdal south, carlingford 0880 nsw"},
        "expected": "half the words or more",
    },
    {
        "field": "address",
        "l": {"address": "4 rue de la Paix, 69001 Valmont"},
        "r": {"address": "18 avenue Jean Jaurès, 69003 Valmont"},
        "expected": "different",
    },
]


@pytest.fixture(scope="module")
def levels() -> list[dict[str, str]]:
    """The levels of every case, computed in one pass."""
    records = []
    for index, case in enumerate(CASES):
        records += [staged_record(f"l:{index}", **case["l"]), staged_record(f"r:{index}", **case["r"])]
    pairs = [(f"l:{index}", f"r:{index}") for index in range(len(CASES))]
    return levels_of_pairs(staged_table(records), pairs)


@pytest.mark.parametrize(
    "index", range(len(CASES)), ids=lambda i: f"{CASES[i]['field']}:{CASES[i]['l']}~{CASES[i]['r']}"
)
def test_comparison_level_of_literal_pair(levels: list[dict[str, str]], index: int) -> None:
    """A literal record pair reaches the expected level of the comparison under test."""
    case = CASES[index]
    assert levels[index][case["field"]] == case["expected"]


def test_levels_are_symmetric() -> None:
    """Swapping the two records of a pair gives the same level for every comparison."""
    records = staged_table(
        [
            staged_record("a:1", name="张伟", id_number=ID, birth_date="1990-03-04"),
            staged_record("b:2", name="章玮", id_number="110105********002X", birth_date="1990-04-03"),
        ]
    )
    assert comparison_levels(records, "a:1", "b:2") == comparison_levels(records, "b:2", "a:1")
