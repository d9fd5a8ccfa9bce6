-- building and dwelling: the place register's buildings and flats (房), each in its grid (格).
-- Inputs (loaded by publish): place_building, place_dwelling (pipelines/places/register.py).
create table building as
with final as (
    select
        building_id,
        district_code,
        anchor,
        anchors,
        compound,
        road_address,
        community,
        community_code,
        building,
        grid_code,
        grid_share,
        grid_evidence,
        records as source_records
    from place_building
)

select * from final
order by building_id;

create table dwelling as
with final as (
    select
        d.dwelling_id,
        d.building_id,
        b.district_code,
        b.compound,
        b.road_address,
        b.community,
        b.community_code,
        b.building,
        d.unit,
        d.room,
        d.address_text,
        d.records as source_records,
        coalesce(d.grid_code, b.grid_code) as grid_code
    from place_dwelling as d
    inner join place_building as b on d.building_id = b.building_id
)

select * from final
order by dwelling_id;

drop table place_dwelling;
drop table place_building;
