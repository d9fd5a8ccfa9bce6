-- dq_result: one row per check per source batch, the history auditors read.
-- Two kinds of check:
--   row_rule     a row-level rule of schemas/quality_rules.yaml (failed_rows = its quarantine
--                rows and findings in the batch);
--   expectation  a check of schemas/checks.yaml or a contract's `checks:`, run with Great
--                Expectations (dq_check_result, this run's results; severity warn or block).
-- History: dq_result_history is the previous snapshot's dq_result. Its rows are carried forward
-- unless this run re-evaluated the same (source, batch, check); a batch's row-rule counts are
-- computed once, when the batch is first published. So the live snapshot holds every batch ever
-- checked and a trend can be drawn from it alone.
-- Inputs (loaded by publish): source_record, quarantine, dq_finding, quality_rule, load_batch,
-- dq_check_result, dq_result_history.
create table dq_result as
with

batch_rows as (
    select
        source_system,
        batch_id,
        count(*) as checked_rows
    from (
        select
            source_system,
            batch_id
        from source_record
        union all
        select
            source_system,
            batch_id
        from quarantine
    ) as source_rows
    group by source_system, batch_id
),

failures as (
    select
        source_system,
        batch_id,
        rule as rule_id,
        count(*) as failed_rows
    from quarantine
    group by all
    union all
    select
        source_system,
        batch_id,
        rule as rule_id,
        count(*) as failed_rows
    from dq_finding
    group by all
),

this_run as (
    select
        any_value(run_id) as run_id,
        any_value(validated_at) as validated_at
    from dq_check_result
),

rule_results as (
    select
        b.source_system,
        b.batch_id,
        r.rule_id as check_id,
        'row_rule' as check_kind,
        r.dimension,
        r.severity,
        r.action,
        b.checked_rows,
        coalesce(f.failed_rows, 0) as failed_rows,
        round(1 - coalesce(f.failed_rows, 0) / b.checked_rows, 6) as pass_rate,
        coalesce(f.failed_rows, 0) = 0 as is_passed,
        r.description,
        t.run_id,
        t.validated_at
    from batch_rows as b
    cross join quality_rule as r
    cross join this_run as t
    left join failures as f
        on
            b.source_system = f.source_system
            and b.batch_id = f.batch_id
            and r.rule_id = f.rule_id
    where not exists (
        select 1
        from dq_result_history as h
        where h.source_system = b.source_system and h.batch_id = b.batch_id
    )
),

expectation_results as (
    select
        *,
        'check' as action  -- noqa: RF04
    from dq_check_result
),

evaluated as (
    select * from rule_results
    union all by name
    select * from expectation_results
),

carried as (
    select h.*
    from dq_result_history as h
    where not exists (
        select 1
        from evaluated as e
        where
            e.source_system = h.source_system
            and e.batch_id = h.batch_id
            and e.check_id = h.check_id
    )
),

final as (
    select
        r.* exclude (extracted_at),
        coalesce(b.extracted_at, r.extracted_at) as extracted_at
    from (
        select * from evaluated
        union all by name
        select * from carried
    ) as r
    left join load_batch as b
        on r.source_system = b.source_system and r.batch_id = b.batch_id
)

-- The columns are those of this run's results and of the carried history (union by name), so a
-- column added later appears without a migration.
select * from final  -- noqa: AM04
order by source_system, extracted_at, batch_id, check_kind, check_id;

drop table dq_result_history;
