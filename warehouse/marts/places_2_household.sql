-- household: one row per household (户): a registered household of the household register (户号),
-- or the people living in one flat outside any registered household (co_residence).
-- Inputs: place_household (pipelines/places/register.py), resident.
create table household as
with members as (
    select
        household_id,
        count(*) as member_count,
        count(*) filter (where not coalesce(is_deceased, false)) as living_member_count,
        mode(dwelling_id) filter (where not coalesce(is_deceased, false)) as dwelling_id
    from resident
    where household_id is not null
    group by household_id
),

final as (
    select
        h.household_id,
        h.kind,
        h.household_number,
        m.dwelling_id,
        m.member_count,
        m.living_member_count,
        case when h.kind = 'registered' then h.dwelling_id end as registered_dwelling_id
    from place_household as h
    inner join members as m on h.household_id = m.household_id
)

select * from final
order by household_id;

drop table place_household;
