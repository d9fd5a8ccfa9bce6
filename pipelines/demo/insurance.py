"""The social-security register of insured persons (人社 参保人员).

Most adults registered here or working here as migrants. ID numbers that went through Excel
(4.20106198001011E+17, trailing 000), 15-digit numbers, lowercase x, names padded with
ideographic spaces, and contact details from the day of enrolment. Insurance mostly ends at death;
for some deceased it does not (insured, which is not a payment).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipelines.demo.addresses import write_addresses
from pipelines.demo.dwellings import draw_flats
from pipelines.demo.errors import ID_ERRORS, NAME_ERRORS, PHONE_ERRORS, ErrorLog
from pipelines.demo.geography import DistrictMap
from pipelines.demo.population import draw_mobiles
from pipelines.demo.spec import InsuranceSpec
from pipelines.demo.strings import lookup, replace_rows
from pipelines.demo.systems import (
    BuildContext,
    Columns,
    DepartmentSystem,
    Refresh,
    ages,
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
    recorded_after_death,
    repeated_rows,
    with_errors,
    with_repeats,
)

RETIREMENT_AGE = {"M": 60, "F": 55}


class Insurance:
    """How an insurance register selects and writes people (see the module docstring)."""

    def __init__(self, spec: InsuranceSpec, error_scale: float, district: DistrictMap) -> None:
        self.spec = spec
        self.error_scale = error_scale
        self.district = district

    def select(self, population: pa.Table, rng: np.random.Generator, context: BuildContext) -> np.ndarray:
        """Most adults registered here or working here as migrants, some foreigners; a few insured twice."""
        adult = ages(population, context.as_of) >= 18
        foreign = equals(population, "residency", "foreign")
        share = adult * np.where(foreign, self.spec.foreign_coverage, self.spec.coverage)
        return with_repeats(rng, covered(rng, share), self.spec.duplicates, context.min_injected)

    def address(
        self,
        people: pa.Table,
        rng: np.random.Generator,
        context: BuildContext,
        log: ErrorLog,
        by_community: np.ndarray | None = None,
    ) -> Columns:
        """地址 as the insured gave it, in the register's style."""
        keys, name = column(people, "dwelling_key"), self.spec.name("address")
        return {
            "address": write_addresses(self.district, self.spec.address, keys, rng, log, name, by_community)
        }

    def phone(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
    ) -> Columns:
        """联系电话 in the formats the insured's employers report."""
        phones = column(people, "phone")
        return {
            "phone": with_errors(
                self.spec, self.error_scale, "phone", phones, PHONE_ERRORS, rng, context, log
            )
        }

    def stale_contacts(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
    ) -> pa.Table:
        """Some insured moved or changed numbers since they enrolled: give them an old home or phone."""
        rows = np.arange(people.num_rows)
        moved = pick_rows(rng, rows, self.spec.stale_contact, context.min_injected)
        renumbered = pick_rows(rng, rows, self.spec.stale_contact, context.min_injected)
        log.add(self.spec.name("address"), "stale_address", moved)
        log.add(self.spec.name("phone"), "stale_phone", renumbered)
        old_homes = self.district.dwelling_keys(draw_flats(rng, self.district, len(moved)))
        people = replace_rows(people, "dwelling_key", moved, old_homes)
        return replace_rows(people, "phone", renumbered, draw_mobiles(rng, len(renumbered)))

    def status(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
    ) -> Columns:
        """参保状态: terminated at death (mostly), suspended for some, and for every second enrolment."""
        dead = deceased(people)
        share_active = 1 - self.spec.terminated_after_death
        still_active = pick_rows(rng, np.flatnonzero(dead), share_active, context.min_injected)
        terminated = dead.copy()
        terminated[still_active] = False
        working_age = ages(people, context.as_of) < 60
        draw = rng.random(people.num_rows)
        suspended = ~dead & ((working_age & (draw < self.spec.suspended)) | repeated_rows(people))
        log.add(self.spec.name("insurance_status"), "insured_after_death", still_active)
        status = lookup(("active", "suspended", "stopped"), np.select([terminated, suspended], [2, 1], 0))
        return {"insurance_status": self.spec.code("insurance_status", status)}

    def retirement_dates(self, people: pa.Table, context: BuildContext) -> pa.Array:
        """离退休日期: the birthday at the retirement age, for those who reached it."""
        birth = days(people, "birth_date")
        years = np.where(equals(people, "gender", "M"), RETIREMENT_AGE["M"], RETIREMENT_AGE["F"])
        birthday_month = birth.astype("datetime64[M]")
        # the birthday in the retirement year; 29 February becomes 1 March in a common year
        retired = (birthday_month + years * 12).astype("datetime64[D]") + (
            birth - birthday_month.astype("datetime64[D]")
        )
        dates = pa.array(retired, pa.date32(), mask=retired > np.datetime64(context.as_of))
        return self.spec.dates("retired_on", dates)

    def render(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
    ) -> Columns:
        """Every value of the register for the selected people."""
        spec, scale = self.spec, self.error_scale
        people = self.stale_contacts(people, rng, context, log)
        handled = moments(rng, people.num_rows, context.since, context.as_of)
        ids, taken, unusable = record_id_errors(spec, scale, people, rng, context, log)
        names = with_errors(
            spec, scale, "name", column(people, "name"), NAME_ERRORS, rng, context, log,
            aux=name_helpers(people), exclude=unusable,
        )  # fmt: skip
        ids = with_errors(spec, scale, "id_number", ids, ID_ERRORS, rng, context, log, exclude=taken)
        return {
            "record_id": record_keys(spec.column("record_id"), people),
            "id_type": spec.code("id_type", column(people, "id_type")),
            "id_number": ids,
            "name": names,
            "gender": spec.code("gender", column(people, "gender")),
            "birth_date": spec.dates("birth_date", column(people, "birth_date")),
            **self.phone(people, rng, context, log),
            **self.address(people, rng, context, log, by_community=unusable),
            **self.status(people, rng, context, log),
            "retired_on": self.retirement_dates(people, context),
            "updated_at": recorded_after_death(rng, people, context, handled, 60),
        }


def department(
    source: str, spec: InsuranceSpec, error_scale: float, district: DistrictMap
) -> DepartmentSystem:
    """An insurance register as a department system.

    Args:
        source: its source name.
        spec: its part of the profile.
        error_scale: multiplies every error rate.
        district: the district's map.

    Returns:
        The system.
    """
    register = Insurance(spec, error_scale, district)
    renderers = {"address": register.address, "phone": register.phone, "death": register.status}
    return DepartmentSystem(
        source=source,
        spec=spec,
        select=register.select,
        render=register.render,
        refresh={kind: Refresh(render, spec.same_day.get(kind, 0.0)) for kind, render in renderers.items()},
    )
