"""The case gauges, from the tally of open cases by (status, assignee)."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from services.router.sampler import sample_cases


class Store:
    def __init__(self, counts: dict[tuple[str, str | None], int] | None) -> None:
        self.counts = counts

    async def open_counts(self) -> dict[tuple[str, str | None], int] | None:
        return self.counts


def gauge(name: str, **labels: str) -> Any:
    return REGISTRY.get_sample_value(name, labels)


async def test_both_gauges_come_from_one_read() -> None:
    counts = await sample_cases(Store({  # type: ignore[arg-type]
        ("assigned", "kutim-pupr"): 3, ("in_progress", "kutim-pupr"): 2,
        ("assigned", "kutim-dlh"): 1, ("triage", None): 4}))
    assert counts == {"assigned": 4, "in_progress": 2, "triage": 4}
    assert gauge("lapor_router_cases", status="assigned") == 4
    assert gauge("lapor_router_cases", status="received") == 0  # zero, not missing
    assert gauge("lapor_router_triage_backlog") == 4
    assert gauge("lapor_router_open_cases_by_agency", agency_id="kutim-pupr") == 5
    assert gauge("lapor_router_open_cases_by_agency", agency_id="kutim-dlh") == 1


async def test_an_agency_whose_cases_all_closed_reads_zero_not_its_last_value() -> None:
    await sample_cases(Store({("assigned", "kutim-dinkes"): 2}))  # type: ignore[arg-type]
    assert gauge("lapor_router_open_cases_by_agency", agency_id="kutim-dinkes") == 2
    await sample_cases(Store({("triage", None): 1}))  # type: ignore[arg-type]
    assert gauge("lapor_router_open_cases_by_agency", agency_id="kutim-dinkes") == 0
    assert gauge("lapor_router_cases", status="assigned") == 0


async def test_no_tally_yet_leaves_the_gauges_as_they_are() -> None:
    await sample_cases(Store({("triage", None): 7}))  # type: ignore[arg-type]
    assert await sample_cases(Store(None)) is None  # type: ignore[arg-type]
    assert gauge("lapor_router_triage_backlog") == 7
