"""DingTalk and WeCom group robots: a message posted to a group's webhook, @-mentioning a member
by their public phone.

DingTalk signs each request: `timestamp` (ms) and `sign` = Base64(HMAC-SHA256(secret,
"timestamp\\nsecret")) as query parameters. A WeCom robot has no signature: the key in its address
is the secret. Both answer 200 with `errcode` 0 when they took the message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import httpx

from fourlinks_notifications.application.outgoing import Outgoing, Undelivered


def dingtalk_signature(secret: str, timestamp_ms: int) -> str:
    """The `sign` parameter of a DingTalk robot request (URL-encoded)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


class DingTalkRobot:
    """A DingTalk group robot with its signing secret."""

    name = "dingtalk"

    def __init__(
        self, url: str, secret: str | None, client: httpx.AsyncClient, clock: Callable[[], float] = time.time
    ) -> None:
        self._url, self._secret, self._client, self._clock = url, secret, client, clock

    async def send(self, message: Outgoing, to: tuple[str, ...]) -> None:
        """Post a text message mentioning the given phones."""
        url = self._url
        if self._secret:
            timestamp = int(self._clock() * 1000)
            joiner = "&" if "?" in url else "?"
            url = f"{url}{joiner}timestamp={timestamp}&sign={dingtalk_signature(self._secret, timestamp)}"
        mention = "".join(f" @{phone}" for phone in to)
        body = {
            "msgtype": "text",
            "text": {"content": message.text + mention},
            "at": {"atMobiles": list(to), "isAtAll": False},
        }
        await post_to_robot(self._client, url, body, self.name)


class WeComRobot:
    """A WeCom (企业微信) group robot."""

    name = "wecom"

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self._url, self._client = url, client

    async def send(self, message: Outgoing, to: tuple[str, ...]) -> None:
        """Post a text message mentioning the given phones."""
        body = {"msgtype": "text", "text": {"content": message.text, "mentioned_mobile_list": list(to)}}
        await post_to_robot(self._client, self._url, body, self.name)


async def post_to_robot(client: httpx.AsyncClient, url: str, body: dict[str, Any], name: str) -> None:
    """POST the JSON; anything but 200 with errcode 0 is undelivered, saying which answer came."""
    try:
        answer = await client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise Undelivered(f"{name}: {type(exc).__name__}") from exc
    if answer.status_code != 200:
        raise Undelivered(f"{name}: HTTP {answer.status_code}")
    try:
        errcode = answer.json().get("errcode")
    except ValueError:
        raise Undelivered(f"{name}: the answer is not JSON") from None
    if errcode != 0:
        raise Undelivered(f"{name}: errcode {errcode}")
