"""Words the pages show from data (roles, states, reasons, rates, event types): marked here so
the catalogue holds a translation for each; a page translates them with `_(value)`."""

from __future__ import annotations

from fourlinks_contracts import visibility


def N_(message: str) -> str:  # noqa: N802 - the conventional name of a gettext no-op marker
    """Mark a message for extraction without translating it here."""
    return message


ROLES = [
    N_("administrator"),
    N_("secretary"),
    N_("member"),
    N_("helper"),
    N_("inspector"),
    N_("resident"),
    N_("auditor"),
    N_("city"),
    N_("province"),
]
TASK_STATES = [
    N_("raised"),
    N_("rejected"),
    N_("accepted"),
    N_("assigned"),
    N_("in_progress"),
    N_("awaiting_check"),
    N_("ready_to_close"),
    N_("parked"),
    N_("closed"),
]
URGENCIES = [N_("urgent"), N_("general"), N_("complex")]
SOURCES = [N_("feedback"), N_("visit"), N_("party_day"), N_("inspection")]
REASONS = [
    N_("duplicate"),
    N_("not_our_responsibility"),
    N_("no_action_needed"),
    N_("insufficient_information"),
    N_("resolved"),
    N_("partly_resolved"),
    N_("not_resolvable_here"),
    N_("closed_unresolved"),
    N_("moved_away"),
    N_("deceased"),
    N_("retired"),
    N_("other"),
]
ANSWERS = [N_("yes"), N_("partly"), N_("no"), N_("satisfied"), N_("basically_satisfied"), N_("dissatisfied")]
RATES = [
    N_("response_rate"),
    N_("resolution_rate"),
    N_("satisfaction_rate"),
    N_("closure_rate"),
    N_("on_time_closure_rate"),
]
MEMBER_STATES = [N_("active"), N_("deactivated"), N_("transferred")]
HISTORY_KINDS = [N_("task"), N_("card"), N_("household")]
SERVICES = [N_("members"), N_("assignments")]
CALLBACK_KINDS = [N_("first"), N_("follow_up")]
HELPER_ROLES = [
    N_("village_group_leader"),
    N_("building_chief"),
    N_("property_staff"),
    N_("owners_committee_member"),
]
TASK_EVENTS = [
    N_("TaskRaised"),
    N_("TaskTriaged"),
    N_("TaskRejected"),
    N_("TaskAssigned"),
    N_("TaskAccepted"),
    N_("TaskReturned"),
    N_("ProgressReported"),
    N_("ResolutionReported"),
    N_("SpotCheckPassed"),
    N_("SpotCheckFailed"),
    N_("TaskReassigned"),
    N_("DeadlineExtensionRequested"),
    N_("DeadlineExtended"),
    N_("DeadlineExtensionRefused"),
    N_("TaskEscalated"),
    N_("TaskPushedDown"),
    N_("TaskParked"),
    N_("TaskUnparked"),
    N_("TaskClosed"),
    N_("TaskReopened"),
    N_("DeadlineApproaching"),
    N_("DeadlineMissed"),
    N_("TaskFlaggedForReassignment"),
]
FEEDBACK_KINDS = [N_("problem"), N_("opinion"), N_("praise"), N_("question")]
FEEDBACK_STATES = [
    N_("submitted"),
    N_("routed"),
    N_("callback_due"),
    N_("correction"),
    N_("follow_up_due"),
    N_("not_reached"),
    N_("closed"),
]
FEEDBACK_STEPS = [
    N_("submitted"),
    N_("acknowledged"),
    N_("handed to a task"),
    N_("answered"),
    N_("marked as a duplicate"),
    N_("call-back scheduled (first)"),
    N_("call-back scheduled (follow_up)"),
    N_("call-back answered"),
    N_("call-back not reached"),
    N_("correction requested"),
    N_("closed"),
]
"""The steps of a feedback item's public follow-up, as the feedback service names them."""
CHANNELS = [N_("visit"), N_("phone"), N_("party_day"), N_("web"), N_("sign_in_link"), N_("card_qr")]
"""How feedback reached the system (`fourlinks_contracts.feedback.Channel`)."""
NOTICES = [
    N_("task_assigned"),
    N_("task_handed_back"),
    N_("task_reopened"),
    N_("deadline_approaching"),
    N_("deadline_missed"),
    N_("callback_due"),
    N_("feedback_received"),
    N_("feedback_routed"),
    N_("feedback_answered"),
    N_("callback_asked"),
    N_("feedback_closed"),
    N_("sign_in_link"),
]
"""The kinds of notice the notifier sends, and to whom, and by which channel."""
RECIPIENTS = [N_("member"), N_("secretaries"), N_("household"), N_("enterprise")]
NOTICE_CHANNELS = [N_("dingtalk"), N_("wecom"), N_("sms"), N_("email")]
CHECKPOINT_PROBLEMS = [
    N_("no_checkpoint"),
    N_("no_log_key"),
    N_("signature_invalid"),
    N_("origin_mismatch"),
    N_("checkpoint_unreadable"),
]
"""Why the province could not verify a district's checkpoint (its service's `problem`; the last:
any the console does not know)."""
WITHHELD = {
    visibility.Guard.CONFIDENTIAL: N_("(confidential)"),
    visibility.Guard.ANONYMOUS: N_("(anonymous)"),
}
"""What a page shows where a service withheld a field, by what the resident asked."""
WITHHELD_MARKS = {
    name: WITHHELD[guard]
    for fields in (visibility.TASK, visibility.TASK_RAISED_LINE, visibility.RESIDENT_REOPENING_LINE)
    for name, guard in fields.items()
}
"""The mark of each field a task's answers may name in `withheld` (templates: `withheld_marks`)."""
