"""The department systems of a profile: each system's kind turned into a ``DepartmentSystem``."""

from __future__ import annotations

import functools

from pipelines.demo import assistance, grid_roster, household_register, insurance
from pipelines.demo.geography import DistrictMap
from pipelines.demo.spec import (
    AssistanceSpec,
    DemoSpec,
    GridRosterSpec,
    HouseholdRegisterSpec,
    InsuranceSpec,
    SystemSpec,
    load_spec,
)
from pipelines.demo.systems import DepartmentSystem


def department(source: str, spec: SystemSpec, error_scale: float, district: DistrictMap) -> DepartmentSystem:
    """One system of a profile.

    Args:
        source: its source name.
        spec: its part of the profile.
        error_scale: multiplies every error rate.
        district: the district's map.

    Returns:
        The system.
    """
    if isinstance(spec, HouseholdRegisterSpec):
        return household_register.department(source, spec, error_scale, district)
    if isinstance(spec, GridRosterSpec):
        return grid_roster.department(source, spec, error_scale, district)
    if isinstance(spec, AssistanceSpec):
        return assistance.department(source, spec, error_scale, district)
    if isinstance(spec, InsuranceSpec):
        return insurance.department(source, spec, error_scale, district)
    raise TypeError(f"{source}: no department system of kind {spec.kind!r}")


def department_systems(spec: DemoSpec) -> tuple[DepartmentSystem, ...]:
    """Every system of a profile, in the profile's order.

    Args:
        spec: the profile.

    Returns:
        The systems.
    """
    district = spec.district_map()
    return tuple(
        department(source, system, spec.error_scale, district) for source, system in spec.systems.items()
    )


@functools.cache
def default_systems() -> tuple[DepartmentSystem, ...]:
    """The systems of the default profile (``wuchang``)."""
    return department_systems(load_spec())
