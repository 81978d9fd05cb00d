"""The one place that wires the notifications service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI

from fourlinks_contracts import full_registry, notifications
from fourlinks_notifications import read_models
from fourlinks_notifications.adapters.channels import outlet_of
from fourlinks_notifications.adapters.notices_api import router
from fourlinks_notifications.adapters.phone_codes_api import router as phone_codes_router
from fourlinks_notifications.application.figures import FIGURES
from fourlinks_notifications.application.sender import Notifier, sender
from fourlinks_notifications.domain.quiet import QuietHours
from fourlinks_notifications.settings import Channels, NotifySettings
from fourlinks_runtime.app import create_app as create_service_app
from fourlinks_runtime.definition import ServiceDefinition
from fourlinks_runtime.runtime import ServiceRuntime
from fourlinks_runtime.settings import Settings

DESCRIPTION = (
    "Tells members, secretaries and residents what concerns them: by DingTalk or WeCom group robot, "
    "e-mail and text message; once per event and recipient, retried, dead letters sent again on request."
)


def sending(
    settings: NotifySettings, channels: Channels, zone: str
) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """The sender as a worker of the service; broken quiet hours stop the start."""
    QuietHours.parse(settings.quiet_hours, zone)

    async def work(runtime: ServiceRuntime) -> None:
        async with httpx.AsyncClient(timeout=settings.send_timeout_seconds) as client:
            outlet = outlet_of(channels, client, settings.send_timeout_seconds)
            await sender(Notifier.of(runtime, settings, outlet))

    return work


def definition(
    settings: Settings, notify: NotifySettings | None = None, channels: Channels | None = None
) -> ServiceDefinition:
    """What the notifications service is made of; a broken channels file stops the start."""
    notify = notify or NotifySettings()
    channels = channels or Channels.read(notify.channels_file)
    return ServiceDefinition(
        name="notifications",
        title="Four Links: notifications",
        description=DESCRIPTION,
        registry=full_registry(),
        publishes=notifications.EVENTS,
        projections=read_models.PROJECTIONS,
        routers=(router, phone_codes_router),
        figures=FIGURES,
        workers=(sending(notify, channels, settings.timezone),),
    )


def create_app(settings: Settings | None = None, notify: NotifySettings | None = None) -> FastAPI:
    """ASGI app factory (`uvicorn --factory fourlinks_notifications.bootstrap:create_app`)."""
    settings, notify = settings or Settings(), notify or NotifySettings()
    channels = Channels.read(notify.channels_file)
    app = create_service_app(definition(settings, notify, channels), settings)
    app.state.channels = channels
    app.state.notify = notify
    return app
