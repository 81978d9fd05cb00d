"""Photos of a task's work through HTTP: the member's resolution and the inspector's failed spot
check carry photos uploaded for the task, kept without their location, named in the timeline and
shown to the task's readers; a photo uploaded for another household is refused; a task serves only
the photos its timeline names."""

from __future__ import annotations

import hashlib
import io

import httpx
from conftest import District, a_photo_with_a_location, a_problem_assigned
from PIL import Image


async def upload(d: District, task_id: str, who: dict[str, str], data: bytes) -> httpx.Response:
    files = {"photo": ("work.jpg", data, "image/jpeg")}
    return await d.assignments.post(f"/tasks/{task_id}/photos", files=files, headers=who)


async def test_a_resolution_and_a_failed_spot_check_carry_photos_the_tasks_readers_see(
    district: District,
) -> None:
    d = district
    member, _, _, task_id = await a_problem_assigned(d)
    me, inspector = d.token("member", member), d.token("inspector", "inspector-1")
    await d.post(d.assignments, f"/tasks/{task_id}/accept", {}, me)
    done = await upload(d, task_id, me, a_photo_with_a_location((200, 200, 200)))
    assert done.status_code == 201, done.text
    fixed = done.json()
    await d.post(
        d.assignments,
        f"/tasks/{task_id}/resolution",
        {"summary": "换了水管接头", "result": "resolved", "photos": [fixed]},
        me,
    )
    still = (await upload(d, task_id, inspector, a_photo_with_a_location((90, 60, 40)))).json()
    await d.post(
        d.assignments,
        f"/tasks/{task_id}/spot-check",
        {"passed": False, "note": "接头仍在滴水", "photos": [still]},
        inspector,
    )
    lines = await d.get(d.assignments, f"/tasks/{task_id}/timeline", d.secretary)
    named = {p["sha256"] for line in lines for p in line["details"].get("photos", [])}
    assert named == {fixed["sha256"], still["sha256"]}
    for who in (me, inspector, d.secretary):
        for photo in (fixed, still):
            got = await d.assignments.get(f"/tasks/{task_id}/photos/{photo['sha256']}", headers=who)
            assert got.status_code == 200, got.text
            assert hashlib.sha256(got.content).hexdigest() == photo["sha256"]
            assert not Image.open(io.BytesIO(got.content)).getexif()  # no location

    unnamed = (await upload(d, task_id, me, a_photo_with_a_location((1, 2, 3)))).json()
    missing = await d.assignments.get(f"/tasks/{task_id}/photos/{unnamed['sha256']}", headers=me)
    assert missing.status_code == 404  # uploaded but named by no step of the task
    bogus = {**fixed, "sha256": "0" * 64}
    refused = await d.assignments.post(
        f"/tasks/{task_id}/resolution",
        json={"summary": "再次处理", "result": "resolved", "photos": [bogus]},
        headers={**me, "X-Min-Position": str(d.position)},
    )
    assert (refused.status_code, "was not uploaded" in refused.text) == (422, True)
    not_a_photo = await upload(d, task_id, me, b"%PDF-1.7 not a photo")
    assert not_a_photo.status_code == 422
