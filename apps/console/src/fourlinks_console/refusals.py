"""A refusal in the reader's words: one sentence per error code (the services' codes, listed in
`fourlinks_kernel.errors.ERROR_CODES`, and the console's own), filled in with the refusal's
parameters — a state, a role or a kind in the reader's language, an id shortened as pages show it.

The services' English `detail` is never shown in Chinese: a code without a sentence here reads
"操作未能完成：…" with what its HTTP status means (in English, the service's own message)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from fourlinks_console.i18n import Language
from fourlinks_console.names import N_

SENTENCES: dict[str, str] = {
    # -- the kernel's general kinds
    "system_error": N_(
        "Something went wrong in the system and this may not have been done. Try again in a moment."
    ),
    "invalid_id": N_("An identifier in the request is not valid."),
    "concurrent_change": N_("Someone else changed this at the same moment. Reload the page and try again."),
    "unavailable": N_(
        "The system cannot reach its records right now. Nothing was changed; try again in a moment."
    ),
    "refused": N_("This could not be done: it breaks a rule."),
    "not_found": N_("Not found, or not yours to see."),
    "person_erased": N_("This person's data was erased at their request: nothing new is kept about them."),
    "gone": N_("This no longer exists: it was erased at the person's request."),
    "invalid_command": N_("This could not be done: what was sent breaks a rule."),
    "not_allowed": N_("You may not do this."),
    "state_conflict": N_("This cannot be done in the current state. Reload the page to see what changed."),
    "out_of_scope": N_("%(unit)s is outside your area."),
    # -- the HTTP edge
    "invalid_input": N_("Please check: %(fields)s."),
    "sign_in_needed": N_("Your sign-in has expired. Sign in again."),
    "role_needed": N_("This needs the role of %(roles)s."),
    "rate_limited": N_("Too many requests. Try again in %(seconds)s seconds."),
    "method_not_allowed": N_("This address cannot be used this way."),
    "malformed_idempotency_key": N_("The request carried a malformed retry key (Idempotency-Key)."),
    "idempotency_key_reused": N_("This request reuses the retry key of another request."),
    "too_large": N_("What was sent is too large (at most %(limit)s bytes)."),
    # -- tasks
    "task_not_in_state": N_("This task is %(state)s; this needs it to be %(needed)s."),
    "assignee_only": N_("Only the task's assignee may do this."),
    "separation_of_duties": N_("Separation of duties: whoever worked on this task may not %(duty)s."),
    "task_not_triaged": N_("The task has not been accepted yet, so it has no deadline."),
    "deadline_passed": N_("The deadline has passed: an extension is asked for before it."),
    "deadline_not_later": N_("The new deadline must be later than the current one."),
    "extension_pending": N_("An extension request is already waiting for a decision."),
    "no_extension_pending": N_("No extension request is waiting."),
    "already_at_top": N_("The task is already at district level: it cannot go higher."),
    "unit_not_below": N_("%(unit)s is not below the task's unit %(current)s."),
    "already_assigned_to": N_("The task is already with member %(member)s."),
    "duplicate_of_needed": N_("Name the task this one duplicates."),
    "duplicate_of_itself": N_("A task cannot duplicate itself."),
    "duplicate_unknown": N_("There is no task %(task)s to duplicate."),
    "responsible_party_needed": N_("Say whose responsibility it is."),
    "close_note_needed": N_("Closing without resolving needs a note saying why."),
    "no_card_covers_contact": N_(
        "No member's service card covers this household or enterprise: name the member to assign."
    ),
    "member_unknown": N_("Member %(member)s is not known (if just registered, try again in a moment)."),
    "member_deactivated": N_("Member %(member)s no longer serves."),
    "member_outside_unit": N_(
        "Member %(member)s belongs to %(unit)s, outside this task's unit %(task_unit)s."
    ),
    "helpers_not_in_team": N_("These helpers are not in the member's 1 + X team: %(helpers)s."),
    "contact_not_registered": N_(
        "No such %(kind)s is registered (if just registered, try again in a moment)."
    ),
    "party_day_recorded": N_("The themed party day on %(held_on)s is already recorded."),
    "agenda_needed": N_("A themed party day needs an agenda."),
    # -- feedback
    "feedback_not_in_state": N_("This feedback is %(state)s: this cannot be done now."),
    "problem_is_a_task": N_("A problem is worked as a task, not answered directly."),
    "no_callback_due": N_("No call-back is due: call-backs follow the task's closure."),
    "feedback_duplicate_of_itself": N_("An item cannot be a duplicate of itself: choose the original."),
    "original_feedback_unknown": N_("The original must be a feedback item of the same community."),
    "already_rated": N_("This household has already rated its member for %(period)s."),
    "score_out_of_range": N_("A score is 1 to 5."),
    "comment_too_long": N_("The comment is too long: at most %(limit)s characters."),
    "no_member_for_household": N_(
        "No member's service card covers your household yet, so there is no one to rate."
    ),
    "own_household_only": N_("A household acts on its own feedback and member only."),
    # -- members, cards, contacts
    "card_already_active": N_("This member already has a service card: revise it instead."),
    "card_not_active": N_("This member has no service card in force."),
    "card_changed": N_(
        "The card changed since you opened it (now revision %(revision)s, you had %(expected)s). "
        "Reload the page and try again."
    ),
    "contact_on_other_card": N_(
        "This %(kind)s is already on the card of member %(member)s: revise that card first."
    ),
    "contact_twice": N_("A household or enterprise appears twice on the card."),
    "contact_outside_community": N_(
        "This %(kind)s is not in the member's community (%(community)s): contacts are served nearby."
    ),
    "over_capacity": N_(
        "The card would hold %(size)s contacts, more than the member's capacity of %(capacity)s."
    ),
    "capacity_out_of_range": N_("The capacity must be between 1 and %(maximum)s contacts."),
    "already_in_unit": N_("The member is already in %(unit)s."),
    "member_still_serves": N_("This member still serves: deactivate them first."),
    "already_erased": N_("This %(kind)s's data has already been erased."),
    "helper_in_team": N_("This helper is already in the team."),
    "helper_not_in_team": N_("This helper is not in the member's team."),
    "unknown_matters": N_("Unknown service matters: %(matters)s."),
    "credit_code_malformed": N_(
        "A unified social credit code has 18 characters: digits and capital letters except I, O, S, V, Z."
    ),
    "credit_code_checksum": N_(
        "The unified social credit code fails its check: its last character should be %(expected)s."
    ),
    "credit_code_taken": N_("Another enterprise is already registered with this unified social credit code."),
    "visit_in_future": N_("A visit cannot be recorded for a future date."),
    "cadence_out_of_range": N_("The visit cadence must be 1 to %(maximum)s days."),
    "unit_level_wrong": N_("%(unit)s is a %(level)s; this needs a %(needed)s."),
    "own_visits_only": N_("A member records their own visits only."),
    # -- notices
    "secretaries_only": N_("Only secretaries do this."),
    "notice_sent": N_("This notice has already been sent."),
    "notice_given_up": N_("This notice was given up: a secretary may send it again."),
    "notice_being_sent": N_("This notice is being sent right now."),
    "notice_not_dead_letter": N_("Only notices that could not be delivered are sent again."),
    "sign_in_link_requested": N_("This sign-in link was already requested."),
    # -- a reporter's phone confirmed by a texted code (a service card's doorway)
    "phone_codes_unavailable": N_("No text message service is set up here, so phones are not confirmed."),
    "phone_code_wrong": N_("That is not the code we texted (%(tries_left)s tries left)."),
    "phone_code_expired": N_("The code has expired (it works for %(minutes)s minutes): ask for a new one."),
    "phone_code_used": N_("The code was used already or tried too often: ask for a new one."),
    "phone_confirmation_refused": N_("Your phone's confirmation has expired: confirm your phone again."),
    # -- photos
    "photo_refused": N_("This photo cannot be kept: %(problem)s."),
    "photo_not_uploaded": N_("A photo was not uploaded: choose it again."),
    # -- the console's own
    "too_many_photos": N_("At most %(limit)s photos at a time."),
    "phone_not_confirmed": N_("First confirm your mobile phone: we text it a code."),
    "code_not_sent": N_("The code could not be texted just now. Try again in a moment, or call your member."),
}
"""The sentence of each code; `%(name)s` is filled with the parameter of that name."""

DUTIES = [N_("spot_check"), N_("close"), N_("approve_extension")]
LEVELS = [
    N_("district"),
    N_("street"),
    N_("town"),
    N_("community"),
    N_("village"),
    N_("grid"),
    N_("natural_village"),
    N_("building"),
]
PHOTO_PROBLEMS = [N_("too_large"), N_("kind_not_accepted"), N_("too_many_pixels"), N_("unreadable")]
WORDS = frozenset({"state", "needed", "duty", "kind", "level", "roles", "problem"})
"""Parameters that are words of the domain (states, roles, kinds): shown translated (names.py, above)."""
IDS = frozenset({"member", "task", "contact"})
"""Parameters that are ids: shortened as pages show them."""

FIELD_LABELS: dict[str, str] = {
    "description": N_("Description"),
    "category": N_("Category"),
    "note": N_("Note"),
    "reason": N_("Reason"),
    "comment": N_("Comment"),
    "score": N_("Score"),
    "member_id": N_("Member"),
    "summary": N_("What was done"),
    "result": N_("Result"),
    "new_due_at": N_("New deadline"),
    "to_unit": N_("To unit"),
    "guidance": N_("Guidance"),
    "org_unit": N_("Unit"),
    "resolved": N_("Resolved?"),
    "satisfaction": N_("Satisfied?"),
    "urgency": N_("Urgency"),
    "agenda": N_("Agenda"),
    "photos": N_("Photos (up to 6; their location is removed)"),
    "passed": N_("Passed?"),
    "approve": N_("Approve?"),
    "duplicate_of": N_("Duplicate of task"),
    "responsible_party": N_("Responsible party"),
    "kind": N_("What is it?"),
    "notes": N_("Notes"),
    "visited_on": N_("Visited on"),
    "phone": N_("Mobile phone"),
    "code": N_("Code from the text message"),
}
"""A field of a request by the label its form shows (for invalid_input)."""
REASONS: dict[str, str] = {
    "required": N_("this is required"),
    "too_short": N_("too short"),
    "too_long": N_("too long"),
    "too_few": N_("too few"),
    "too_many": N_("too many"),
    "too_small": N_("too small"),
    "too_large": N_("too large"),
    "wrong_format": N_("not in the form it takes"),
    "not_a_choice": N_("choose one of the options"),
    "not_a_date": N_("not a valid date and time"),
    "wrong_type": N_("not the kind of value it takes"),
    "not_expected": N_("not expected here"),
    "invalid": N_("not accepted"),
}
"""What is wrong with a field, in plain words (the reasons of `fourlinks_runtime.errors.invalid_fields`)."""
REASONS_WITH_LIMIT: dict[str, str] = {
    "too_short": N_("at least %(limit)s characters"),
    "too_long": N_("at most %(limit)s characters"),
    "too_few": N_("at least %(limit)s"),
    "too_many": N_("at most %(limit)s"),
    "too_small": N_("at least %(limit)s"),
    "too_large": N_("at most %(limit)s"),
}
FIELD_SAID = N_("%(field)s: %(reason)s")
EITHER = N_("%(some)s or %(last)s")
LIST_SEPARATOR = N_(", ")
FIELD_SEPARATOR = N_("; ")
NOT_DONE = N_("This could not be done: %(why)s")
WHY_OF_STATUS: dict[int, str] = {
    400: N_("what was sent was not accepted."),
    401: N_("sign in again."),
    403: N_("you may not do this."),
    404: N_("it was not found."),
    409: N_("the current state does not allow it; reload the page."),
    410: N_("it no longer exists."),
    413: N_("what was sent is too large."),
    422: N_("what was sent was not accepted."),
    429: N_("too many requests; try again shortly."),
}
TRY_LATER = N_("try again later.")


class Refused(Protocol):
    """What a refusal tells: its HTTP status, its code (empty: the console's own words), its
    parameters and its English message."""

    @property
    def status(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def params(self) -> Mapping[str, Any]: ...
    @property
    def message(self) -> str: ...


def sentence(refused: Refused, language: Language) -> str:
    """The refusal in the reader's language: its code's sentence filled in, else a general one."""
    if not refused.code:
        return refused.message  # the console's own words, already meant for people
    template = SENTENCES.get(refused.code)
    if template is None:
        return not_done(refused, language)
    values = {name: _shown(name, value, language) for name, value in refused.params.items()}
    try:
        return language.gettext(template) % values
    except (KeyError, TypeError, ValueError):  # a service that sent fewer parameters than the sentence needs
        return not_done(refused, language)


def not_done(refused: Refused, language: Language) -> str:
    """The general sentence ("操作未能完成：…"): in Chinese what the status means, never the
    service's English; in English the service's own message."""
    if language.locale == "en" and refused.message:
        why = refused.message
    else:
        why = language.gettext(WHY_OF_STATUS.get(refused.status, TRY_LATER))
    return language.gettext(NOT_DONE) % {"why": why}


def _shown(name: str, value: Any, language: Language) -> str:
    if name == "fields" and isinstance(value, list):
        return language.gettext(FIELD_SEPARATOR).join(_field(entry, language) for entry in value)
    if name == "held_on" and isinstance(value, str):
        return language.day(value)
    if isinstance(value, list):
        words = [_shown(name, item, language) for item in value]
        return _either(words, language) if name == "needed" else language.gettext(LIST_SEPARATOR).join(words)
    if value is None:
        return "—"
    if name in WORDS and isinstance(value, str):
        return language.gettext(value)
    if name in IDS and isinstance(value, str) and len(value) == 36:
        return value[:8]
    return str(value)


def _either(words: list[str], language: Language) -> str:
    if len(words) < 2:
        return "".join(words)
    some = language.gettext(LIST_SEPARATOR).join(words[:-1])
    return language.gettext(EITHER) % {"some": some, "last": words[-1]}


def _field(entry: Any, language: Language) -> str:
    """One field of invalid_input: its label and what is wrong, with the limit it broke."""
    if not isinstance(entry, Mapping):
        return str(entry)
    path = str(entry.get("field", ""))
    name = path.rsplit(".", 1)[-1]
    label = language.gettext(FIELD_LABELS[name]) if name in FIELD_LABELS else path
    reason = str(entry.get("reason", "invalid"))
    limit = entry.get("limit")
    if limit is not None and reason in REASONS_WITH_LIMIT:
        said = language.gettext(REASONS_WITH_LIMIT[reason]) % {"limit": limit}
    else:
        said = language.gettext(REASONS.get(reason, REASONS["invalid"]))
    return language.gettext(FIELD_SAID) % {"field": label, "reason": said}
