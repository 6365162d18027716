from prometheus_client import Counter, Gauge, Histogram

ROUTED = Counter("lapor_router_routed_total", "Cases assigned to an agency, by agency and reason.",
                 ["agency_id", "reason"])
TRIAGED = Counter("lapor_router_triaged_total", "Cases sent to triage, by reason.", ["reason"])
ACTIONS_APPLIED = Counter("lapor_router_actions_applied_total", "Actions applied, by action.",
                          ["action"])
ACTIONS_REJECTED = Counter("lapor_router_actions_rejected_total", "Actions rejected, by reason.",
                           ["reason"])
ACTIONS_REPLAYED = Counter("lapor_router_actions_replayed_total",
                           "Action ids seen again (nothing changed), by earlier outcome.",
                           ["outcome"])
TRANSFERS = Counter("lapor_router_transfers_total", "Transfers and declines, by action.",
                    ["action"])
OPEN_CASES = Gauge("lapor_router_cases", "Open cases by status (sampled).", ["status"])
TRIAGE_BACKLOG = Gauge("lapor_router_triage_backlog", "Cases waiting in triage (sampled).")
OPEN_CASES_BY_AGENCY = Gauge("lapor_router_open_cases_by_agency",
                             "Open cases held by each agency (sampled).", ["agency_id"])
RESOLVED = Counter("lapor_router_resolved_total", "Cases resolved, by the resolving agency.",
                   ["agency_id"])
ROUTING_LATENCY = Histogram(
    "lapor_router_routing_latency_seconds",
    "From the citizen's submission (submitted_at) to the case routed or triaged.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
