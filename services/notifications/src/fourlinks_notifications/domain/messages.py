"""What each notice says, in Chinese first and in English. Only what its recipient may see: task
and feedback references, categories, dates and links, never a resident's words or name (a group
robot's message is read by the whole group); a category by its service matter's label, never as
stored."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from fourlinks_contracts.service_matters import matter_label


class Message(StrEnum):
    """The kinds of notice."""

    TASK_ASSIGNED = "task_assigned"
    TASK_HANDED_BACK = "task_handed_back"
    TASK_REOPENED = "task_reopened"
    DEADLINE_APPROACHING = "deadline_approaching"
    DEADLINE_MISSED = "deadline_missed"
    CALLBACK_DUE = "callback_due"
    FEEDBACK_RECEIVED = "feedback_received"
    FEEDBACK_ROUTED = "feedback_routed"
    FEEDBACK_ANSWERED = "feedback_answered"
    CALLBACK_ASKED = "callback_asked"
    FEEDBACK_CLOSED = "feedback_closed"
    SIGN_IN_LINK = "sign_in_link"


TEXTS: Mapping[Message, Mapping[str, str]] = {
    Message.TASK_ASSIGNED: {
        "zh_CN": "【四联】任务 {task}（{category}）已交给您办理，请及时接单。{link}",
        "en": "[Four Links] Task {task} ({category}) is yours: please accept it. {link}",
    },
    Message.TASK_HANDED_BACK: {
        "zh_CN": "【四联】任务 {task} 抽查未通过，请查看原因后重新办理。{link}",
        "en": "[Four Links] Task {task} failed its spot check: see why and resolve it again. {link}",
    },
    Message.TASK_REOPENED: {
        "zh_CN": "【四联】任务 {task} 经群众回访已重新打开，请再次办理。{link}",
        "en": "[Four Links] Task {task} was reopened after the resident's call-back. {link}",
    },
    Message.DEADLINE_APPROACHING: {
        "zh_CN": "【四联】任务 {task}（{category}）将于 {due} 到期。{link}",
        "en": "[Four Links] Task {task} ({category}) is due {due}. {link}",
    },
    Message.DEADLINE_MISSED: {
        "zh_CN": "【四联】任务 {task}（{category}）已超过办理期限（{due}）。{link}",
        "en": "[Four Links] Task {task} ({category}) missed its deadline ({due}). {link}",
    },
    Message.CALLBACK_DUE: {
        "zh_CN": "【四联】反馈 {reference} 的回访已到期，请联系群众回访。{link}",
        "en": "[Four Links] The call-back on feedback {reference} is due: please call the resident. {link}",
    },
    Message.FEEDBACK_RECEIVED: {
        "zh_CN": "【四联】您的反馈已收到，编号 {reference}，凭编号可查看进度：{link}",
        "en": "[Four Links] Your feedback is received, reference {reference}. Follow it here: {link}",
    },
    Message.FEEDBACK_ROUTED: {
        "zh_CN": "【四联】您的反馈 {reference} 已交给联系党员办理。",
        "en": "[Four Links] Your feedback {reference} is with your party member now.",
    },
    Message.FEEDBACK_ANSWERED: {
        "zh_CN": "【四联】您的反馈 {reference} 已有答复，请登录查看。",
        "en": "[Four Links] Your feedback {reference} has an answer: sign in to read it.",
    },
    Message.CALLBACK_ASKED: {
        "zh_CN": "【四联】您的反馈 {reference} 已办结，问题解决了吗？您满意吗？请告诉我们。",
        "en": "[Four Links] Your feedback {reference} is done: was it resolved, are you satisfied? Tell us.",
    },
    Message.FEEDBACK_CLOSED: {
        "zh_CN": "【四联】您的反馈 {reference} 已办结归档，感谢您的参与。",
        "en": "[Four Links] Your feedback {reference} is closed. Thank you.",
    },
    Message.SIGN_IN_LINK: {
        "zh_CN": "【四联】您家的登录链接（{hours} 小时内有效，请勿转发）：{link}",
        "en": "[Four Links] Your household's sign-in link (valid {hours} hours, do not forward): {link}",
    },
}
LOCALES = ("zh_CN", "en")


def render(message: Message, params: Mapping[str, str], locale: str) -> str:
    """The text of a notice; a missing parameter reads as empty, never as an error at sending; a
    category reads as its service matter's label (what is not a code reads as "other")."""
    template = TEXTS[message].get(locale) or TEXTS[message]["zh_CN"]
    shown = dict(params)
    if "category" in shown:
        shown["category"] = matter_label(shown["category"], locale)
    return template.format_map(_Blank(shown)).strip()


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""
