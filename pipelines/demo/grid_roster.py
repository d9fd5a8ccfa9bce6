"""The grid roster of actual residents (网格 实有人口), collected door to door by grid workers.

Everyone living in the district, migrants and foreigners included, and some of the dead still
listed; some people registered twice. The messiest system: missing and masked ID numbers, pinyin
names, typos, phones in any format, birth dates in two layouts. It places each resident in a
community and a grid (网格编码).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipelines.demo.addresses import write_addresses
from pipelines.demo.errors import ID_ERRORS, NAME_ERRORS, PHONE_ERRORS, ErrorLog
from pipelines.demo.geography import DistrictMap
from pipelines.demo.spec import GridRosterSpec
from pipelines.demo.strings import format_time, scatter
from pipelines.demo.systems import (
    BuildContext,
    Columns,
    DepartmentSystem,
    Refresh,
    column,
    covered,
    days,
    deceased,
    mistype_dates,
    moments,
    name_helpers,
    pick_rows,
    record_id_errors,
    record_keys,
    stale_homes,
    unusable_rows,
    with_errors,
    with_repeats,
    without,
)

CHINESE_DATE_FORMAT = "%Y年%-m月%-d日"


class GridRoster:
    """How a grid roster selects and writes people (see the module docstring)."""

    def __init__(self, spec: GridRosterSpec, error_scale: float, district: DistrictMap) -> None:
        self.spec = spec
        self.error_scale = error_scale
        self.district = district

    def select(self, population: pa.Table, rng: np.random.Generator, context: BuildContext) -> np.ndarray:
        """Most people living here, some of the dead still listed, a few twice."""
        spec = self.spec
        share = np.where(deceased(population), spec.coverage * spec.keeps_deceased, spec.coverage)
        return with_repeats(rng, covered(rng, share), spec.duplicates, context.min_injected)

    def address(
        self,
        people: pa.Table,
        rng: np.random.Generator,
        context: BuildContext,
        log: ErrorLog,
        by_community: np.ndarray | None = None,
    ) -> Columns:
        """现住址 in the roster's style (some rows by their community), and the flat's community and grid."""
        keys, name = column(people, "dwelling_key"), self.spec.name("address")
        return {
            "address": write_addresses(self.district, self.spec.address, keys, rng, log, name, by_community),
            "division_code": column(people, "division_code"),
            "grid_code": column(people, "grid_code"),
        }

    def phone(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
    ) -> Columns:
        """联系电话 in every format grid workers type."""
        phones = column(people, "phone")
        return {
            "phone": with_errors(
                self.spec, self.error_scale, "phone", phones, PHONE_ERRORS, rng, context, log
            )
        }

    def birth_dates(
        self,
        people: pa.Table,
        rng: np.random.Generator,
        context: BuildContext,
        log: ErrorLog,
        exact: np.ndarray,
    ) -> pa.Array:
        """Birth dates in the roster's layout or as 'YYYY年M月D日'; some missing, some a few days off.

        The ``exact`` rows are never a few days off.
        """
        born = days(people, "birth_date")
        free = np.ones(len(born), dtype=bool)
        picked = {
            kind: np.zeros(0, dtype=np.int64) for kind in ("mistyped_date", "chinese_date_format", "missing")
        }
        for kind, share in self.spec.rates("birth_date", self.error_scale).items():
            pool = free.copy()
            if kind == "mistyped_date":
                pool[exact] = False
            picked[kind] = pick_rows(rng, np.flatnonzero(pool), share, context.min_injected)
            free[picked[kind]] = False
            log.add(self.spec.name("birth_date"), kind, picked[kind])
        dates = pa.array(mistype_dates(rng, born, picked["mistyped_date"]), pa.date32())
        chinese = picked["chinese_date_format"]
        text = scatter(
            self.spec.dates("birth_date", dates),
            chinese,
            format_time(dates.take(pa.array(chinese)), CHINESE_DATE_FORMAT),
        )
        return without(text, picked["missing"])

    def _emptied_codes(
        self, rng: np.random.Generator, count: int, context: BuildContext, log: ErrorLog
    ) -> dict[str, np.ndarray]:
        emptied = {}
        for role in ("id_type", "gender"):
            share = self.spec.rates(role, self.error_scale).get("missing", 0.0)
            emptied[role] = pick_rows(rng, np.arange(count), share, context.min_injected)
        for role, rows in emptied.items():
            if role in self.spec.columns:
                log.add(self.spec.name(role), "missing", rows)
        return emptied

    def render(
        self, people: pa.Table, rng: np.random.Generator, context: BuildContext, log: ErrorLog
    ) -> Columns:
        """Every value of the roster for the selected people."""
        spec, scale, columns = self.spec, self.error_scale, self.spec.columns
        emptied = self._emptied_codes(rng, people.num_rows, context, log)
        registered = moments(rng, people.num_rows, context.since, context.as_of)
        registered_day = registered.cast(pa.timestamp("s")).to_numpy().astype("datetime64[D]")
        ids, taken, unusable = record_id_errors(spec, scale, people, rng, context, log)
        names = with_errors(
            spec, scale, "name", column(people, "name"), NAME_ERRORS, rng, context, log,
            aux=name_helpers(people), exclude=unusable,
        )  # fmt: skip
        ids = with_errors(spec, scale, "id_number", ids, ID_ERRORS, rng, context, log, exclude=taken)
        people = stale_homes(spec, scale, self.district, people, rng, context, log)
        return {
            "record_id": record_keys(columns["record_id"], people),
            "name": names,
            "gender": without(spec.code("gender", column(people, "gender")), emptied["gender"]),
            "id_type": without(spec.code("id_type", column(people, "id_type")), emptied["id_type"]),
            "id_number": ids,
            "birth_date": self.birth_dates(people, rng, context, log, exact=unusable),
            **self.phone(people, rng, context, log),
            **self.address(people, rng, context, log, by_community=unusable),
            "residency": spec.code("residency", column(people, "residency")),
            "registered_at": registered,
            "updated_at": moments(rng, people.num_rows, registered_day, context.as_of),
        }


def department(
    source: str, spec: GridRosterSpec, error_scale: float, district: DistrictMap
) -> DepartmentSystem:
    """A grid roster as a department system.

    Args:
        source: its source name.
        spec: its part of the profile.
        error_scale: multiplies every error rate.
        district: the district's map.

    Returns:
        The system.
    """
    roster = GridRoster(spec, error_scale, district)
    renderers = {"address": roster.address, "phone": roster.phone}
    return DepartmentSystem(
        source=source,
        spec=spec,
        select=roster.select,
        render=roster.render,
        refresh={kind: Refresh(render, spec.same_day.get(kind, 0.0)) for kind, render in renderers.items()},
        unusable=unusable_rows(spec),
    )
