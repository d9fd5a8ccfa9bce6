-- grid: one row per grid (网格), with its community, street and district (names from the division
-- reference in schemas/divisions/ where it lists them), and how many buildings, flats and
-- residents the warehouse places in it.
-- Inputs: division, building, dwelling, resident.
create table grid as
with codes as (
    select grid_code from building
    where grid_code is not null
    union
    select grid_code from resident
    where grid_code is not null
    union
    select code as grid_code from division
    where level = 'grid'
),

counts as (
    select
        c.grid_code,
        (
            select count(*) from building as b
            where b.grid_code = c.grid_code
        ) as building_count,
        (
            select count(*) from dwelling as d
            where d.grid_code = c.grid_code
        ) as dwelling_count,
        (
            select count(*) from resident as r
            where r.grid_code = c.grid_code and not coalesce(r.is_deceased, false)
        ) as resident_count
    from codes as c
),

final as (
    select
        c.grid_code,
        g.name as grid_name,
        left(c.grid_code, 12) as community_code,
        cm.name as community_name,
        left(c.grid_code, 9) as street_code,
        s.name as street_name,
        left(c.grid_code, 6) as district_code,
        d.name as district_name,
        c.building_count,
        c.dwelling_count,
        c.resident_count
    from counts as c
    left join division as g on c.grid_code = g.code
    left join division as cm on left(c.grid_code, 12) = cm.code
    left join division as s on left(c.grid_code, 9) = s.code
    left join division as d on left(c.grid_code, 6) = d.code
)

select * from final
order by grid_code;
