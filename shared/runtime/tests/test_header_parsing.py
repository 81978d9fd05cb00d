"""Our faster header parser gives what nats-py's own gives, for every header block we meet."""

from __future__ import annotations

import pytest
from nats.aio.client import Client

from fourlinks_runtime.natsconn import HeaderParsingClient

BLOCKS = [
    b"Nats-Stream: FOURLINKS_EVENTS\r\nNats-Sequence: 42\r\n"
    b"Nats-Subject: fourlinks.members.household.x.VisitRecorded\r\n"
    b"Nats-Time-Stamp: 2026-11-27T01:00:00.123456789Z\r\nNats-Msg-Id: 0193\r\n\r\n",
    b"Nats-Batch-Id: 1f\r\nNats-Batch-Sequence: 7\r\nNats-Batch-Commit: 1\r\n\r\n",
    b"Name:Value\r\nTabbed:\tvalue\r\n  Padded-Name  :  padded value  \r\n",
    b"Bad Name: skipped\r\nNo-Colon-Here\r\n\r\nOk: yes\r\n",
    "Reason: 楼道灯坏了\r\n".encode(),
    b"Broken: \xff\xfe\r\n\xff: name not ascii\r\n",
    b"",
]


@pytest.mark.parametrize("block", BLOCKS)
def test_the_fast_parser_agrees_with_the_library(block: bytes) -> None:
    assert HeaderParsingClient._parse_header_lines(block) == Client._parse_header_lines(block)
