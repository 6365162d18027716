"""The benchmark report's grouping of latencies by second of submission."""

from benchmarks.report import worst_seconds


def test_the_slowest_seconds_come_first_with_their_counts() -> None:
    samples = [(100.1, 0.05), (100.9, 0.06), (101.2, 0.50), (101.3, 0.04), (102.5, 0.07)]
    assert worst_seconds(samples, first=100.0, top=2) == [
        {"second": 1, "count": 2, "p50_ms": 40, "max_ms": 500},
        {"second": 2, "count": 1, "p50_ms": 70, "max_ms": 70}]
    assert worst_seconds([], first=0.0) == []
