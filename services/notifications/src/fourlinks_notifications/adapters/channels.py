"""The channels a channels file configures, built: group robots per unit, e-mail, text messages."""

from __future__ import annotations

import httpx

from fourlinks_notifications.adapters.mail import SmtpMail
from fourlinks_notifications.adapters.robots import DingTalkRobot, WeComRobot
from fourlinks_notifications.adapters.sms import AliyunSmsChannel
from fourlinks_notifications.application.outgoing import Channel
from fourlinks_notifications.application.routing import Outlet, Reach
from fourlinks_notifications.settings import Channels, Robot


def outlet_of(channels: Channels, client: httpx.AsyncClient, timeout: float) -> Outlet:
    """The deployment's outlet: every configured channel built once, sharing one HTTP client."""
    reach = Reach(
        robots={unit: _robot(config, client) for unit, config in channels.robots.items()},
        mail=SmtpMail(channels.smtp, timeout) if channels.smtp else None,
        sms=AliyunSmsChannel(channels.sms, client) if channels.sms else None,
    )
    return Outlet(channels, reach)


def _robot(config: Robot, client: httpx.AsyncClient) -> Channel:
    if config.kind == "dingtalk":
        secret = config.secret.get_secret_value() if config.secret else None
        return DingTalkRobot(config.url, secret, client)
    return WeComRobot(config.url, client)
