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
