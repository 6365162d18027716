"""The case gauges, from one aggregate of open cases by (status, assignee)."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from services.router.sampler import sample_cases


class Store:
    async def count_open(self) -> dict[tuple[str, str | None], int]:
        return {("assigned", "kutim-pupr"): 3, ("in_progress", "kutim-pupr"): 2,
                ("assigned", "kutim-dlh"): 1, ("triage", None): 4}


def gauge(name: str, **labels: str) -> Any:
    return REGISTRY.get_sample_value(name, labels)


async def test_both_gauges_come_from_one_pass() -> None:
    counts = await sample_cases(Store())  # type: ignore[arg-type]
    assert counts == {"assigned": 4, "in_progress": 2, "triage": 4}
    assert gauge("lapor_router_cases", status="assigned") == 4
    assert gauge("lapor_router_cases", status="received") == 0  # zero, not missing
    assert gauge("lapor_router_triage_backlog") == 4
    assert gauge("lapor_router_open_cases_by_agency", agency_id="kutim-pupr") == 5
    assert gauge("lapor_router_open_cases_by_agency", agency_id="kutim-dlh") == 1
