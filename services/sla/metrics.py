from prometheus_client import Counter, Gauge, Histogram

OPEN_CLOCKS = Gauge("lapor_sla_open_clocks", "Clocks not stopped, by stage (sampled).", ["stage"])
WARNINGS = Counter("lapor_sla_warnings_total", "sla.warning events, by agency, stage, threshold.",
                   ["agency_id", "stage", "threshold"])
BREACHES = Counter("lapor_sla_breaches_total", "sla.breached events, by agency, stage, level.",
                   ["agency_id", "stage", "level"])
AUTO_CLOSES = Counter("lapor_sla_auto_close_total", "auto_close actions issued.")
LATENESS = Histogram("lapor_sla_emission_lateness_seconds",
                     "Delay between a mark falling due and its emission.",
                     buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400))
SCAN_SECONDS = Histogram("lapor_sla_scan_seconds", "Duration of one scan for due clocks.",
                         buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10))
CLOCK_CONFLICTS = Counter("lapor_sla_clock_conflicts_total",
                          "Clock writes lost to a concurrent writer and retried.")
CASES_WAITING = Gauge("lapor_sla_cases_waiting",
                      "New cases kept back for their assignment: not written, not committed.")
