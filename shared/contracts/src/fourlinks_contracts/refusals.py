"""The error codes of the refusals people meet in the domain: each a stable name, what it means,
and the parameters its sentence is filled with. A service raises them where it decides
(`raise StateConflict(message, TASK_NOT_IN_STATE, state=..., needed=[...])`); a client words a
refusal by its code (the console has a sentence for each, in Chinese and English) and shows a
parameter that is a state, a role or a kind in its own words.

Parameters hold ids, unit paths, states and numbers, never a person's name, phone or words."""

from __future__ import annotations

from fourlinks_kernel.errors import error_code

# -- tasks (the loop: assigned → feedback and correction → adjustment → closed) -----------------
TASK_NOT_IN_STATE = error_code(
    "task_not_in_state", "the task is not in a state that accepts this", "state", "needed"
)
ASSIGNEE_ONLY = error_code("assignee_only", "only the task's assignee may do this")
SEPARATION_OF_DUTIES = error_code(
    "separation_of_duties",
    "whoever worked on the task may not check it, close it or approve its extension (duty)",
    "duty",
)
TASK_NOT_TRIAGED = error_code("task_not_triaged", "the task has no deadline yet: it is not triaged")
DEADLINE_PASSED = error_code("deadline_passed", "an extension is requested before the deadline passes")
DEADLINE_NOT_LATER = error_code("deadline_not_later", "the new deadline must be later than the current one")
EXTENSION_PENDING = error_code("extension_pending", "an extension request is already waiting for a decision")
NO_EXTENSION_PENDING = error_code("no_extension_pending", "no extension request is waiting")
ALREADY_AT_TOP = error_code("already_at_top", "the task is already at district level")
UNIT_NOT_BELOW = error_code("unit_not_below", "the unit is not below the task's unit", "unit", "current")
ALREADY_ASSIGNED_TO = error_code("already_assigned_to", "the task is already with this member", "member")
DUPLICATE_OF_NEEDED = error_code("duplicate_of_needed", "a duplicate names the task it duplicates")
DUPLICATE_OF_ITSELF = error_code("duplicate_of_itself", "a task cannot duplicate itself")
DUPLICATE_UNKNOWN = error_code("duplicate_unknown", "the task named as the original does not exist", "task")
RESPONSIBLE_PARTY_NEEDED = error_code("responsible_party_needed", "say whose responsibility it is")
CLOSE_NOTE_NEEDED = error_code("close_note_needed", "closing without resolving needs a note saying why")
NO_CARD_COVERS_CONTACT = error_code(
    "no_card_covers_contact", "no service card covers the contact: name the member"
)
MEMBER_UNKNOWN = error_code("member_unknown", "no such member is known (yet)", "member")
MEMBER_DEACTIVATED = error_code("member_deactivated", "the member is deactivated", "member")
MEMBER_OUTSIDE_UNIT = error_code(
    "member_outside_unit", "the member belongs to a unit outside the task's", "member", "unit", "task_unit"
)
HELPERS_NOT_IN_TEAM = error_code(
    "helpers_not_in_team", "the helpers are not in the member's 1 + X team", "helpers"
)
CONTACT_NOT_REGISTERED = error_code(
    "contact_not_registered", "no such household or enterprise is registered (yet)", "field", "kind"
)
PARTY_DAY_RECORDED = error_code(
    "party_day_recorded", "the community's themed party day on that date is already recorded", "held_on"
)
AGENDA_NEEDED = error_code("agenda_needed", "a themed party day needs an agenda")

# -- feedback, call-backs and ratings ----------------------------------------------------------------
FEEDBACK_NOT_IN_STATE = error_code(
    "feedback_not_in_state", "the feedback is not in a state for this", "state"
)
PROBLEM_IS_A_TASK = error_code("problem_is_a_task", "a problem is worked as a task, not answered directly")
NO_CALLBACK_DUE = error_code("no_callback_due", "no call-back is due: call-backs follow the task's closure")
DUPLICATE_OF_ITSELF_FEEDBACK = error_code(
    "feedback_duplicate_of_itself", "a feedback item cannot duplicate itself"
)
ORIGINAL_FEEDBACK_UNKNOWN = error_code(
    "original_feedback_unknown", "the item named as the original is not a feedback item of this unit"
)
ALREADY_RATED = error_code("already_rated", "the household has already rated its member this month", "period")
SCORE_OUT_OF_RANGE = error_code("score_out_of_range", "a score is 1 to 5")
COMMENT_TOO_LONG = error_code("comment_too_long", "the comment is too long", "limit")
NO_MEMBER_FOR_HOUSEHOLD = error_code("no_member_for_household", "no member's card covers the household yet")
OWN_HOUSEHOLD_ONLY = error_code("own_household_only", "a household acts on its own feedback and member only")

# -- members, cards, contacts -----------------------------------------------------------------------
CARD_ALREADY_ACTIVE = error_code("card_already_active", "the member already has an active card: revise it")
CARD_NOT_ACTIVE = error_code("card_not_active", "the member has no active card")
CARD_CHANGED = error_code(
    "card_changed", "the card changed since it was read: read it again", "revision", "expected"
)
CONTACT_ON_OTHER_CARD = error_code(
    "contact_on_other_card", "the contact is already on another member's card", "kind", "contact", "member"
)
CONTACT_TWICE = error_code("contact_twice", "a contact appears twice in the card's scope")
CONTACT_OUTSIDE_COMMUNITY = error_code(
    "contact_outside_community",
    "the contact is in another community than the member's",
    "kind",
    "contact",
    "community",
)
OVER_CAPACITY = error_code(
    "over_capacity", "the card's scope is larger than the member's capacity", "size", "capacity"
)
CAPACITY_OUT_OF_RANGE = error_code("capacity_out_of_range", "capacity is outside its bounds", "maximum")
ALREADY_IN_UNIT = error_code("already_in_unit", "the member is already in that unit", "unit")
MEMBER_STILL_SERVES = error_code("member_still_serves", "only a member who left (deactivated) is erased")
ALREADY_ERASED = error_code("already_erased", "the person's data has already been erased", "kind")
HELPER_IN_TEAM = error_code("helper_in_team", "the helper is already in the team")
HELPER_NOT_IN_TEAM = error_code("helper_not_in_team", "the helper is not in the member's team")
UNKNOWN_MATTERS = error_code("unknown_matters", "service matters not in the catalogue", "matters")
CREDIT_CODE_MALFORMED = error_code("credit_code_malformed", "a unified social credit code has 18 characters")
CREDIT_CODE_CHECKSUM = error_code("credit_code_checksum", "the credit code fails its checksum", "expected")
CREDIT_CODE_TAKEN = error_code("credit_code_taken", "another enterprise is registered with this credit code")
VISIT_IN_FUTURE = error_code("visit_in_future", "a visit cannot be recorded for a future date")
CADENCE_OUT_OF_RANGE = error_code(
    "cadence_out_of_range", "the visit cadence is outside its bounds", "maximum"
)
UNIT_LEVEL_WRONG = error_code(
    "unit_level_wrong", "the org unit is not of a level this needs", "unit", "level", "needed"
)
OWN_VISITS_ONLY = error_code("own_visits_only", "a member records their own visits")

# -- notices and sign-in links -------------------------------------------------------------------------
SECRETARIES_ONLY = error_code("secretaries_only", "only secretaries do this")
NOTICE_SENT = error_code("notice_sent", "the notice has been sent")
NOTICE_GIVEN_UP = error_code("notice_given_up", "the notice was given up: a secretary may send it again")
NOTICE_BEING_SENT = error_code("notice_being_sent", "another sender is sending the notice now")
NOTICE_NOT_DEAD_LETTER = error_code("notice_not_dead_letter", "only notices given up are sent again")
SIGN_IN_LINK_REQUESTED = error_code("sign_in_link_requested", "this sign-in link was already requested")

# -- a reporter's phone confirmed by a one-time code (a service card's doorway) --------------------------
PHONE_CODES_UNAVAILABLE = error_code(
    "phone_codes_unavailable", "no SMS provider is configured: phones are not confirmed by a code"
)
PHONE_CODE_WRONG = error_code("phone_code_wrong", "the code is not the one texted", "tries_left")
PHONE_CODE_EXPIRED = error_code(
    "phone_code_expired", "the code is older than its minutes: ask for another", "minutes"
)
PHONE_CODE_USED = error_code("phone_code_used", "the code was used, or tried too often: ask for another")
PHONE_CONFIRMATION_REFUSED = error_code(
    "phone_confirmation_refused",
    "the phone confirmation is forged, expired, another household's, or not from a card's doorway",
)

# -- photos --------------------------------------------------------------------------------------------
PHOTO_REFUSED = error_code(
    "photo_refused",
    "not a photo that can be kept (problem: too_large, kind_not_accepted, too_many_pixels, unreadable)",
    "problem",
)
PHOTO_NOT_UPLOADED = error_code("photo_not_uploaded", "the photo was not uploaded for this: upload it first")
