"""A graceful stop leaves nothing behind: the duplicate roots that intake writes behind its
handler (once a second) are written before the process exits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.devinfra.services import ServiceProcess
from shared.topics import Topics
from tests.support.kafka import TopicReader

from .conftest import as_bytes, for_ref, key_of, send, submission


async def test_a_graceful_stop_writes_the_roots_still_waiting(
        intake_env: dict[str, str], bootstrap: str, topics: Topics, complaints: Any,
        tmp_path: Path) -> None:
    process = ServiceProcess("intake", intake_env, tmp_path / "intake.log")
    process.start()
    try:
        process.wait_ready(60)
        data = submission()
        async with TopicReader(bootstrap, topics.received) as reader:
            await send(bootstrap, topics.submitted, [(key_of(data), as_bytes(data), None)])
            values = await reader.wait_for(lambda vs: for_ref(vs, data["channel_ref"]))
        (event,) = for_ref(values, data["channel_ref"])
        assert process.stop() == 0, process.tail()
    finally:
        process.kill()
    batch = await complaints.database["duplicate_root_batches"].find_one(
        {"roots.tracking_id": event["tracking_id"]})
    assert batch is not None, "the new complaint's duplicate root was not written"
    (root,) = [r for r in batch["roots"] if r["tracking_id"] == event["tracking_id"]]
    assert (root["category"], root["region_code"]) == (data["category"], data["region_code"])
