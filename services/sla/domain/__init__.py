"""The sla service's pure rules: the working calendar, the policy and the stage clocks.

No I/O here: the service layer loads clocks, applies events, scans for what is
due and stores the result.
"""

from .calendar import DEFAULT_TIMEZONE, WIB, WIT, WITA, Calendars, WorkingCalendar
from .clocks import ClockState, Mark, MarkKind, SlaClock
from .durations import Duration, parse_iso_duration
from .emissions import Emission, due_actions, record_sent
from .lifecycle import apply_received, apply_status_event
from .policy import DEFAULT_POLICY_FILE, Override, SlaPolicy, Stage, load_policy

__all__ = [
    "DEFAULT_POLICY_FILE",
    "DEFAULT_TIMEZONE",
    "WIB",
    "WIT",
    "WITA",
    "Calendars",
    "ClockState",
    "Duration",
    "Emission",
    "Mark",
    "MarkKind",
    "Override",
    "SlaClock",
    "SlaPolicy",
    "Stage",
    "WorkingCalendar",
    "apply_received",
    "apply_status_event",
    "due_actions",
    "load_policy",
    "parse_iso_duration",
    "record_sent",
]
