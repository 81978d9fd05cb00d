"""Text messages through Alibaba Cloud's SMS service (the provider interface is `Channel`; this is
its one adapter). A request is signed as the service's RPC API asks: the parameters sorted and
percent-encoded, "POST&%2F&" + the encoded query, HMAC-SHA1 with the key secret and "&". The
notice id travels as OutId."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from fourlinks_notifications.application.outgoing import Outgoing, Undelivered
from fourlinks_notifications.settings import AliyunSms


def _encode(value: str) -> str:
    return quote(value, safe="~")


def aliyun_signature(params: Mapping[str, str], secret: str, method: str = "POST") -> str:
    """The Signature parameter of an Alibaba Cloud RPC request."""
    query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{_encode('/')}&{_encode(query)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunSmsChannel:
    """SendSms with one approved template; its `content` variable carries the text."""

    name = "sms"

    def __init__(
        self,
        config: AliyunSms,
        client: httpx.AsyncClient,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config, self._client, self._clock = config, client, clock

    async def send(self, message: Outgoing, to: tuple[str, ...]) -> None:
        """One request for the given phones."""
        params = self._params(message, to)
        params["Signature"] = aliyun_signature(params, self._config.access_key_secret.get_secret_value())
        try:
            answer = await self._client.post(self._config.endpoint, data=params)
        except httpx.HTTPError as exc:
            raise Undelivered(f"sms: {type(exc).__name__}") from exc
        try:
            code = answer.json().get("Code")
        except ValueError:
            raise Undelivered(f"sms: HTTP {answer.status_code}, the answer is not JSON") from None
        if answer.status_code != 200 or code != "OK":
            raise Undelivered(f"sms: HTTP {answer.status_code}, code {code}")

    def _params(self, message: Outgoing, to: tuple[str, ...]) -> dict[str, str]:
        config = self._config
        return {
            "AccessKeyId": config.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": message.key,
            "PhoneNumbers": ",".join(to),
            "RegionId": config.region,
            "SignName": config.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": str(uuid.uuid4()),
            "SignatureVersion": "1.0",
            "TemplateCode": config.template_code,
            "TemplateParam": json.dumps({"content": message.text}, ensure_ascii=False),
            "Timestamp": self._clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
