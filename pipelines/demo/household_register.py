"""The household register (户籍, public security): registered residents, living or dead.

The cleanest ID numbers and the one system that records deaths; it holds each resident's
registered address (户籍地址), which is not always where they live, and household number (户号).
Migrants and foreigners are registered elsewhere, so it has none of them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.demo.addresses import write_addresses
from pipelines.demo.errors import ID_ERRORS, NAME_ERRORS, ErrorLog
from pipelines.demo.geography import DistrictMap
from pipelines.demo.spec import HouseholdRegisterSpec
from pipelines.demo.systems import (
    BuildContext,
    Columns,
    DepartmentSystem,
    Refresh,
    column,
    covered,
    equals,
    moments,
    name_helpers,
    recorded_after_death,
    with_errors,
)


class HouseholdRegister:
    """How a household register selects and writes people (see the module docstring)."""

    def __init__(self, spec: HouseholdRegisterSpec, error_scale: float, district: DistrictMap) -> None:
        self.spec = spec
        self.error_scale = error_scale
        self.district = district

    def select(self, population: pa.Table, rng: np.random.Generator, context: BuildContext) -> np.ndarray:
        """Registered residents, living or dead, minus a few registered in another district's books."""
        return covered(rng, equals(population, "residency", "registered") * self.spec.coverage)

    def address(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
    ) -> Columns:
        """户籍地址 in the register's style, and the division code of the registered community."""
        keys = column(people, "registered_dwelling_key")
        role = "registered_address"
        return {
            role: write_addresses(self.district, self.spec.address, keys, rng, log, self.spec.name(role)),
            "registered_division_code": column(people, "registered_division_code"),
        }

    def death(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
    ) -> Columns:
        """Death flag and date, as the register records them."""
        return {
            "deceased": self.spec.code("deceased", column(people, "is_deceased")),
            "death_date": self.spec.dates("death_date", column(people, "death_date")),
        }

    def render(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
    ) -> Columns:
        """Every value of the register for the selected people."""
        columns = self.spec.columns
        changed = moments(rng, people.num_rows, context.since, context.as_of)
        spec, scale = self.spec, self.error_scale
        ids = column(people, "id_number")
        values: Columns = {
            "id_number": with_errors(spec, scale, "id_number", ids, ID_ERRORS, rng, context, log)
        }
        if "name" in columns:
            names = column(people, "name")
            values["name"] = with_errors(
                spec, scale, "name", names, NAME_ERRORS, rng, context, log, aux=name_helpers(people)
            )
        household = pc.cast(pc.utf8_slice_codeunits(column(people, "household_key"), 1), pa.int64())
        values.update(
            {
                "family_name": column(people, "surname"),
                "given_name": column(people, "given_name"),
                "gender": spec.code("gender", column(people, "gender")),
                "birth_date": spec.dates("birth_date", column(people, "birth_date")),
                "ethnicity": column(people, "ethnicity"),
                **self.address(people, rng, context, log),
                **(
                    {"household_number": columns["household_number"].keys(household.to_numpy())}
                    if "household_number" in columns
                    else {}
                ),
                **self.death(people, rng, context, log),
                "updated_at": recorded_after_death(rng, people, context, changed, 30),
            }
        )
        return values


def department(
    source: str, spec: HouseholdRegisterSpec, error_scale: float, district: DistrictMap
) -> DepartmentSystem:
    """A household register as a department system.

    Args:
        source: its source name.
        spec: its part of the profile.
        error_scale: multiplies every error rate.
        district: the district's map.

    Returns:
        The system.
    """
    register = HouseholdRegister(spec, error_scale, district)
    renderers = {"registered_address": register.address, "death": register.death}
    return DepartmentSystem(
        source=source,
        spec=spec,
        select=register.select,
        render=register.render,
        refresh={kind: Refresh(render, spec.same_day.get(kind, 0.0)) for kind, render in renderers.items()},
    )
