"""Micro-benchmark of the value standardizers: prints µs per call over 100,000 realistic values.

Run with `.venv/bin/python scripts/bench_standardize.py`. The first pass starts with empty caches
(every ID number and phone is distinct, names and dates repeat as they do in a district); the second
pass repeats the same values, as when another source brings the same people.
"""

from __future__ import annotations

import datetime
import random
import time
from collections.abc import Callable, Sequence

from stdnum.cn import ric

from pipelines.standardize.dates import parse_date
from pipelines.standardize.id_number import normalize_id_number
from pipelines.standardize.names import name_pinyin, normalize_name
from pipelines.standardize.phones import normalize_phone

N = 100_000
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃单"  # noqa: E501
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红娥玲芬建国志文斌宇浩然欣怡子涵"
TRADITIONAL = {"张": "張", "陈": "陳", "刘": "劉", "华": "華", "伟": "偉", "军": "軍", "红": "紅"}


def resident_id(rng: random.Random) -> str:
    """A random resident ID with a correct check character."""
    birth = datetime.date(1930, 1, 1) + datetime.timedelta(days=rng.randrange(30_000))
    body = f"4201{rng.randrange(10, 20)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + ric.calc_check_digit(body + "0")


def id_value(rng: random.Random) -> object:
    """An ID cell as sources hold them: mostly clean, some dirty, masked, old or empty."""
    number = resident_id(rng)
    roll = rng.random()
    if roll < 0.75:
        return number
    if roll < 0.80:
        spaced = f"{number[:6]} {number[6:14]} {number[14:]}"
        return number.lower() if number.endswith("X") else spaced
    if roll < 0.85:
        return number[:6] + number[8:17]
    if roll < 0.90:
        return number[:6] + "********" + number[14:]
    if roll < 0.95:
        return number[:-1] + ("1" if number[-1] == "0" else "0")  # wrong check character
    return rng.choice([None, "", "无", "000000000000000000", "4.20102199003071E+17"])


def name_value(rng: random.Random) -> str:
    """A name drawn with the heavy repetition of common Chinese names."""
    name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
    roll = rng.random()
    if roll < 0.05:
        return "".join(TRADITIONAL.get(ch, ch) for ch in name)
    if roll < 0.08:
        return " ".join(name)
    return name


def phone_value(rng: random.Random) -> str:
    """A mobile or landline number in one of the usual spellings."""
    mobile = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
    return rng.choice(
        [mobile, mobile, f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}", f"+86{mobile}",
         f"027-8{rng.randrange(10**7):07d}"]
    )  # fmt: skip


def date_value(rng: random.Random) -> str:
    """A birth date in one of the usual layouts."""
    birth = datetime.date(1930, 1, 1) + datetime.timedelta(days=rng.randrange(30_000))
    layouts = ["%Y-%m-%d", "%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y年%m月%d日"]
    return birth.strftime(rng.choice(layouts))


def microseconds_per_call(func: Callable[[object], object], values: Sequence[object]) -> float:
    """CPU time of one call of func per value (other processes' load does not count)."""
    start = time.process_time()
    for value in values:
        func(value)
    return (time.process_time() - start) / len(values) * 1e6


def report(label: str, func: Callable[[object], object], values: Sequence[object]) -> None:
    """Print one row: distinct values, µs/call with cold caches, then warm."""
    cold = microseconds_per_call(func, values)
    warm = microseconds_per_call(func, values)
    distinct = len({repr(v) for v in values})
    print(f"{label:<22}{distinct:>10}{cold:>10.2f}{warm:>10.2f}")


def main() -> None:
    """Print µs/call for each standardizer over N realistic values."""
    rng = random.Random(20240601)
    names = [name_value(rng) for _ in range(N)]
    print(f"{'function':<22}{'distinct':>10}{'cold µs':>10}{'warm µs':>10}")
    report("normalize_id_number", normalize_id_number, [id_value(rng) for _ in range(N)])
    report("normalize_phone", normalize_phone, [phone_value(rng) for _ in range(N)])
    report("parse_date", parse_date, [date_value(rng) for _ in range(N)])
    report("normalize_name", normalize_name, names)
    report("name_pinyin", name_pinyin, [normalize_name(name) for name in names])  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
