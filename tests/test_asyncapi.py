"""The AsyncAPI documents describe the stored message: the envelope, the data with its personal
fields sealed, the headers; and the correlation id where it really is (the envelope)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from fourlinks_members.bootstrap import create_app


def found(document: Any, key: str) -> list[Any]:
    """Every value under `key`, anywhere in the document."""
    if isinstance(document, dict):
        return [
            *([document[key]] if key in document else []),
            *(v for d in document.values() for v in found(d, key)),
        ]
    if isinstance(document, list):
        return [v for d in document for v in found(d, key)]
    return []


async def test_the_event_docs_show_the_stored_message() -> None:
    transport = httpx.ASGITransport(app=create_app())  # the document needs no NATS: no lifespan
    async with httpx.AsyncClient(transport=transport, base_url="http://members") as client:
        document = (await client.get("/asyncapi.json")).json()
        page = (await client.get("/asyncapi")).text
    schemas = document["components"]["schemas"]
    stored = schemas["ResidentAddedStored"]
    assert set(stored["properties"]) == {"envelope", "data"}
    assert "Sealed fields: " in stored["description"]
    assert "Fourlinks-Event-Type" in stored["description"]
    assert "Nats-Msg-Id" in stored["description"]
    data = schemas["ResidentAddedData"]["properties"]
    sealed = [name for name, field in data.items() if "Sealed" in json.dumps(field)]
    assert "name" in sealed, data
    assert "$enc" in json.dumps(schemas["Sealed"])
    assert "correlation_id" in json.dumps(schemas["Envelope"])
    locations = {c["location"] for c in found(document, "correlationId")}
    assert locations == {"$message.payload#/envelope/correlation_id"}, locations
    assert "ResidentAddedStored" in page  # the rendered page shows the same document
