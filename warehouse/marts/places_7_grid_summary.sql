-- grid_summary: the figures of each grid, rolled up to its community, street and district
-- (division_level says which): residents, households, flats, special groups, and the roster's
-- open items.
-- Inputs: grid_resident, roster_reconciliation, grid.
create table grid_summary as
with residents as (
    select
        grid_code,
        resident_id,
        household_id,
        dwelling_id,
        is_elderly_living_alone,
        is_in_low_income_household,
        lives_apart_from_registration,
        is_on_roster
    from grid_resident
),

open_items as (
    select
        grid_code,
        count(*) filter (where kind = 'missing_from_roster') as missing_from_roster,
        count(*) filter (where kind = 'deceased_on_roster') as deceased_on_roster,
        count(*) filter (where kind = 'lives_elsewhere') as lives_elsewhere
    from roster_reconciliation
    group by grid_code
),

per_grid as (
    select
        r.grid_code,
        count(*) as residents,
        count(distinct r.household_id) as households,
        count(distinct r.dwelling_id) as dwellings,
        count(*) filter (where r.is_elderly_living_alone) as elderly_living_alone,
        count(distinct r.household_id) filter (where r.is_in_low_income_household)
            as low_income_households,
        count(*) filter (where r.lives_apart_from_registration) as living_apart_from_registration,
        count(*) filter (where r.is_on_roster) as on_roster
    from residents as r
    group by r.grid_code
),

with_items as (
    select
        g.grid_code,
        left(g.grid_code, 12) as community_code,
        left(g.grid_code, 9) as street_code,
        left(g.grid_code, 6) as district_code,
        coalesce(p.residents, 0) as residents,
        coalesce(p.households, 0) as households,
        coalesce(p.dwellings, 0) as dwellings,
        coalesce(p.elderly_living_alone, 0) as elderly_living_alone,
        coalesce(p.low_income_households, 0) as low_income_households,
        coalesce(p.living_apart_from_registration, 0) as living_apart_from_registration,
        coalesce(p.on_roster, 0) as on_roster,
        coalesce(o.missing_from_roster, 0) as missing_from_roster,
        coalesce(o.deceased_on_roster, 0) as deceased_on_roster,
        coalesce(o.lives_elsewhere, 0) as lives_elsewhere
    from grid as g
    left join per_grid as p on g.grid_code = p.grid_code
    left join open_items as o on g.grid_code = o.grid_code
),

final as (
    select
        case
            when grouping(grid_code) = 0 then 'grid'
            when grouping(community_code) = 0 then 'community'
            when grouping(street_code) = 0 then 'street'
            else 'district'
        end as division_level,
        district_code,
        street_code,
        community_code,
        grid_code,
        sum(residents) as residents,
        sum(households) as households,
        sum(dwellings) as dwellings,
        sum(elderly_living_alone) as elderly_living_alone,
        sum(low_income_households) as low_income_households,
        sum(living_apart_from_registration) as living_apart_from_registration,
        sum(on_roster) as on_roster,
        sum(missing_from_roster) as missing_from_roster,
        sum(deceased_on_roster) as deceased_on_roster,
        sum(lives_elsewhere) as lives_elsewhere
    from with_items
    group by rollup (district_code, street_code, community_code, grid_code)
    having grouping(district_code) = 0
)

select * from final
order by district_code, street_code nulls first, community_code nulls first, grid_code nulls first;
