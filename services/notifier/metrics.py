from prometheus_client import Counter, Gauge, Histogram

SENT = Counter("lapor_notifier_sent_total", "Notifications delivered, by channel and template.",
               ["channel", "template"])
FAILED = Counter("lapor_notifier_failed_total",
                 "Notifications given up on (permanent error or attempts exhausted).",
                 ["channel", "template"])
SKIPPED = Counter("lapor_notifier_skipped_total", "Notifications not sendable (no contact...).",
                  ["template", "reason"])
RETRIED = Counter("lapor_notifier_retried_total", "Delivery attempts scheduled for retry.",
                  ["channel", "template"])
DELIVERY_LATENCY = Histogram(
    "lapor_notifier_delivery_latency_seconds",
    "From the source event to the notification delivered.", ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))
ACKNOWLEDGEMENT_LATENCY = Histogram(
    "lapor_notifier_acknowledgement_latency_seconds",
    "End to end: from the citizen's submission (submitted_at) to the acknowledgement delivered.",
    ["channel"], buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))
RETRY_QUEUE = Gauge("lapor_notifier_retry_queue", "Notifications waiting for delivery (sampled).")
