"""The router as a real process on the real broker and database (CONTRACT.md sections 4
and 5): routing, the case lifecycle driven by agencies, citizens and admins, rejections,
idempotency, the audit trail, the public tracking endpoint and the metrics."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

from shared.contract import OPEN_STATUSES
from tests.integration.router.driver import Lapor, metric_value, no_reporter_data

PUPR = ("agency", "kutim-pupr")
PUPR_NAME = "Dinas Pekerjaan Umum dan Penataan Ruang Kabupaten Kutai Timur"
ADMIN = ("admin", "admin-kutim-1")
CITIZEN = ("citizen", "reporter")


def tracked(lapor: Lapor, tracking_id: str, status: str, agency_name: str | None
            ) -> list[dict[str, Any]]:
    """The public answer at this step: status, agency name, history; no reporter data."""
    code, body = lapor.track(tracking_id)
    assert code == 200, body
    assert set(body) == {"tracking_id", "status", "agency_name", "history"}
    assert (body["tracking_id"], body["status"], body["agency_name"]) == (
        tracking_id, status, agency_name)
    assert body["history"][-1]["status"] == status
    assert no_reporter_data(body), body
    assert all(set(entry) == {"status", "at", "message"} for entry in body["history"])
    return body["history"]


async def test_complaint_from_routing_to_closing(lapor: Lapor) -> None:
    tracking_id, secret = await lapor.receive()

    # Routed by rule: the decision is published (rule id, reason) and recorded.
    (routed,) = await lapor.wait("routed", tracking_id, 1)
    assert (routed["agency_id"], routed["agency_name"], routed["rule_id"], routed["reason"]) == (
        "kutim-pupr", PUPR_NAME, "kutim-infrastructure", "rule")
    assert routed["reporter"]["email"] == "siti.rahmawati@example.id"  # the agency may reply
    assert routed["complaint"]["category"] == "infrastructure.roads"
    assigned = await lapor.wait_status(tracking_id, "assigned")
    assert (assigned["previous_status"], assigned["agency_id"], assigned["action_id"]) == (
        "received", "kutim-pupr", None)
    assert assigned["actor"] == {"type": "system", "id": "router"}
    history = tracked(lapor, tracking_id, "assigned", PUPR_NAME)
    assert [h["status"] for h in history] == ["received", "assigned"]

    steps: list[tuple[str, tuple[str, str], dict[str, Any], str]] = [
        ("acknowledge", PUPR, {"message": "Tim survei turun Senin."}, "in_progress"),
        ("request_info", PUPR, {"message": "Mohon foto lokasi lubang."}, "waiting_citizen"),
        ("reply", CITIZEN, {"message": "Foto terlampir, depan toko Siti Rahmawati.",
                            "citizen_secret": secret.lower().replace("-", "")}, "in_progress"),
        ("resolve", PUPR, {"message": "Lubang sudah ditambal."}, "resolved"),
        ("confirm", CITIZEN, {"citizen_secret": secret}, "closed"),
    ]
    reached: dict[str, int] = {}
    for action, actor, fields, status in steps:
        action_id = await lapor.act(tracking_id, action, actor, **fields)
        reached[status] = reached.get(status, 0) + 1
        change = await lapor.wait_status(tracking_id, status, nth=reached[status])
        assert change["action_id"] == action_id
        assert change["actor"] == {"type": actor[0], "id": actor[1]}
        assert change["agency_id"] == "kutim-pupr"
        history = tracked(lapor, tracking_id, status, PUPR_NAME)
        expected_message = None if actor == CITIZEN else fields.get("message")
        assert history[-1]["message"] == expected_message  # a citizen's words stay private
    rate_id = await lapor.act(tracking_id, "rate", CITIZEN, rating=5, citizen_secret=secret)
    await lapor.settle(tracking_id)
    assert not lapor.rejections(rate_id)

    statuses = [(e["previous_status"], e["status"]) for e in lapor.seen("status", tracking_id)]
    assert statuses == [("received", "assigned"), ("assigned", "in_progress"),
                        ("in_progress", "waiting_citizen"), ("waiting_citizen", "in_progress"),
                        ("in_progress", "resolved"), ("resolved", "closed")]
    assert len({e["event_id"] for e in lapor.seen("status", tracking_id)}) == 6
    assert [h["status"] for h in tracked(lapor, tracking_id, "closed", PUPR_NAME)] == [
        "received", "assigned", "in_progress", "waiting_citizen", "in_progress", "resolved",
        "closed"]

    # The audit trail: every transition with actor, action, time and message; the routing
    # decision with its rule and reason; the rating; only the secret's hash.
    document = await lapor.case(tracking_id)
    case = document["case"]
    assert (case["status"], case["assignee"], case["rating"]) == ("closed", "kutim-pupr", 5)
    trail = [(e["action"], e["actor"]["type"], e["status"]) for e in case["history"]]
    assert trail == [("receive", "system", "received"), ("route", "system", "assigned"),
                     ("acknowledge", "agency", "in_progress"),
                     ("request_info", "agency", "waiting_citizen"),
                     ("reply", "citizen", "in_progress"), ("resolve", "agency", "resolved"),
                     ("confirm", "citizen", "closed"), ("rate", "citizen", "closed")]
    assert all(e["at"] for e in case["history"])
    route_entry = case["history"][1]
    assert (route_entry["rule_id"], route_entry["reason"]) == ("kutim-infrastructure", "rule")
    assert "kutim-infrastructure" in route_entry["note"]
    assert case["history"][4]["message"].startswith("Foto terlampir")
    assert case["history"][-1]["rating"] == 5
    assert secret not in json.dumps(document, default=str)
    # Everything published: the last version's outbox is empty (a rating changes no
    # status) or carries its marker.
    published = lapor.cases.database["published_outboxes"]
    assert not document["outbox"] or await published.find_one(
        {"_id": f"{tracking_id}@{document['version']}"})
    assert await published.count_documents({"_id": {"$regex": f"^{tracking_id}@"}}) == 6


async def test_decline_chain_ends_in_triage_then_admin_assigns(lapor: Lapor) -> None:
    tracking_id, _ = await lapor.receive()
    await lapor.wait("routed", tracking_id, 1)
    # Sent at once: actions of one complaint apply in order, each decline by the agency the
    # previous one routed it to (out of order, a decline would be a not_assignee rejection).
    chain = ["kutim-pupr", "pemkab-kutim", "kaltim-dpupr", "pemprov-kaltim", "kemenpu"]
    declines = [await lapor.act(tracking_id, "decline", ("agency", agency),
                                message="Bukan wewenang.") for agency in chain]
    (triage,) = await lapor.wait("triage", tracking_id, 1)
    routed = await lapor.wait("routed", tracking_id, len(chain))
    assert [(r["agency_id"], r["reason"]) for r in routed] == [(a, "rule") for a in chain]
    assert [r["rule_id"] for r in routed] == [
        "kutim-infrastructure", "kutim-general", "kaltim-infrastructure", "kaltim-general",
        "national-roads"]
    assert not any(lapor.rejections(action_id) for action_id in declines)
    assert triage["reason"] == "declined_by_all"
    assert triage["complaint"]["region_code"] == "64.08.04"
    assert "reporter" not in triage
    change = await lapor.wait_status(tracking_id, "triage")
    assert (change["previous_status"], change["agency_id"]) == ("assigned", None)
    tracked(lapor, tracking_id, "triage", None)
    case = (await lapor.case(tracking_id))["case"]
    assert case["declined_by"] == chain
    assert case["history"][-1]["reason"] == "declined_by_all"

    # An admin assigns it by hand, the new assignee transfers it, the next one declines:
    # never back to an agency that declined (all did), so triage again.
    await lapor.act(tracking_id, "assign", ADMIN, target_agency_id="kutim-dlh")
    manual = (await lapor.wait("routed", tracking_id, len(chain) + 1))[-1]
    assert (manual["agency_id"], manual["reason"], manual["rule_id"]) == (
        "kutim-dlh", "manual", None)
    bad = await lapor.act(tracking_id, "transfer", ("agency", "kutim-dlh"),
                          target_agency_id="dinas-hantu")
    assert (await lapor.rejection(bad))["reason"] == "unknown_agency"
    await lapor.act(tracking_id, "transfer", ("agency", "kutim-dlh"),
                    target_agency_id="kutim-dishub", message="Ini urusan perhubungan.")
    moved = (await lapor.wait("routed", tracking_id, len(chain) + 2))[-1]
    assert (moved["agency_id"], moved["reason"]) == ("kutim-dishub", "transfer")
    tracked(lapor, tracking_id, "assigned", "Dinas Perhubungan Kabupaten Kutai Timur")
    await lapor.act(tracking_id, "decline", ("agency", "kutim-dishub"))
    triages = await lapor.wait("triage", tracking_id, 2)
    assert triages[-1]["reason"] == "declined_by_all"


async def test_replayed_action_id_changes_nothing(lapor: Lapor) -> None:
    tracking_id, _ = await lapor.receive()
    await lapor.wait_status(tracking_id, "assigned")

    acknowledged = await lapor.act(tracking_id, "acknowledge", PUPR, message="Kami cek.")
    await lapor.wait_status(tracking_id, "in_progress")
    await lapor.act(tracking_id, "acknowledge", PUPR, action_id=acknowledged,
                    message="Kami cek.")
    # A rejected action id keeps its answer, even once the case would allow it.
    early = await lapor.act(tracking_id, "resolve", ("agency", "kutim-dlh"),
                            message="Sudah selesai.")
    first = await lapor.rejection(early)
    assert first["reason"] == "not_assignee"
    await lapor.act(tracking_id, "transfer", PUPR, target_agency_id="kutim-dlh")
    await lapor.wait_status(tracking_id, "assigned", nth=2)
    await lapor.act(tracking_id, "resolve", ("agency", "kutim-dlh"), action_id=early,
                    message="Sudah selesai.")
    await lapor.settle(tracking_id)

    assert [e["status"] for e in lapor.seen("status", tracking_id)] == [
        "assigned", "in_progress", "assigned"]
    answers = lapor.rejections(early)
    assert len(answers) == 2 and answers[0] == answers[1] == first  # the same event again
    assert not lapor.rejections(acknowledged)
    case = (await lapor.case(tracking_id))["case"]
    assert (case["status"], case["assignee"]) == ("assigned", "kutim-dlh")
    assert case["applied_action_ids"].count(acknowledged) == 1
    assert early not in case["applied_action_ids"]
    tracked(lapor, tracking_id, "assigned", "Dinas Lingkungan Hidup Kabupaten Kutai Timur")


async def test_wrong_actors_and_bad_actions_are_rejected_and_change_nothing(
        lapor: Lapor) -> None:
    tracking_id, secret = await lapor.receive()
    await lapor.wait_status(tracking_id, "assigned")
    before = tracked(lapor, tracking_id, "assigned", PUPR_NAME)

    attempts = [
        ("acknowledge", ("agency", "kutim-dinkes"), {}, "not_assignee"),
        ("reply", CITIZEN, {"citizen_secret": "AAAAA-AAAAA"}, "bad_citizen_secret"),
        ("confirm", CITIZEN, {}, "bad_citizen_secret"),
        ("confirm", CITIZEN, {"citizen_secret": secret}, "invalid_transition"),
        ("acknowledge", ADMIN, {}, "actor_not_allowed"),
        ("resolve", PUPR, {}, "message_required"),
        ("transfer", PUPR, {}, "target_required"),
        ("transfer", PUPR, {"target_agency_id": "kutim-pupr"}, "invalid_target"),
        ("assign", ADMIN, {"target_agency_id": "kutim-dlh"}, "invalid_transition"),
        ("auto_close", ("system", "sla"), {}, "invalid_transition"),
    ]
    sent = [(await lapor.act(tracking_id, action, actor, **fields), reason)
            for action, actor, fields, reason in attempts]
    unknown = await lapor.act("ABCD-EFGH-X", "acknowledge", PUPR)
    # Not an action at all: answered as far as its ids can be read.
    broken = f"broken-{tracking_id}"
    await lapor.send("complaints.actions", tracking_id,
                     json.dumps({"action_id": broken, "tracking_id": tracking_id,
                                 "action": "fly"}).encode())
    await lapor.settle(tracking_id)

    for action_id, reason in sent:
        answer = await lapor.rejection(action_id)
        assert (answer["reason"], answer["tracking_id"]) == (reason, tracking_id), answer
        assert answer["event_type"] == "action.rejected" and answer["detail"]
    assert (await lapor.rejection(unknown))["reason"] == "unknown_complaint"
    invalid = await lapor.rejection(broken)
    assert invalid["reason"] == "invalid_action" and "action" in invalid["detail"]
    assert [e["status"] for e in lapor.seen("status", tracking_id)] == ["assigned"]
    assert tracked(lapor, tracking_id, "assigned", PUPR_NAME) == before
    case = (await lapor.case(tracking_id))["case"]
    assert case["applied_action_ids"] == []


async def test_triage_on_arrival_and_admin_reject(lapor: Lapor) -> None:
    no_region, _ = await lapor.receive(region=None)
    no_rule, _ = await lapor.receive(region="31.71", category="other")
    assert (await lapor.wait("triage", no_region, 1))[0]["reason"] == "no_region"
    assert (await lapor.wait("triage", no_rule, 1))[0]["reason"] == "no_matching_rule"
    tracked(lapor, no_rule, "triage", None)
    case = (await lapor.case(no_rule))["case"]
    assert (case["history"][-1]["reason"], case["history"][-1]["rule_id"]) == (
        "no_matching_rule", None)

    await lapor.act(no_rule, "reject", ADMIN, message="Di luar kewenangan LAPOR daerah.")
    change = await lapor.wait_status(no_rule, "rejected")
    assert change["previous_status"] == "triage"
    history = tracked(lapor, no_rule, "rejected", None)
    assert history[-1]["message"] == "Di luar kewenangan LAPOR daerah."
    assert not lapor.seen("routed", no_rule)


async def test_tracking_endpoint(lapor: Lapor) -> None:
    confidential, _ = await lapor.receive(confidential=True)
    anonymous, _ = await lapor.receive(category="health.hospital", anonymous=True)
    await lapor.wait_status(confidential, "assigned")
    (routed,) = await lapor.wait("routed", anonymous, 1)
    assert routed["reporter"] is None  # agencies never learn who an anonymous reporter is
    assert routed["agency_id"] == "kutim-dinkes"

    # A confidential complaint answers its tracking id like any other.
    tracked(lapor, confidential, "assigned", PUPR_NAME)
    tracked(lapor, anonymous, "assigned", "Dinas Kesehatan Kabupaten Kutai Timur")
    # Tracking ids are read the way citizens type them.
    code, body = lapor.track(confidential.lower().replace("-", ""))
    assert code == 200 and body["tracking_id"] == confidential

    assert lapor.track("ABCD-EFGH-X") == (404, {"error": "unknown_tracking_id"})
    assert lapor.track("not-a-tracking-id")[0] == 404
    assert lapor.router.get_json("/v1/complaints/")[0] == 404


async def test_metrics(lapor: Lapor) -> None:
    """Runs after the others in this module: their activity shows in the counters."""
    tracking_id, _ = await lapor.receive(region=None)
    await lapor.wait("triage", tracking_id, 1)
    text = await lapor.wait_metric(
        lambda t: metric_value(t, "lapor_router_triage_backlog") >= 3
        and metric_value(t, "lapor_router_cases", status="assigned") >= 3)
    assert metric_value(text, "lapor_router_cases", status="triage") == metric_value(
        text, "lapor_router_triage_backlog")
    assert metric_value(text, "lapor_router_cases", status="received") == 0
    assert metric_value(text, "lapor_router_routed_total", agency_id="kutim-pupr",
                        reason="rule") >= 4
    assert metric_value(text, "lapor_router_routed_total", agency_id="kutim-dlh",
                        reason="manual") >= 1
    assert metric_value(text, "lapor_router_routed_total", agency_id="kutim-dishub",
                        reason="transfer") >= 1
    for reason in ("no_region", "no_matching_rule", "declined_by_all"):
        assert metric_value(text, "lapor_router_triaged_total", reason=reason) >= 1, reason
    for reason in ("not_assignee", "bad_citizen_secret", "invalid_transition",
                   "actor_not_allowed", "message_required", "target_required",
                   "invalid_target", "unknown_agency", "unknown_complaint", "invalid_action"):
        assert metric_value(text, "lapor_router_actions_rejected_total", reason=reason) >= 1
    assert metric_value(text, "lapor_router_transfers_total", action="decline") >= 6
    assert metric_value(text, "lapor_router_transfers_total", action="transfer") >= 2
    assert metric_value(text, "lapor_router_actions_applied_total", action="confirm") >= 1
    assert metric_value(text, "lapor_router_actions_replayed_total", outcome="applied") >= 1
    assert metric_value(text, "lapor_router_actions_replayed_total", outcome="rejected") >= 1
    assert metric_value(text, "lapor_router_resolved_total", agency_id="kutim-pupr") >= 1
    assert metric_value(text, "lapor_router_routing_latency_seconds_count") >= 4
    assert metric_value(text, "lapor_router_open_cases_by_agency", agency_id="kutim-pupr") >= 1


async def test_the_open_case_gauges_match_a_count_of_the_cases(lapor: Lapor) -> None:
    """Runs last: after this module's routing, declines, transfers, resolutions, closes
    and reopenings, the gauges (kept with the case writes, not counted) equal a count."""
    open_statuses = {str(status) for status in OPEN_STATUSES}

    async def counted() -> tuple[Counter[str], Counter[str]]:
        by_status: Counter[str] = Counter()
        by_agency: Counter[str] = Counter()
        async for document in lapor.cases.find({}, {"case.status": 1, "case.assignee": 1}):
            case = document["case"]
            if case["status"] in open_statuses:
                by_status[case["status"]] += 1
                if case.get("assignee"):
                    by_agency[case["assignee"]] += 1
        return by_status, by_agency

    deadline = time.monotonic() + 20
    while True:  # the module's last events may still be on their way
        by_status, by_agency = await counted()
        text = lapor.router.metrics()
        gauges = ({s: metric_value(text, "lapor_router_cases", status=s) for s in open_statuses},
                  {a: metric_value(text, "lapor_router_open_cases_by_agency", agency_id=a)
                   for a in by_agency})
        if gauges == ({s: float(by_status[s]) for s in open_statuses},
                      {a: float(n) for a, n in by_agency.items()}):
            break
        assert time.monotonic() < deadline, (gauges, by_status, by_agency)
        await asyncio.sleep(0.2)
    assert by_status["assigned"] >= 3 and by_status["triage"] >= 3 and len(by_agency) >= 1
    # ...and the cases this module closed or rejected have left the gauges.
    assert await lapor.cases.count_documents({}) > sum(by_status.values())
