"""A small synthetic population spread over four sources, written as staged states (resolve tests).

Deterministic (seeded). Besides the random population it holds literal hard cases: twins, a
same-name-same-birthday stranger, and one person written in traditional characters and in pinyin.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from stdnum.cn import ric

from pipelines.canonical import FINDING_SCHEMA, QUARANTINE_SCHEMA
from pipelines.layout import WarehouseLayout, write_json_atomically
from tests.unit.resolve_records import staged_record, staged_table

SOURCES = ("public_security", "grid", "civil_affairs", "social_security")
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力永健国峰荣东志海波宁"
TWIN_ID_A, TWIN_ID_B = "420102199003041236", "420102199003041252"


def citizen_id(region: str, birth: dt.date, order: int) -> str:
    body = f"{region}{birth:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")


def _person(rng: random.Random, key: int) -> dict[str, Any]:
    gender = rng.choice("MF")
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(80 * 365))
    order = rng.randrange(400) * 2 + (1 if gender == "M" else 0)
    name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
    return {
        "key": f"P{key}",
        "name": name,
        "gender": gender,
        "birth_date": birth.isoformat(),
        "id_number": citizen_id(rng.choice(["420102", "420103"]), birth, order),
        "phone": f"139{rng.randrange(10**8):08d}",
        "address": f"武汉市江岸区{rng.randrange(1, 90)}号{rng.randrange(1, 30)}栋{rng.randrange(101, 2000)}",
    }


def _record_of(rng: random.Random, person: dict[str, Any], source: str) -> dict[str, Any]:
    fields = {k: v for k, v in person.items() if k != "key"}
    if source == "grid" and rng.random() < 0.5:
        fields.pop("id_number")
    if rng.random() < 0.2:
        fields.pop("phone")
    if source == "public_security":
        fields.pop("address")
    return fields


HARD_CASES: list[tuple[str, str, dict[str, Any]]] = [
    # twins: same surname, birth date, address and phone, different names and ID numbers
    (
        "public_security:T1",
        "TWIN1",
        {"name": "刘子轩", "id_number": TWIN_ID_A, "birth_date": "1990-03-04", "gender": "M"},
    ),
    (
        "public_security:T2",
        "TWIN2",
        {"name": "刘子涵", "id_number": TWIN_ID_B, "birth_date": "1990-03-04", "gender": "M"},
    ),
    (
        "grid:T1",
        "TWIN1",
        {
            "name": "刘子轩",
            "birth_date": "1990-03-04",
            "gender": "M",
            "address": "武汉市江岸区1号1栋101",
            "phone": "13900000001",
        },
    ),
    (
        "grid:T2",
        "TWIN2",
        {
            "name": "刘子涵",
            "birth_date": "1990-03-04",
            "gender": "M",
            "address": "武汉市江岸区1号1栋101",
            "phone": "13900000001",
        },
    ),
    # same name, same birthday, different people (no shared ID, address or phone)
    (
        "grid:S1",
        "STRANGER1",
        {
            "name": "王芳",
            "birth_date": "1985-06-01",
            "gender": "F",
            "address": "武汉市江岸区5号2栋301",
            "phone": "13912345678",
        },
    ),
    (
        "civil_affairs:S2",
        "STRANGER2",
        {
            "name": "王芳",
            "birth_date": "1985-06-01",
            "gender": "F",
            "address": "武汉市洪山区珞喻路88号",
            "phone": "13698765432",
        },
    ),
    # one person: register in simplified characters, grid in traditional, social security in pinyin
    ("public_security:Z1", "ZHANG", {"name": "张伟", "id_number": "110105194912310011", "gender": "M"}),
    (
        "grid:Z1",
        "ZHANG",
        {
            "name": "張偉",
            "birth_date": "1949-12-31",
            "gender": "M",
            "phone": "13900000004",
            "address": "武汉市江岸区9号1栋909",
        },
    ),
    (
        "social_security:Z1",
        "ZHANG",
        {"name": "ZHANG WEI", "id_number": "110105491231001", "phone": "13900000004"},
    ),
]


def population(persons: int, seed: int = 7) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Staged records per source and the truth (record reference → person key)."""
    rng = random.Random(seed)
    by_source: dict[str, list[dict[str, Any]]] = {source: [] for source in SOURCES}
    truth: dict[str, str] = {}
    for key in range(persons):
        person = _person(rng, key)
        for source in SOURCES:
            if source != "public_security" and rng.random() < 0.5:
                continue
            ref = f"{source}:{person['key']}"
            by_source[source].append(staged_record(ref, **_record_of(rng, person, source)))
            truth[ref] = person["key"]
    for ref, key, fields in HARD_CASES:
        by_source[ref.split(":")[0]].append(staged_record(ref, **fields))
        truth[ref] = key
    return by_source, truth


def write_staged(layout: WarehouseLayout, by_source: dict[str, list[dict[str, Any]]], batch_id: str) -> None:
    """Write each source's records as its current staged state."""
    for source, records in by_source.items():
        folder = layout.staged(source) / batch_id
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(staged_table(records), folder / "records.parquet")
        pq.write_table(QUARANTINE_SCHEMA.empty_table(), folder / "quarantine.parquet")
        pq.write_table(FINDING_SCHEMA.empty_table(), folder / "findings.parquet")
        write_json_atomically(
            layout.staged(source) / "CURRENT", {"batch_id": batch_id, "applied": [batch_id]}
        )


def truth_table(truth: dict[str, str]) -> pa.Table:
    """The truth as ``source_system, source_record_id, person_key``."""
    refs = list(truth)
    return pa.table(
        {
            "source_system": [r.split(":")[0] for r in refs],
            "source_record_id": [r.split(":")[1] for r in refs],
            "person_key": [truth[r] for r in refs],
        }
    )
