"""The benchmark report's grouping of latencies by second of submission."""

from benchmarks.report import by_window, format_windows, worst_seconds


def test_the_slowest_seconds_come_first_with_their_counts() -> None:
    samples = [(100.1, 0.05), (100.9, 0.06), (101.2, 0.50), (101.3, 0.04), (102.5, 0.07)]
    assert worst_seconds(samples, first=100.0, top=2) == [
        {"second": 1, "count": 2, "p50_ms": 40, "max_ms": 500},
        {"second": 2, "count": 1, "p50_ms": 70, "max_ms": 70}]
    assert worst_seconds([], first=0.0) == []


def test_the_spread_of_repeated_runs_skips_what_a_run_lacks() -> None:
    from benchmarks.report import spread

    def result(p99: float, ack: float | None) -> dict:
        latency = {"e2e_routed": {"p99_ms": p99, "p50_ms": p99 / 3}}
        if ack is not None:
            latency["e2e_acknowledged"] = {"p99_ms": ack}
        return {"pipeline": {"latency": latency, "throughput": {"steady_routed": 199.0}},
                "cpu": {"processes": {"secantusdb": 6.0}, "machine_busy_cores": 1.8}}

    rows = dict(spread([result(300.0, 900.0), result(450.0, None), result(260.0, float("nan"))]))
    assert rows["e2e routed p99 ms"] == [300.0, 450.0, 260.0]
    assert rows["e2e ack sent p99 ms"] == [900.0]  # missing and NaN left out
    assert "to ack sent /s (steady)" not in rows


def test_ab_runs_alternate_so_a_drifting_machine_favours_neither_side() -> None:
    from benchmarks.compare import run_order

    assert run_order(1) == ["base", "current"]
    assert run_order(3) == ["base", "current", "current", "base", "base", "current"]


def test_ab_comparison_keeps_each_sides_runs_apart() -> None:
    from benchmarks.compare import comparison

    def result(p99: float, db: float | None = None) -> dict:
        cpu = {"processes": {"secantusdb": db}} if db is not None else {}
        return {"pipeline": {"latency": {"e2e_routed": {"p99_ms": p99}}}, "cpu": cpu}

    rows = {label: (before, after) for label, before, after in comparison(
        [result(500.0, 6.0), result(450.0, 6.2)], [result(300.0)])}
    assert rows["e2e routed p99 ms"] == ([500.0, 450.0], [300.0])
    assert rows["database CPU s"] == ([6.0, 6.2], [])  # only the base runs had it


def test_latency_by_window_shows_growth_in_order() -> None:
    samples = [(100.0 + i * 0.1, 0.05 + (i // 100) * 0.1) for i in range(300)]
    windows = by_window(samples, first=100.0)
    assert [(w["from_s"], w["count"]) for w in windows] == [(0, 100), (10, 100), (20, 100)]
    assert [w["p50_ms"] for w in windows] == [50, 150, 250]
    assert format_windows(windows[:2]) == "0 s 50/50, 10 s 150/150"
    assert by_window([], first=0.0) == []
    # A send stamped a moment before the run's first: the first window, not a window before.
    assert by_window([(99.99, 0.08)], first=100.0)[0]["from_s"] == 0


def test_each_hop_has_its_own_windows_so_a_growing_stage_shows() -> None:
    from benchmarks.pipeline import Observed, pipeline_figures

    observed = Observed()
    # Intake's hop grows from 10 to 90 ms between the first and the second window; the
    # router's stays at 20 ms.
    for i, (submitted, intake_ms) in enumerate([(100.0, 10), (101.0, 10), (112.0, 90)]):
        received = submitted + intake_ms / 1000
        observed.received[f"T{i}"] = (submitted, received)
        observed.routed[f"T{i}"] = received + 0.020
    figures = pipeline_figures(observed, 3, first=100.0, last=112.0, complete=True)
    windows = figures["hop_by_window"]
    assert [(w["from_s"], w["p50_ms"]) for w in windows["intake"]] == [(0, 10), (10, 90)]
    assert [(w["from_s"], w["p50_ms"]) for w in windows["router"]] == [(0, 20), (10, 20)]


def test_cpu_per_complaint_is_per_process_and_in_all() -> None:
    from benchmarks.report import cpu_per_complaint

    per = cpu_per_complaint({"secantusdb": 10.5, "notifier": 6.5, "intake": 4.0}, 10_000)
    assert per == {"secantusdb": 1.05, "notifier": 0.65, "intake": 0.4, "all": 2.1}
    assert cpu_per_complaint({"intake": 1.0}, 0) == {}


def test_ab_comparison_shows_each_process_cpu_per_complaint() -> None:
    from benchmarks.compare import comparison
    from benchmarks.report import digits

    def result(router: float, tansu: float) -> dict:
        return {"cpu": {"ms_per_complaint": {"router": router, "tansu": tansu, "all": 2.8}}}

    rows = {label: (before, after) for label, before, after in comparison(
        [result(0.304, 0.081)], [result(0.277, 0.080)])}
    assert rows["  router ms/complaint"] == ([0.304], [0.277])
    assert rows["  tansu ms/complaint"] == ([0.081], [0.080])
    assert "  intake ms/complaint" not in rows  # no run had it
    assert (digits("  router ms/complaint"), digits("CPU ms per complaint"),
            digits("e2e routed p99 ms")) == (3, 2, 1)


def test_the_services_cpu_against_the_databases_is_a_figure_of_every_run_that_has_both() -> None:
    from benchmarks.report import SERVICES_AGAINST_DATABASE, digits, spread

    def result(db: float | None, notifier: float = 0.5) -> dict:
        per = {"intake": 0.4, "router": 0.25, "sla": 0.25, "notifier": notifier}
        if db is not None:
            per["secantusdb"] = db
        return {"cpu": {"ms_per_complaint": per}}

    rows = dict(spread([result(0.7), result(None), result(0.8, notifier=0.7), result(0.0)]))
    assert rows[SERVICES_AGAINST_DATABASE] == [1.4 / 0.7, 1.6 / 0.8]
    assert digits(SERVICES_AGAINST_DATABASE) == 3
    assert SERVICES_AGAINST_DATABASE not in dict(spread([result(None)]))
