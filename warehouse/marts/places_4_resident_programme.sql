-- resident_programme: one row per resident, programme and source record saying so: what each
-- department's records mean for the person's programmes, as their contracts declare it.
-- Inputs: source_record (its programmes), resident_source_link, programme
-- (schemas/programmes.yaml).
create table resident_programme as
with entries as (
    select
        source_system,
        source_record_id,
        unnest(programmes) as entry
    from source_record
    where len(programmes) > 0
),

final as (
    select
        l.resident_id,
        e.entry.programme,
        e.entry.status,
        e.entry.since,
        p.pays_person as is_paying,
        p.groups,
        e.source_system,
        e.source_record_id
    from entries as e
    inner join resident_source_link as l
        on e.source_system = l.source_system and e.source_record_id = l.source_record_id
    inner join programme as p on e.entry.programme = p.programme
)

select * from final
order by resident_id, programme, source_system, source_record_id;
