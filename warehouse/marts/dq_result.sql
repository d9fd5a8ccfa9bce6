-- dq_result: one row per check per source batch, the history auditors read.
-- Inputs (loaded by publish): source_record, quarantine, dq_finding, quality_rule, load_batch.
create table dq_result as
with

batch_rows as (
    select
        source_system,
        batch_id,
        count(*) as checked_rows
    from (
        select source_system, batch_id from source_record
        union all
        select source_system, batch_id from quarantine
    )
    group by source_system, batch_id
),

failures as (
    select source_system, batch_id, rule as rule_id, count(*) as failed_rows
    from quarantine
    group by all
    union all
    select source_system, batch_id, rule as rule_id, count(*) as failed_rows
    from dq_finding
    group by all
),

checks as (
    select
        b.source_system,
        b.batch_id,
        r.rule_id,
        r.dimension,
        r.severity,
        r.action,
        b.checked_rows,
        coalesce(f.failed_rows, 0) as failed_rows
    from batch_rows as b
    cross join quality_rule as r
    left join failures as f
        on b.source_system = f.source_system
        and b.batch_id = f.batch_id
        and r.rule_id = f.rule_id
),

final as (
    select
        source_system,
        batch_id,
        rule_id as check_id,
        dimension,
        severity,
        action,
        checked_rows,
        failed_rows,
        round(1 - failed_rows / checked_rows, 6) as pass_rate,
        failed_rows = 0 as is_passed
    from checks
)

select * from final
order by source_system, batch_id, check_id;
