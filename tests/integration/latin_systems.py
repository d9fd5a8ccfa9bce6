"""Three source systems of a fictional non-Chinese city (Valmont), written as SQLite files.

Deterministic (seeded ``random.Random``). A clinic, a housing register and a public library hold
overlapping people with Latin names, passports and national ID cards in their own formats, birth
dates in their own layouts and +33/+49 phones. Each system has its own conventions (the clinic
writes 'FAMILY, Given' from a separate family-name column; the library's old software is ASCII-only
and writes middle names as initials) and its own errors at rates like the Chinese demo's: letter
typos, day and month swapped, a digit mistyped, missing documents, middle names dropped. Besides
the random population there are literal hard cases: twins (same family name, birth date, address
and home phone) and strangers sharing a common name and birth date. The truth maps every record to
its person; only the test reads it. The contracts say what a data officer knows of each system:
its identity cards are `national_id` numbers, and its phones follow the French numbering plan
(`region: FR`) when written without a country code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import sqlite3
import string
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

import phonenumbers
import pyarrow as pa

CLINIC_CONTRACT = """
name: clinic
title: Valmont clinic patients
owner: Valmont health office
connection: ${LATIN_CLINIC_URL}
query: >-
  select patient_no, family_name || ', ' || given_names as full_name, sex, dob, doc_kind, doc_no,
  mobile, street || ', ' || postcode || ' Valmont' as address
  from patients
primary_key: patient_no
fields:
  id_type: {column: doc_kind, codes: {P: passport, N: national_id}}
  id_number: doc_no
  name: full_name
  gender: {column: sex, codes: {m: M, f: F}}
  birth_date: {column: dob, format: "%d.%m.%Y"}
  phone: {column: mobile, region: FR}
  address: address
"""

HOUSING_CONTRACT = """
name: housing
title: Valmont housing register tenants
owner: Valmont housing office
connection: ${LATIN_HOUSING_URL}
table: tenants
primary_key: tenant_id
fields:
  id_type: {value: national_id}
  id_number: id_card
  name: tenant_name
  birth_date: {column: born, format: "%m/%d/%Y"}
  phone: {column: telephone, region: FR}
  address: flat_address
"""

LIBRARY_CONTRACT = """
name: library
title: Valmont public library members
owner: Valmont culture office
connection: ${LATIN_LIBRARY_URL}
table: members
primary_key: member_no
fields:
  id_type: {value: national_id}
  id_number: card_id
  name: member_name
  gender: {column: gender, codes: {F: F, M: M}}
  birth_date: {column: birthday, format: "%Y-%m-%d"}
  phone: {column: phone, region: FR}
  address: home
"""

CONTRACTS = {"clinic": CLINIC_CONTRACT, "housing": HOUSING_CONTRACT, "library": LIBRARY_CONTRACT}

GIVEN_F = (
    "Marie", "Anna", "Léa", "Zoë", "Sofía", "Renée", "Chloé", "Inès", "Hélène", "Julia", "Emma",
    "Camille", "Laura", "Agnieszka", "Małgorzata", "Ingrid", "Åsa", "Birgit", "Élodie", "Lucía",
    "Carmen", "Françoise", "Sarah", "Nadia", "Fatma", "Ayşe", "Greta", "Mia", "Noémie", "Clara",
    "Isabelle", "Paula", "Eva", "Joanna", "Margarete", "Anaïs", "Océane", "Beatriz", "Leonor", "Dörte",
)  # fmt: skip
GIVEN_M = (
    "José", "Jürgen", "Björn", "Luis", "Thomas", "Lukas", "Jonas", "François", "Søren", "Łukasz",
    "André", "Mehmet", "Ömer", "Nicolás", "Pierre", "Jean", "Paul", "Miguel", "Jérôme", "Stefan",
    "Karl", "Henrik", "Piotr", "Tomás", "João", "Antoine", "Hugo", "Mathis", "Raphaël", "Olaf",
    "Günter", "Ramón", "Sebastián", "Marek", "Noël", "Benoît", "Félix", "Emil", "David", "Ali",
)  # fmt: skip
FAMILY = (
    "Martin", "Müller", "García", "Dubois", "Schmidt", "Nowak", "Wójcik", "Fernández", "Lefèvre",
    "Bernard", "Petit", "Durand", "Moreau", "Weiß", "Schäfer", "Jørgensen", "Öztürk", "Yılmaz",
    "Kowalski", "Lambert", "Rousseau", "Fontaine", "Silva", "Gonçalves", "Costa", "Rossi", "Ricci",
    "Dvořák", "Novák", "Łukaszewicz", "Andersson", "Nieminen", "Brückner", "Hoffmann", "Fischer",
    "López", "Sánchez", "Martínez", "Pérez", "Girard", "Bonnet", "Mercier", "Faure", "André",
    "Blanc", "Guérin", "Boyer", "Chevalier", "Lemaître", "Krüger", "Köhler", "Zieliński",
    "Szymański", "Kaya", "Demir", "Çelik", "Şahin", "O'Brien", "Núñez", "Ibáñez", "Gómez", "Díaz",
    "Vogel", "Becker", "Wagner", "Roux", "Vincent", "Muller", "Garcia", "Leroy", "Renaud", "Caron",
)  # fmt: skip
STREETS = (
    "rue de la Paix", "avenue Jean Jaurès", "rue Émile Zola", "boulevard Pasteur", "rue des Écoles",
    "Lindenstraße", "rue du Moulin", "place de l'Église", "chemin des Prés", "allée des Tilleuls",
    "rue Victor Hugo", "quai de Saône", "rue Saint-Éloi", "impasse des Lilas", "route de Lyon",
)  # fmt: skip
ID_LETTERS = "CFGHJKLMNPRTVWXYZ"
AS_OF = dt.date(2026, 1, 15)


@dataclass
class Person:
    """One inhabitant of Valmont as they really are."""

    key: str
    given: str
    middle: str | None
    family: str
    gender: str
    birth: dt.date
    national_id: str
    passport: str | None
    phone: str | None
    address: tuple[int, str, str]
    records: dict[str, int] = field(default_factory=dict)


@dataclass
class Systems:
    """The rows of each system and which person each row is."""

    rows: dict[str, list[tuple[str | None, ...]]]
    truth: dict[tuple[str, str], str]
    twins: list[tuple[str, str]]
    strangers: list[tuple[str, str]]

    def truth_table(self) -> pa.Table:
        """``source_system, source_record_id, person_key``."""
        refs = sorted(self.truth)
        return pa.table(
            {
                "source_system": [s for s, _ in refs],
                "source_record_id": [r for _, r in refs],
                "person_key": [self.truth[ref] for ref in refs],
            }
        )


def fold_to_ascii(text: str) -> str:
    """What an ASCII-only system stores: letters without their accents ('Łukasz' → 'Lukasz')."""
    text = text.translate(str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "ı": "i"}))
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _weighted(rng: random.Random, values: tuple[str, ...]) -> str:
    """A name drawn with Zipf-like weights, so common names are shared by many people."""
    return rng.choices(values, weights=[1 / (i + 1) ** 0.8 for i in range(len(values))])[0]


def _mobile(rng: random.Random) -> str:
    while True:
        if rng.random() < 0.85:
            number = "+336" + f"{rng.randrange(10**8):08d}"
        else:
            number = "+4915" + rng.choice("1279") + f"{rng.randrange(10**8):08d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number


def _document(rng: random.Random, letters: int, used: set[str]) -> str:
    while True:
        if letters == 2:  # passport: two letters and seven digits
            number = "".join(rng.choices(string.ascii_uppercase, k=2)) + f"{rng.randrange(10**7):07d}"
        else:  # national identity card: nine characters from a reduced alphabet
            number = rng.choice(ID_LETTERS) + "".join(rng.choices(ID_LETTERS + string.digits, k=8))
        if number not in used:
            used.add(number)
            return number


def _person(rng: random.Random, key: str, used: set[str], home: tuple[int, str, str] | None) -> Person:
    gender = rng.choice("MF")
    given = _weighted(rng, GIVEN_M if gender == "M" else GIVEN_F)
    family = _weighted(rng, FAMILY)
    if rng.random() < 0.08:
        family += "-" + _weighted(rng, FAMILY)
    middle = _weighted(rng, GIVEN_M if gender == "M" else GIVEN_F) if rng.random() < 0.15 else None
    address = home or (rng.randrange(1, 120), rng.choice(STREETS), f"690{rng.randrange(10, 99)}")
    return Person(
        key=key,
        given=given,
        middle=middle if middle != given else None,
        family=family,
        gender=gender,
        birth=dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(75 * 365)),
        national_id=_document(rng, 1, used),
        passport=_document(rng, 2, used) if rng.random() < 0.35 else None,
        phone=_mobile(rng) if rng.random() < 0.85 else None,
        address=address,
    )


# -- how each system writes a value, with its errors ------------------------------------------------


def _typo(rng: random.Random, word: str) -> str:
    position = rng.randrange(1, len(word))
    return word[:position] + rng.choice("aeinorstu") + word[position + 1 :]


def _birth(rng: random.Random, birth: dt.date, layout: str) -> str | None:
    u = rng.random()
    if u < 0.02:
        return None
    if u < 0.03 and birth.day <= 12 and birth.day != birth.month:
        birth = birth.replace(month=birth.day, day=birth.month)  # day and month swapped
    elif u < 0.04:
        text = birth.strftime("%Y%m%d")
        position = rng.choice([2, 3, 7])  # a decade, year or day digit mistyped
        digit = str((int(text[position]) + rng.choice([1, 9])) % 10)
        with contextlib.suppress(ValueError):  # an impossible date stays as it was
            birth = dt.datetime.strptime(text[:position] + digit + text[position + 1 :], "%Y%m%d").date()
    return birth.strftime(layout)


def _id_card(rng: random.Random, number: str) -> str:
    u = rng.random()
    if u < 0.05:
        return number.lower()
    if u < 0.10:
        return f"{number[:3]} {number[3:6]} {number[6:]}"
    return number


def _spaced_phone(number: str) -> str:
    """'+33 6 12 34 56 78' or '+49 151 12345678'."""
    if number.startswith("+33"):
        digits = number[3:]
        return "+33 " + digits[0] + " " + " ".join(digits[i : i + 2] for i in range(1, 9, 2))
    return "+49 " + number[3:6] + " " + number[6:]


def _national_phone(number: str) -> str:
    """'06 12 34 56 78' (French domestic format, no country code)."""
    digits = "0" + number[3:]
    return " ".join(digits[i : i + 2] for i in range(0, 10, 2))


def _given_names(rng: random.Random, person: Person, middle: str) -> str:
    """Given names as a system writes them: middle name 'full', 'initial' or 'dropped'."""
    if person.middle is None or middle == "dropped":
        return person.given
    return f"{person.given} {person.middle[0]}." if middle == "initial" else f"{person.given} {person.middle}"


def _family(rng: random.Random, person: Person) -> str:
    family = person.family
    if rng.random() < 0.015:
        family = _typo(rng, family)
    return family


def _clinic_row(rng: random.Random, person: Person, record_id: str) -> tuple[str | None, ...]:
    """Family and given names in two columns; a passport or the national card, or nothing."""
    kind, number = ("N", _id_card(rng, person.national_id))
    u = rng.random()
    if person.passport and u < 0.3:
        kind, number = "P", person.passport.lower() if rng.random() < 0.05 else person.passport
    elif u > 0.93:
        kind, number = None, None
    middle = "full" if rng.random() < 0.9 else "dropped"
    number_, street, postcode = person.address
    return (
        record_id,
        _family(rng, person).upper(),
        _given_names(rng, person, middle),
        person.gender.lower() if rng.random() > 0.01 else None,
        _birth(rng, person.birth, "%d.%m.%Y"),
        kind,
        number,
        _spaced_phone(person.phone) if person.phone and rng.random() < 0.9 else None,
        f"{number_} {street}",
        postcode,
    )


def _housing_row(rng: random.Random, person: Person, record_id: str) -> tuple[str | None, ...]:
    """'Given Family' (sometimes 'FAMILY Given'), the national card, US-style dates."""
    middle = "dropped" if rng.random() < 0.3 else "full"
    family = _family(rng, person)
    if "-" in family and rng.random() < 0.5:
        family = family.replace("-", " ")
    given = _given_names(rng, person, middle)
    name = f"{family.upper()} {given}" if rng.random() < 0.05 else f"{given} {family}"
    number_, street, postcode = person.address
    phone = None
    if person.phone and rng.random() < 0.8:
        phone = person.phone if rng.random() < 0.5 else "00" + person.phone[1:]
    return (
        record_id,
        _id_card(rng, person.national_id) if rng.random() < 0.92 else None,
        name,
        _birth(rng, person.birth, "%m/%d/%Y"),
        phone,
        f"{number_}, {street.title()}, {postcode} Valmont",
    )


def _library_row(rng: random.Random, person: Person, record_id: str) -> tuple[str | None, ...]:
    """ASCII only; middle names as initials; a card number for fewer than half the members."""
    u = rng.random()
    middle = "initial" if u < 0.5 else "dropped" if u < 0.7 else "full"
    given = _given_names(rng, person, middle)
    if rng.random() < 0.02:
        given = person.given[0] + "."
    name = fold_to_ascii(f"{given} {_family(rng, person)}")
    number_, street, postcode = person.address
    phone = None
    if person.phone and rng.random() < 0.85:
        phone = _national_phone(person.phone) if rng.random() < 0.4 else _spaced_phone(person.phone)
    return (
        record_id,
        _id_card(rng, person.national_id) if rng.random() < 0.45 else None,
        name,
        person.gender if rng.random() < 0.9 else None,
        _birth(rng, person.birth, "%Y-%m-%d"),
        phone,
        fold_to_ascii(f"{number_} {street} {postcode} VALMONT").upper(),
    )


ROW_OF = {"clinic": _clinic_row, "housing": _housing_row, "library": _library_row}
COVERAGE = {"clinic": 0.8, "housing": 0.65, "library": 0.5}
SECOND_RECORD = {"clinic": 0.01, "housing": 0.005, "library": 0.02}  # registered twice


# -- the population ----------------------------------------------------------------------------------


def _households(rng: random.Random, persons: int, used: set[str]) -> list[Person]:
    """People in households of one to four; members share the address and often the family name."""
    people: list[Person] = []
    while len(people) < persons:
        head = _person(rng, f"P{len(people)}", used, None)
        people.append(head)
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            member = _person(rng, f"P{len(people)}", used, head.address)
            if rng.random() < 0.7:
                member = replace(member, family=head.family)
            people.append(member)
    return people[:persons]


def _twins(rng: random.Random, used: set[str], index: int) -> list[Person]:
    """Twins: one family name, birth date, address and home phone; own given names and cards."""
    first = _person(rng, f"TWIN{index}A", used, None)
    second = _person(rng, f"TWIN{index}B", used, first.address)
    given = GIVEN_M if first.gender == "M" else GIVEN_F
    other = given[(given.index(first.given) + 7) % len(given)]
    second = replace(second, family=first.family, birth=first.birth, gender=first.gender, given=other)
    second = replace(second, phone=first.phone or _mobile(rng), middle=None)
    return [replace(first, phone=second.phone, middle=None), second]


def _strangers(rng: random.Random, used: set[str], index: int) -> list[Person]:
    """Two unrelated people with one of the commonest names and the same birth date."""
    first = _person(rng, f"STRANGER{index}A", used, None)
    given = (GIVEN_M if first.gender == "M" else GIVEN_F)[index % 3]
    first = replace(first, given=given, family=FAMILY[index % 3], middle=None)
    second = _person(rng, f"STRANGER{index}B", used, None)
    return [first, replace(second, given=given, family=first.family, gender=first.gender, birth=first.birth)]


def generate(persons: int, seed: int = 2026) -> Systems:
    """Rows of the three systems and the truth, for about ``persons`` people plus the hard cases."""
    rng = random.Random(seed)
    used: set[str] = set()
    people = _households(rng, persons, used)
    twins = [_twins(rng, used, i) for i in range(5)]
    strangers = [_strangers(rng, used, i) for i in range(6)]
    rows: dict[str, list[tuple[str | None, ...]]] = {source: [] for source in ROW_OF}
    truth: dict[tuple[str, str], str] = {}
    for person in people:
        present = [s for s in ROW_OF if rng.random() < COVERAGE[s]] or [rng.choice(list(ROW_OF))]
        for source in present:
            copies = 2 if rng.random() < SECOND_RECORD[source] else 1
            for _ in range(copies):
                _add(rng, rows, truth, source, person)
    for pair in twins + strangers:
        for person in pair:
            for source in ROW_OF:
                _add(rng, rows, truth, source, person)
    return Systems(
        rows=rows,
        truth=truth,
        twins=[(a.key, b.key) for a, b in twins],
        strangers=[(a.key, b.key) for a, b in strangers],
    )


def _add(
    rng: random.Random,
    rows: dict[str, list[tuple[str | None, ...]]],
    truth: dict[tuple[str, str], str],
    source: str,
    person: Person,
) -> None:
    record_id = f"{source[0].upper()}{len(rows[source]) + 1:06d}"
    rows[source].append(ROW_OF[source](rng, person, record_id))
    truth[(source, record_id)] = person.key


# -- writing the systems -----------------------------------------------------------------------------

TABLES = {
    "clinic": (
        "patients",
        "patient_no text primary key, family_name text, given_names text, sex text, dob text,"
        " doc_kind text, doc_no text, mobile text, street text, postcode text",
    ),
    "housing": (
        "tenants",
        "tenant_id text primary key, id_card text, tenant_name text, born text, telephone text,"
        " flat_address text",
    ),
    "library": (
        "members",
        "member_no text primary key, card_id text, member_name text, gender text, birthday text,"
        " phone text, home text",
    ),
}


def write_systems(systems: Systems, root: Path) -> tuple[Path, dict[str, str]]:
    """Write each system as a SQLite file and its contract; returns the contracts folder and env."""
    contracts = root / "sources"
    contracts.mkdir()
    environ = {}
    for source, (table, columns) in TABLES.items():
        database = root / f"{source}.sqlite"
        with sqlite3.connect(database) as connection:
            connection.execute(f"create table {table} ({columns})")
            marks = ", ".join("?" * (columns.count(",") + 1))
            connection.executemany(f"insert into {table} values ({marks})", systems.rows[source])
        connection.close()
        (contracts / f"{source}.yaml").write_text(CONTRACTS[source], encoding="utf-8")
        environ[f"LATIN_{source.upper()}_URL"] = f"sqlite:///{database}"
    return contracts, environ
