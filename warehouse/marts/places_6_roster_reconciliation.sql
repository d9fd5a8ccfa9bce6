-- roster_reconciliation (回流): for each grid, what its roster is missing and what it should write
-- off, each row with its evidence:
--   missing_from_roster  a living resident other departments place in the grid, without a
--                        record on any grid roster (漏登);
--   deceased_on_roster   a roster record of a resident another source records as deceased (应核销);
--   lives_elsewhere      a roster record in the grid while another department's newer record
--                        places the person in another grid (应核销, or the roster is out of date).
-- Which sources are rosters is said by their contracts (`roster: true`).
-- Inputs: resident, resident_source_link, source_record, source_record_place, source_contract.
create table roster_reconciliation as
with rosters as (
    select source_system from source_contract
    where is_roster
),

linked as (
    select
        l.resident_id,
        s.source_system,
        s.source_record_id,
        s.updated_at,
        coalesce(s.is_deceased, false) or s.death_date is not null as says_deceased,
        p.place_grid_code,
        s.source_system in (select o.source_system from rosters as o) as is_roster
    from resident_source_link as l
    inner join source_record as s
        on l.source_system = s.source_system and l.source_record_id = s.source_record_id
    left join source_record_place as p
        on s.source_system = p.source_system and s.source_record_id = p.source_record_id
),

missing as (
    select
        r.grid_code,
        'missing_from_roster' as kind,
        r.resident_id,
        cast(null as varchar) as source_system,
        cast(null as varchar) as source_record_id,
        'placed in the grid by '
        || string_agg(distinct k.source_system, ', ' order by k.source_system)
        || '; on no grid roster' as evidence
    from resident as r
    inner join linked as k on r.resident_id = k.resident_id
    where
        r.grid_code is not null
        and not coalesce(r.is_deceased, false)
        and exists (select 1 from rosters)
        and r.resident_id not in (
            select rl.resident_id from linked as rl
            where rl.is_roster
        )
    group by r.grid_code, r.resident_id
),

deceased as (
    select
        coalesce(k.place_grid_code, r.grid_code) as grid_code,
        'deceased_on_roster' as kind,
        k.resident_id,
        k.source_system,
        k.source_record_id,
        'deceased per ' || string_agg(distinct d.source_system, ', ' order by d.source_system)
        || coalesce(' on ' || cast(any_value(r.death_date) as varchar), '') as evidence
    from linked as k
    inner join resident as r on k.resident_id = r.resident_id
    inner join linked as d on k.resident_id = d.resident_id and d.says_deceased and not d.is_roster
    where k.is_roster and not k.says_deceased
    group by all
),

elsewhere as (
    select
        k.place_grid_code as grid_code,
        'lives_elsewhere' as kind,
        k.resident_id,
        k.source_system,
        k.source_record_id,
        arg_max(
            o.source_system
            || ' (updated '
            || cast(o.updated_at as date)
            || ') places the person in grid '
            || o.place_grid_code, o.updated_at
        ) as evidence
    from linked as k
    inner join linked as o
        on
            k.resident_id = o.resident_id
            and not o.is_roster
            and k.place_grid_code <> o.place_grid_code
            and k.updated_at < o.updated_at
    where k.is_roster and k.place_grid_code is not null
    group by all
),

final as (
    select * from missing
    union all
    select * from deceased
    union all
    select * from elsewhere
)

select * from final
order by grid_code, kind, resident_id, source_system, source_record_id;
