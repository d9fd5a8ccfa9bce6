-- grid_resident: who actually lives in each grid (实有人口), with what every department knows of
-- them: programmes, household, flat, and the special groups a grid worker looks after.
-- Ages are counted on the day of the newest extracted batch (the data's own date, not the clock).
-- Inputs: resident, resident_programme, resident_source_link, source_contract, load_batch.
create table grid_resident as
with as_of as (
    select coalesce(max(extracted_at)::date, date '1970-01-01') as as_of_day from load_batch
),

living as (
    select * from resident
    where grid_code is not null and not coalesce(is_deceased, false)
),

flatmates as (
    select
        dwelling_id,
        count(*) as living_in_flat
    from living
    where dwelling_id is not null
    group by dwelling_id
),

programmes as (
    select
        resident_id,
        list(distinct programme order by programme) filter (where status = 'active') as programmes,
        bool_or(status = 'active' and list_contains(groups, 'low_income')) as is_low_income
    from resident_programme
    group by resident_id
),

low_income_households as (
    select distinct r.household_id
    from living as r
    inner join programmes as p on r.resident_id = p.resident_id
    where p.is_low_income and r.household_id is not null
),

rostered as (
    select distinct l.resident_id
    from resident_source_link as l
    inner join source_contract as c on l.source_system = c.source_system
    where c.is_roster
),

final as (
    select
        r.resident_id,
        r.grid_code,
        r.dwelling_id,
        r.household_id,
        r.name,
        r.gender,
        r.birth_date,
        date_diff('year', r.birth_date, a.as_of_day)
        - case when strftime(r.birth_date, '%m%d') > strftime(a.as_of_day, '%m%d') then 1 else 0 end
            as age,
        coalesce(p.programmes, []) as programmes,
        coalesce(p.is_low_income, false) as is_low_income,
        r.household_id in (
            select h.household_id from low_income_households as h
        ) as is_in_low_income_household,
        coalesce(f.living_in_flat = 1, false) as is_living_alone,
        r.lives_apart_from_registration,
        r.resident_id in (select o.resident_id from rostered as o) as is_on_roster
    from living as r
    cross join as_of as a
    left join programmes as p on r.resident_id = p.resident_id
    left join flatmates as f on r.dwelling_id = f.dwelling_id
)

select
    *,
    age >= 60 and is_living_alone as is_elderly_living_alone
from final
order by grid_code, dwelling_id, resident_id;
