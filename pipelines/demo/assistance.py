"""The civil-affairs register of social-assistance recipients (民政 救助对象).

A few percent of registered residents, mostly elderly: minimum living allowance (低保), support of
the destitute (特困) and one-off temporary assistance (临时救助). An old system: traditional
characters, '?' for characters it cannot store, full-width digits, 15-digit ID numbers. Most
payments stop when the recipient dies; some go on (a conflict for gridsync to find).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipelines.demo.addresses import write_addresses
from pipelines.demo.errors import ID_ERRORS, NAME_ERRORS, PHONE_ERRORS, ErrorLog
from pipelines.demo.geography import DistrictMap
from pipelines.demo.spec import AssistanceSpec
from pipelines.demo.strings import lookup
from pipelines.demo.systems import (
    RECORDS_SINCE,
    BuildContext,
    Columns,
    DepartmentSystem,
    Refresh,
    ages,
    at_least,
    choice,
    column,
    covered,
    days,
    deceased,
    equals,
    moments,
    name_helpers,
    pick_rows,
    record_id_errors,
    record_keys,
    repeated_rows,
    unusable_rows,
    with_errors,
    with_repeats,
)

ASSISTANCE_KINDS = ("subsistence_allowance", "destitute_support", "temporary_assistance")
ELDERLY_WEIGHT = 2.5  # the elderly are this many times as likely to receive assistance as adults
CHILD_WEIGHT = 0.8


class Assistance:
    """How an assistance register selects and writes people (see the module docstring)."""

    def __init__(self, spec: AssistanceSpec, error_scale: float, district: DistrictMap) -> None:
        self.spec = spec
        self.error_scale = error_scale
        self.district = district

    def select(self, population: pa.Table, rng: np.random.Generator, context: BuildContext) -> np.ndarray:
        """A few percent of registered residents, the elderly more often; some with a second record."""
        age = ages(population, context.as_of)
        weight = np.where(age >= 60, ELDERLY_WEIGHT, np.where(age >= 18, 1.0, CHILD_WEIGHT)) * equals(
            population, "residency", "registered"
        )
        share = np.minimum(1.0, self.spec.coverage * population.num_rows / max(weight.sum(), 1.0) * weight)
        chosen = covered(rng, share)
        # so that even a small demo has deceased beneficiaries, whose payments may go on (a conflict)
        chosen = at_least(rng, chosen, (weight > 0) & deceased(population), context.min_injected)
        return with_repeats(rng, chosen, self.spec.second_records, context.min_injected)

    def address(
        self,
        people: pa.Table,
        rng: np.random.Generator,
        context: BuildContext,
        log: ErrorLog,
        by_community: np.ndarray | None = None,
    ) -> Columns:
        """家庭住址 in the register's style."""
        keys, name = column(people, "dwelling_key"), self.spec.name("address")
        return {
            "address": write_addresses(self.district, self.spec.address, keys, rng, log, name, by_community)
        }

    def phone(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
    ) -> Columns:
        """联系电话, landlines often without the area code."""
        phones = column(people, "phone")
        return {
            "phone": with_errors(
                self.spec, self.error_scale, "phone", phones, PHONE_ERRORS, rng, context, log
            )
        }

    def payment(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
    ) -> Columns:
        """发放状态: some payments suspended; most stop at death, some go on (a conflict)."""
        dead = deceased(people)
        still_paid = pick_rows(rng, np.flatnonzero(dead), self.spec.paid_after_death, context.min_injected)
        suspended = ~dead & (rng.random(people.num_rows) < self.spec.suspended)
        stopped = dead.copy()
        stopped[still_paid] = False
        log.add(self.spec.name("payment_status"), "paid_after_death", still_paid)
        status = lookup(("active", "suspended", "stopped"), np.select([stopped, suspended], [2, 1], 0))
        return {"payment_status": self.spec.code("payment_status", status)}

    def _kinds_and_amounts(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext
    ) -> tuple[pa.Array, pa.Array]:
        count = people.num_rows
        elderly = ages(people, context.as_of) >= 60
        kind = np.where(elderly, choice(rng, (0.6, 0.3, 0.1), count), choice(rng, (0.8, 0.0, 0.2), count))
        kind[repeated_rows(people)] = 2  # a second record is a one-off 临时救助
        amount = np.select(
            [kind == 0, kind == 1],
            [rng.integers(78, 121, count) * 10, rng.integers(117, 157, count) * 10],
            rng.integers(5, 51, count) * 100,
        )
        kinds = self.spec.code("assistance_kind", lookup(ASSISTANCE_KINDS, kind))
        return kinds, pa.array(amount.astype(np.float64), pa.float64())

    def render(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
    ) -> Columns:
        """Every value of the register for the selected people."""
        spec, scale = self.spec, self.error_scale
        kind, amount = self._kinds_and_amounts(people, rng, context)
        died = days(people, "death_date")
        last_day = np.where(deceased(people), died, np.datetime64(context.as_of) - 30)
        started = moments(rng, people.num_rows, RECORDS_SINCE, last_day)
        started_day = started.to_numpy().astype("datetime64[D]")
        ids, taken, unusable = record_id_errors(spec, scale, people, rng, context, log)
        names = with_errors(
            spec, scale, "name", column(people, "name"), NAME_ERRORS, rng, context, log,
            aux=name_helpers(people), exclude=unusable,
        )  # fmt: skip
        ids = with_errors(spec, scale, "id_number", ids, ID_ERRORS, rng, context, log, exclude=taken)
        return {
            "record_id": record_keys(spec.column("record_id"), people),
            "name": names,
            "id_number": ids,
            "gender": spec.code("gender", column(people, "gender")),
            "birth_date": spec.dates("birth_date", column(people, "birth_date")),
            **self.phone(people, rng, context, log),
            **self.address(people, rng, context, log, by_community=unusable),
            "assistance_kind": kind,
            "amount": amount,
            **self.payment(people, rng, context, log),
            "since": spec.dates("since", started),
            "updated_at": moments(
                rng, people.num_rows, np.maximum(started_day + 1, np.datetime64(context.since)), context.as_of
            ),
        }


def department(
    source: str, spec: AssistanceSpec, error_scale: float, district: DistrictMap
) -> DepartmentSystem:
    """An assistance register as a department system.

    Args:
        source: its source name.
        spec: its part of the profile.
        error_scale: multiplies every error rate.
        district: the district's map.

    Returns:
        The system.
    """
    register = Assistance(spec, error_scale, district)
    renderers = {"address": register.address, "phone": register.phone, "death": register.payment}
    return DepartmentSystem(
        source=source,
        spec=spec,
        select=register.select,
        render=register.render,
        refresh={kind: Refresh(render, spec.same_day.get(kind, 0.0)) for kind, render in renderers.items()},
        unusable=unusable_rows(spec),
    )
