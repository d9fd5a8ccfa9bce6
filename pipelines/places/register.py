"""The place register: buildings, flats (dwellings) and their grids, learned from every source.

No source knows every place. A grid roster gives the grid code of the addresses it holds; other
systems give addresses only, and write one building by its compound's name in one system
('翠苑城9幢'), by road and number in another ('三阳路27号9栋') and by community in a third
('后湖社区9栋'). Staging parses every address into parts and a building key
``<district code>|<anchor>|<building>`` (`pipelines.standardize.addresses`); the register decides
which keys are one building, from evidence in the data, never from a list typed into code:

1. **Locality.** A key whose text named no district takes the district the same anchor has
   elsewhere in the data, else the district most addresses name.
2. **Aliases, per building.** Two keys of different anchors are one building when one address
   text names both anchors (a compound and its road number), or when a person holding one
   exclusive ID number (records of one person, before any probabilistic matching) is written at
   the same building, unit and room under both anchors. A key with evidence pointing to several
   other anchors keeps only a dominant one.
3. **Aliases, per anchor.** Anchors aliased at two building numbers or more, with nothing pointing
   elsewhere, are the same compound for every building number (a community written for its only
   compound; a compound's gate number).
4. **Buildings** are the connected keys; **dwellings** are a building's unit and room (a flat
   written without its unit takes the only unit the building has that room in); each keeps a
   stable id across runs (the id most of its keys held before, else a new random one).
5. **Grids.** A building lies in the grid most of the records placed there by a source's
   ``grid_code`` name; a building no such record names takes its compound's grid when the
   compound lies in one grid.

Every alias is kept with its evidence (``place_alias``), for auditors. The register is rebuilt on
every run from all staged records (one pass of SQL); ids stay put through the id map.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipelines.canonical import staged_schema
from pipelines.layout import WarehouseLayout, scratch_directory, staging_directory
from pipelines.resolve.features import record_ref, run_sql, run_with_rows, sql_text
from pipelines.stage import RECORDS, current_state_dir

log = logging.getLogger(__name__)

PLACES_FILE = "places.duckdb"
# What the register says of each record (``record_place``), besides its ``unique_id``.
PLACE_COLUMNS = (
    "building_id",
    "dwelling_id",
    "place_grid_code",
    "registered_building_id",
    "registered_dwelling_id",
    "registered_grid_code",
    "household_id",
    "co_household_id",
)
# Staged columns holding parsed addresses, with the kind of address each is.
ADDRESS_KINDS = {"actual": "address_parts", "registered": "registered_address_parts"}
# Persons plus address texts it takes for two anchors or building keys to be one place; for two
# anchors both written often (neither a rare spelling of the other), STRONG_ALIAS_WEIGHT.
ALIAS_MIN_WEIGHT = 1
STRONG_ALIAS_WEIGHT = 2
RARE_SPELLING_SHARE = 0.2
# A community's or bare road's building joins a compound's building only when this share of its
# evidence points there (a community holds several compounds, each with a building 1).
DOMINANT_SHARE = 0.8
# A compound's grid stands for a building no grid record names when this share of its votes agree.
COMPOUND_GRID_SHARE = 0.9
ID_STATUSES_TRUSTED = ("valid", "converted_15")
MEMORY_LIMIT = "1GB"

# The register's tables, each with the order it is read in.
TABLES = {
    "place_building": "building_id",
    "place_dwelling": "dwelling_id",
    "place_household": "household_id",
    "place_alias": "level, alias_l, alias_r",
    "record_place": "unique_id",
    "place_key_id": "kind, key",
}


@dataclass(frozen=True)
class PlaceRegister:
    """The place register of one run: a DuckDB file holding ``TABLES``.

    Attributes:
        database: The register's database file (``<warehouse>/places/places.duckdb``).
        buildings: How many buildings it holds.
        dwellings: How many dwellings it holds.
        aliases: How many building-key aliases it accepted.
    """

    database: Path
    buildings: int
    dwellings: int
    aliases: int

    def table(self, name: str) -> pa.Table:
        """One of the register's tables, in its order."""
        connection = duckdb.connect(str(self.database), read_only=True)
        try:
            return connection.sql(f"from {name} order by {TABLES[name]}").to_arrow_table()
        finally:
            connection.close()


def places_folder(layout: WarehouseLayout) -> Path:
    """Where the place register lives in a warehouse."""
    return layout.root / "places"


def learn_places(
    layout: WarehouseLayout, sources: Sequence[str], exclusive_id_types: Sequence[str]
) -> PlaceRegister:
    """Build the place register from the current staged records of the named sources.

    Args:
        layout: The warehouse.
        sources: Source systems with a staged state.
        exclusive_id_types: Document types a person holds one number of (the matching
            configuration's ``exclusive_id_types``).

    Returns:
        The new register, in ``<warehouse>/places/``.
    """
    files = [str(folder / RECORDS) for source in sources if (folder := current_state_dir(layout, source))]
    with scratch_directory(layout.root) as spill:
        connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": str(spill)})
        try:
            if files:
                listed = ", ".join(sql_text(name) for name in files)
                run_sql(
                    connection, f"create view records as from read_parquet([{listed}], union_by_name = true)"
                )
            else:
                connection.register("records", staged_schema().empty_table())
            return build_place_register(layout, "records", connection, exclusive_id_types)
        finally:
            connection.close()


def build_place_register(
    layout: WarehouseLayout,
    records: str,
    connection: duckdb.DuckDBPyConnection,
    exclusive_id_types: Sequence[str],
) -> PlaceRegister:
    """Learn the places of every staged record and write a new register (swapped in when complete).

    Args:
        layout: The warehouse (the previous register's ids are read from it).
        records: Name of the staged-records relation on ``connection``.
        connection: A DuckDB connection (in-memory) holding ``records``.
        exclusive_id_types: Document types a person holds one number of (their holders are one
            person when the number agrees with the record; the evidence for aliases).

    Returns:
        The new register.
    """
    folder = places_folder(layout)
    previous = folder / PLACES_FILE
    with staging_directory(folder) as fresh:
        database = fresh / PLACES_FILE
        run_sql(connection, f"attach {sql_text(str(database))} as register")
        try:
            _observations(connection, records, exclusive_id_types)
            _alias_evidence(connection)
            keys, groups = _buildings(connection)
            _previous_ids(connection, previous)
            _name_buildings(connection, keys, groups)
            _dwellings(connection)
            _grids(connection)
            _households(connection)
            _write(connection)
            counts = connection.sql(
                "select (select count(*) from register.place_building),"
                " (select count(*) from register.place_dwelling), (select count(*) from register.place_alias)"
            ).fetchall()[0]
        finally:
            run_sql(connection, "detach register")
    return PlaceRegister(folder / PLACES_FILE, *counts)


def _observations(
    connection: duckdb.DuckDBPyConnection, records: str, exclusive_id_types: Sequence[str]
) -> None:
    """``place_records``: what the register reads of each record, in one scan of the staged
    records; ``place_obs_keyed``: one row per record and address kind with a building key, its
    locality resolved, the person (a trusted exclusive number) and the grid the record names."""
    types = ", ".join(sql_text(t) for t in exclusive_id_types)
    trusted = ", ".join(sql_text(s) for s in ID_STATUSES_TRUSTED)
    placed = " or ".join(f"r.{column}.building_key is not null" for column in ADDRESS_KINDS.values())
    run_sql(
        connection,
        f"""
        create or replace temp table place_records as
        select {record_ref("r")} as unique_id, r.grid_code, r.household_number,
               {", ".join(f"r.{column}" for column in ADDRESS_KINDS.values())},
               case when r.id_status in ({trusted}) and r.id_type in ({types})
                    then r.id_type || ':' || r.id_number end as person
        from {records} r where {placed} or r.household_number is not null
        """,
    )
    parts = []
    for kind, column in ADDRESS_KINDS.items():
        grid = "grid_code" if kind == "actual" else "cast(null as varchar)"
        parts.append(
            f"""
            select unique_id, '{kind}' as kind, {column} as a, {grid} as grid_code, person,
                   split_part({column}.building_key, '|', 1) as written_locality,
                   split_part({column}.building_key, '|', 2) as anchor
            from place_records where {column}.building_key is not null
            """
        )
    run_sql(
        connection,
        f"""
        create or replace temp table place_obs_keyed as
        with split as ({" union all ".join(parts)}),
        anchor_locality as (
            select anchor, min(written_locality) as locality
            from split where written_locality <> '' group by anchor
            having count(distinct written_locality) = 1
        ),
        home as (
            select written_locality as locality from split where written_locality <> ''
            group by all order by count(*) desc, written_locality limit 1
        ),
        located as (
            select s.unique_id, s.kind, s.person, s.grid_code, s.anchor,
                   coalesce(nullif(s.written_locality, ''), l.locality, (select locality from home), '')
                       as locality,
                   s.a.building as building, nullif(s.a.unit, '') as unit, s.a.room as room,
                   s.a.compound as compound, s.a.road as road, s.a.road_number as road_number,
                   s.a.community as community, s.a.community_code as community_code, s.a.text as text,
                   case when s.a.compound is not null then 'compound'
                        when s.a.road_number is not null then 'road_number'
                        when s.a.road is not null then 'road' else 'community' end as anchor_kind
            from split s left join anchor_locality l using (anchor)
        )
        select *, locality || '|' || anchor || '|' || coalesce(building, '') as key from located
        """,
    )


def _alias_evidence(connection: duckdb.DuckDBPyConnection) -> None:
    """What the data says about which anchors and building keys are one place.

    ``place_evidence``: pairs of anchors (``level`` compound: two names of one compound, a compound
    and its road number) or of building keys (``level`` building: where one anchor is a community
    or a bare road, which hold many compounds), with how many persons (one trusted exclusive
    number) are written at the same building, unit and room under both, and how many address
    texts name both. Every pair with evidence is an alias (``ALIAS_MIN_WEIGHT``).
    """
    run_sql(
        connection,
        f"""
        create or replace temp table place_evidence as
        with same_person as (
            select l.locality, l.anchor as anchor_l, r.anchor as anchor_r, l.anchor_kind as kind_l,
                   r.anchor_kind as kind_r, l.key as key_l, r.key as key_r, l.person
            from place_obs_keyed l join place_obs_keyed r
              on l.person = r.person and l.building = r.building and l.room = r.room
             and l.locality = r.locality and l.anchor < r.anchor
             and (l.unit is null or r.unit is null or l.unit = r.unit)
            where l.person is not null
        ),
        by_person as (
            select case when kind_l in {_COMPOUND_KINDS} and kind_r in {_COMPOUND_KINDS}
                        then 'compound' else 'building' end as level,
                   locality,
                   case when kind_l in {_COMPOUND_KINDS} and kind_r in {_COMPOUND_KINDS}
                        then anchor_l else key_l end as alias_l,
                   case when kind_l in {_COMPOUND_KINDS} and kind_r in {_COMPOUND_KINDS}
                        then anchor_r else key_r end as alias_r,
                   count(distinct person) as persons, 0 as texts
            from same_person group by all
        ),
        by_text as (
            select 'compound' as level, locality,
                   least(anchor, road || road_number || '号') as alias_l,
                   greatest(anchor, road || road_number || '号') as alias_r,
                   0 as persons, count(distinct text) as texts
            from place_obs_keyed
            where anchor_kind = 'compound' and road is not null and road_number is not null
              and anchor <> road || road_number || '号'
            group by all
        )
        select level, locality, alias_l, alias_r, sum(persons)::bigint as persons, sum(texts)::bigint as texts
        from (select * from by_person union all select * from by_text)
        group by all
        having sum(persons) + sum(texts) >= {ALIAS_MIN_WEIGHT}
        """,
    )
    # Two well-attested compounds are not made one by a single person: a name typed wrong can be
    # another compound's name ('花城佳园' for '华城佳园'). One person joins a rare spelling of a
    # compound name to a common one, never two common names (an address naming both is no typo,
    # nor is a road number).
    run_sql(
        connection,
        f"""
        delete from place_evidence e
        using (select locality, anchor, count(*) as n from place_obs_keyed
               where anchor_kind = 'compound' group by all) l,
              (select locality, anchor, count(*) as n from place_obs_keyed
               where anchor_kind = 'compound' group by all) r
        where e.level = 'compound' and e.texts = 0 and e.persons < {STRONG_ALIAS_WEIGHT}
          and l.locality = e.locality and l.anchor = e.alias_l
          and r.locality = e.locality and r.anchor = e.alias_r
          and least(l.n, r.n) > {RARE_SPELLING_SHARE} * greatest(l.n, r.n)
        """,
    )


_COMPOUND_KINDS = "('compound', 'road_number')"


def _anchor_groups(connection: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], int]:
    """Compound anchors (names, road numbers) grouped into compounds by their aliases, and each
    community whose addresses name compounds of one group only (it stands for that compound)."""
    anchors = connection.sql(
        f"select distinct locality, anchor from place_obs_keyed where anchor_kind in {_COMPOUND_KINDS}"
    ).fetchall()
    aliases = connection.sql(
        "select locality, alias_l, alias_r from place_evidence where level = 'compound'"
    ).fetchall()
    pairs = [((locality, left), (locality, right)) for locality, left, right in aliases]
    nodes = sorted({*anchors, *(end for pair in pairs for end in pair)})
    groups = _components(nodes, pairs)
    contains = connection.sql(
        f"""
        select distinct locality, community, anchor from place_obs_keyed
        where community is not null and anchor_kind in {_COMPOUND_KINDS}
          and community in (select anchor from place_obs_keyed where anchor_kind = 'community')
        """
    ).fetchall()
    held: dict[tuple[str, str], set[int]] = {}
    for locality, community, anchor in contains:
        held.setdefault((locality, community), set()).add(groups[(locality, anchor)])
    for (locality, community), compounds in sorted(held.items()):
        if len(compounds) == 1:
            groups[(locality, community)] = next(iter(compounds))
            connection.execute(
                "insert into place_evidence values ('compound', ?, ?, ?, 0, 0)",
                [locality, community, "the only compound its addresses name"],
            )
    return groups


def _components(nodes: list[Any], edges: list[tuple[Any, Any]]) -> dict[Any, int]:
    """Connected components of a graph given by its nodes and edges: node → component number."""
    position = {node: index for index, node in enumerate(nodes)}
    left = np.array([position[a] for a, _ in edges], dtype=np.int64)
    right = np.array([position[b] for _, b in edges], dtype=np.int64)
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(len(nodes), len(nodes)))
    _, component = connected_components(graph, directed=False)
    return dict(zip(nodes, component.tolist(), strict=True))


def _buildings(connection: duckdb.DuckDBPyConnection) -> tuple[list[str], np.ndarray]:
    """Every building key and the building it is.

    A key of a compound anchor is its compound's building of that number. A key of a community
    (of several compounds) or a bare road joins the building its building-level evidence points
    to, when one building holds ``DOMINANT_SHARE`` of it; else it stays a building of its own.
    """
    groups = _anchor_groups(connection)
    keys = connection.sql("select distinct locality, anchor, building, key from place_obs_keyed").fetchall()
    place: dict[str, tuple[object, ...]] = {}
    for locality, anchor, building, key in keys:
        group = groups.get((locality, anchor))
        place[key] = ("compound", locality, group, building) if group is not None else ("key", key)
    evidence = connection.sql("select alias_l, alias_r, persons from place_evidence where level = 'building'")
    pointed: dict[str, dict[tuple[object, ...], int]] = {}
    for left, right, persons in evidence.fetchall():
        for loose, other in ((left, right), (right, left)):
            if place.get(loose, ("key",))[0] == "key" and place.get(other, ("key",))[0] == "compound":
                targets = pointed.setdefault(loose, {})
                targets[place[other]] = targets.get(place[other], 0) + persons
    for loose, targets in pointed.items():
        target, weight = max(targets.items(), key=lambda item: (item[1], str(item[0])))
        if weight >= DOMINANT_SHARE * sum(targets.values()):
            place[loose] = target
    names = sorted(place)
    numbered = {value: index for index, value in enumerate(sorted(set(place.values()), key=str))}
    return names, np.array([numbered[place[name]] for name in names], dtype=np.int64)


def _previous_ids(connection: duckdb.DuckDBPyConnection, previous: Path) -> None:
    """``previous_ids``: the id map of the previous register (kind, key, id); empty without one."""
    run_sql(
        connection,
        "create or replace temp table previous_ids (kind varchar, key varchar, id varchar)",
    )
    if previous.exists():
        run_sql(connection, f"attach {sql_text(str(previous))} as previous_register (read_only)")
        try:
            run_sql(
                connection,
                "insert into previous_ids select kind, key, id from previous_register.place_key_id",
            )
        finally:
            run_sql(connection, "detach previous_register")
    run_sql(connection, "create or replace temp table next_ids as from previous_ids")


def new_place_ids(prefix: str, count: int) -> list[str]:
    """Fresh random public ids (never derived from source data)."""
    return [prefix + secrets.token_hex(8).upper() for _ in range(count)]


def _assign_ids(connection: duckdb.DuckDBPyConnection, kind: str, members: str, prefix: str) -> str:
    """Give each group of keys an id that stays put: the id most of its records held before
    through its keys (ties: the smallest id); a group that would take an id a larger group keeps
    (a place split in two), and a group none of whose keys had one, gets a new random id.

    Args:
        connection: The register's connection, holding ``previous_ids`` and ``next_ids``.
        kind: The kind of place (``building``, ``dwelling``, ``household``).
        members: A relation of ``key, grp, records``: each key, its group and how many records
            it holds.
        prefix: First character of the kind's ids.

    Returns:
        The name of a temp table ``grp, id`` (``{kind}_of_group``); ``next_ids`` gets the map of
        every member key to its group's id.
    """
    table = f"{kind}_of_group"
    run_sql(
        connection,
        f"""
        create or replace temp table {table} as
        with sizes as (
            select grp, sum(records) as records, min(key) as first_key from {members} group by grp
        ),
        held as (
            select m.grp, p.id, sum(m.records) as weight from {members} m
            join previous_ids p on p.kind = '{kind}' and p.key = m.key group by all
        ),
        best as (select grp, arg_min(id, (-weight, id)) as id from held group by grp),
        claimed as (
            select b.grp, b.id, row_number() over (
                partition by b.id order by s.records desc, s.first_key
            ) as claim
            from best b join sizes s using (grp)
        )
        select s.grp, case when c.claim = 1 then c.id end as id
        from sizes s left join claimed c using (grp)
        """,
    )
    missing = connection.sql(f"select grp from {table} where id is null order by grp").fetchall()
    if missing:
        fresh = pa.table({"grp": [row[0] for row in missing], "id": new_place_ids(prefix, len(missing))})
        run_with_rows(
            connection,
            f"update {table} set id = n.id from incoming_rows n where {table}.grp = n.grp",
            fresh,
        )
    run_sql(
        connection,
        f"""
        delete from next_ids where kind = '{kind}' and key in (select key from {members});
        insert into next_ids select '{kind}', m.key, g.id from {members} m join {table} g using (grp);
        """,
    )
    return table


def _name_buildings(connection: duckdb.DuckDBPyConnection, keys: list[str], groups: np.ndarray) -> None:
    """``building_of_key``: each building key's building id (kept from the previous run)."""
    run_with_rows(
        connection,
        """
        create or replace temp table building_members as
        select g.key, g.grp, coalesce(o.records, 0) as records
        from incoming_rows g
        left join (select key, count(*) as records from place_obs_keyed group by key) o using (key)
        """,
        pa.table({"key": keys, "grp": groups}),
    )
    named = _assign_ids(connection, "building", "building_members", "B")
    run_sql(
        connection,
        f"""
        create or replace temp table building_of_key as
        select m.key, g.id as building_id from building_members m join {named} g using (grp)
        """,
    )


def _dwellings(connection: duckdb.DuckDBPyConnection) -> None:
    """``obs_dwelling``: each observation's building id and dwelling key (a flat written without
    its unit takes the only unit its building has that room in); ``dwelling_of_key``: their ids."""
    run_sql(
        connection,
        f"""
        create or replace temp table obs_building as
        with placed as (
            select o.*, b.building_id, row_number() over () as obs_id
            from place_obs_keyed o join building_of_key b using (key)
        ),
        compound_buildings as (
            select distinct building_id from placed where anchor_kind in {_COMPOUND_KINDS}
        ),
        contains as (
            select distinct locality, community, anchor from place_obs_keyed
            where community is not null and anchor_kind in {_COMPOUND_KINDS}
        ),
        -- a flat written by a community of several compounds ('后湖社区2栋1单元302') is the flat of
        -- that number in the one compound of the community that has it
        candidates as (
            select l.obs_id, min(d.building_id) as building_id
            from placed l
            join contains c on c.locality = l.locality and c.community = l.anchor
            join placed d on d.locality = l.locality and d.anchor = c.anchor and d.building = l.building
                and d.room = l.room and (l.unit is null or d.unit = l.unit)
            where l.anchor_kind = 'community' and l.room is not null
              and l.building_id not in (select building_id from compound_buildings)
            group by l.obs_id having count(distinct d.building_id) = 1
        )
        select p.* exclude (building_id), coalesce(c.building_id, p.building_id) as building_id
        from placed p left join candidates c using (obs_id)
        """,
    )
    run_sql(
        connection,
        """
        create or replace temp table obs_dwelling as
        with placed as (select * from obs_building),
        room_units as (
            select building_id, room, min(unit) as unit, count(distinct unit) as units
            from placed where unit is not null and room is not null group by all
        )
        select p.*,
               case when p.room is null then null
                    when p.unit is not null then p.building_id || '|' || p.unit || '|' || p.room
                    when u.units = 1 then p.building_id || '|' || u.unit || '|' || p.room
                    when u.units is null then p.building_id || '||' || p.room
               end as dwelling_key
        from placed p left join room_units u using (building_id, room)
        """,
    )
    # A flat's id follows the flats as written (building key, unit, room), so that it stays when
    # a later run finds two of its building's keys to be one building.
    run_sql(
        connection,
        """
        create or replace temp table dwelling_members as
        select key || '|' || coalesce(unit, '') || '|' || room as key, dwelling_key as grp,
               count(*) as records
        from obs_dwelling where dwelling_key is not null group by all
        """,
    )
    named = _assign_ids(connection, "dwelling", "dwelling_members", "D")
    run_sql(
        connection,
        "create or replace temp table dwelling_of_key as "
        f"select grp as dwelling_key, id as dwelling_id from {named}",
    )


def _grids(connection: duckdb.DuckDBPyConnection) -> None:
    """``building_grid``: the grid of each building, from the grid codes records placed there
    name, else from its compound's (its anchors') when they agree."""
    run_sql(
        connection,
        f"""
        create or replace temp table building_grid as
        with votes as (
            select building_id, grid_code, count(*) as n from obs_dwelling
            where kind = 'actual' and grid_code is not null group by all
        ),
        voted as (
            select building_id, arg_max(grid_code, n) as grid_code, max(n) / sum(n) as share,
                   'grid_code of records placed here' as grid_evidence
            from votes group by building_id
        ),
        compound_votes as (
            select o.locality, o.anchor, v.grid_code, sum(v.n) as n
            from (select distinct building_id, locality, anchor from obs_dwelling) o
            join votes v using (building_id) group by all
        ),
        compound_grid as (
            select locality, anchor, arg_max(grid_code, n) as grid_code, max(n) / sum(n) as share
            from compound_votes group by all
            having max(n) / sum(n) >= {COMPOUND_GRID_SHARE}
        ),
        inferred as (
            select o.building_id, min(c.grid_code) as grid_code, min(c.share) as share,
                   'the grid of its compound' as grid_evidence
            from (select distinct building_id, locality, anchor from obs_dwelling) o
            join compound_grid c using (locality, anchor)
            where o.building_id not in (select building_id from voted)
            group by o.building_id having count(distinct c.grid_code) = 1
        )
        select * from voted union all select * from inferred
        """,
    )


def _households(connection: duckdb.DuckDBPyConnection) -> None:
    """``record_household``: the registered household (户号) of each record that names one, and
    ``household_key_id``: an id per household key, ``hh:<number>`` for registered households and
    ``co:<dwelling id>`` for the people living in a flat outside any registered household."""
    run_sql(
        connection,
        """
        create or replace temp table record_household as
        select unique_id, 'hh:' || household_number as household_key
        from place_records where household_number is not null
        """,
    )
    run_sql(
        connection,
        """
        create or replace temp table household_members as
        select household_key as key, household_key as grp, count(*) as records
        from (
            select household_key from record_household
            union all select 'co:' || dwelling_id from dwelling_of_key
        ) group by household_key
        """,
    )
    named = _assign_ids(connection, "household", "household_members", "H")
    run_sql(
        connection,
        "create or replace temp table household_key_id as "
        f"select grp as household_key, id as household_id from {named}",
    )


def _write(connection: duckdb.DuckDBPyConnection) -> None:
    """The register's tables, written into the attached database ``register``."""
    run_sql(
        connection,
        """
        create or replace temp table obs_placed as
        select o.unique_id, o.kind, o.building_id, d.dwelling_id, g.grid_code as place_grid_code
        from obs_dwelling o left join dwelling_of_key d using (dwelling_key)
        left join building_grid g using (building_id)
        """,
    )
    run_sql(
        connection,
        """
        create table register.record_place as
        with actual as (select * from obs_placed where kind = 'actual'),
        registered as (select * from obs_placed where kind = 'registered'),
        households as (
            select unique_id, household_id from record_household join household_key_id using (household_key)
        )
        select unique_id, split_part(unique_id, ':', 1) as source_system,
               substr(unique_id, length(split_part(unique_id, ':', 1)) + 2) as source_record_id,
               a.building_id, a.dwelling_id, a.place_grid_code,
               r.building_id as registered_building_id, r.dwelling_id as registered_dwelling_id,
               r.place_grid_code as registered_grid_code,
               h.household_id, c.household_id as co_household_id
        from (select unique_id from obs_placed union select unique_id from households) u
        left join actual a using (unique_id)
        left join registered r using (unique_id)
        left join households h using (unique_id)
        left join household_key_id c on c.household_key = 'co:' || a.dwelling_id
        """,
    )
    run_sql(
        connection,
        """
        create table register.place_building as
        select o.building_id, o.locality as district_code,
               arg_max(o.anchor, (o.anchor_kind = 'compound', o.anchor_kind = 'road_number')) as anchor,
               list(distinct o.anchor order by o.anchor) as anchors,
               any_value(o.building) as building,
               arg_max(o.compound, o.compound is not null) as compound,
               arg_max(o.road || coalesce(o.road_number || '号', ''), o.road is not null) as road_address,
               arg_max(o.community, o.community is not null) as community,
               arg_max(o.community_code, o.community_code is not null) as community_code,
               g.grid_code, g.share as grid_share, g.grid_evidence,
               count(distinct o.unique_id) as records
        from obs_dwelling o left join building_grid g using (building_id)
        group by o.building_id, o.locality, g.grid_code, g.share, g.grid_evidence
        """,
    )
    run_sql(
        connection,
        """
        create table register.place_dwelling as
        select d.dwelling_id, o.building_id, any_value(o.unit) filter (where o.unit is not null) as unit,
               any_value(o.room) as room, g.grid_code,
               arg_max(o.text, o.kind = 'actual') as address_text,
               count(distinct o.unique_id) as records
        from obs_dwelling o join dwelling_of_key d using (dwelling_key)
        left join building_grid g using (building_id)
        group by d.dwelling_id, o.building_id, g.grid_code
        """,
    )
    run_sql(
        connection,
        """
        create table register.place_household as
        select k.household_id,
               case when starts_with(k.household_key, 'hh:') then 'registered' else 'co_residence' end
                   as kind,
               case when starts_with(k.household_key, 'hh:') then substr(k.household_key, 4) end
                   as household_number,
               coalesce(
                   case when starts_with(k.household_key, 'co:') then substr(k.household_key, 4) end,
                   r.dwelling_id
               ) as dwelling_id
        from household_key_id k
        left join (
            select household_id, mode(registered_dwelling_id) as dwelling_id from register.record_place
            where household_id is not null group by household_id
        ) r using (household_id)
        """,
    )
    run_sql(
        connection,
        """
        create table register.place_alias as
        select level, locality as district_code, alias_l, alias_r, persons, texts from place_evidence
        """,
    )
    run_sql(connection, "create table register.place_key_id as select * from next_ids order by kind, key")
