"""Topic names (CONTRACT.md section 2), in one place. `LAPOR_TOPIC_PREFIX` prefixes them all."""

from __future__ import annotations

from dataclasses import dataclass

SUBMITTED = "complaints.submitted"
RECEIVED = "complaints.received"
REJECTED = "complaints.rejected"
ROUTED = "complaints.routed"
TRIAGE = "complaints.triage"
ACTIONS = "complaints.actions"
ACTIONS_REJECTED = "complaints.actions.rejected"
STATUS = "complaints.status"
SLA = "complaints.sla"
NOTIFICATIONS = "notifications.events"

CONSUMED = (SUBMITTED, RECEIVED, ACTIONS, STATUS, SLA)
ALL = (SUBMITTED, RECEIVED, REJECTED, ROUTED, TRIAGE, ACTIONS, ACTIONS_REJECTED, STATUS, SLA,
       NOTIFICATIONS)
DLQ_SUFFIX = ".dlq"


def dlq(topic: str) -> str:
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class Topics:
    """The topic names of one deployment (tenant)."""

    prefix: str = ""

    def name(self, topic: str) -> str:
        return f"{self.prefix}{topic}"

    def all_with_dlqs(self) -> list[str]:
        """Every topic a deployment needs; consumed topics get a dead-letter twin."""
        names = [self.name(t) for t in ALL]
        names += [self.name(dlq(t)) for t in CONSUMED]
        return names

    @property
    def submitted(self) -> str:
        return self.name(SUBMITTED)

    @property
    def received(self) -> str:
        return self.name(RECEIVED)

    @property
    def rejected(self) -> str:
        return self.name(REJECTED)

    @property
    def routed(self) -> str:
        return self.name(ROUTED)

    @property
    def triage(self) -> str:
        return self.name(TRIAGE)

    @property
    def actions(self) -> str:
        return self.name(ACTIONS)

    @property
    def actions_rejected(self) -> str:
        return self.name(ACTIONS_REJECTED)

    @property
    def status(self) -> str:
        return self.name(STATUS)

    @property
    def sla(self) -> str:
        return self.name(SLA)

    @property
    def notifications(self) -> str:
        return self.name(NOTIFICATIONS)
