from prometheus_client import Counter, Gauge

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
