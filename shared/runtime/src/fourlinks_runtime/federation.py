"""Many districts, one province, on NATS's own machinery (issue #39): the nats-server config of a
district's link and of a province, and the two streams' configs. Only figures go up.

A district keeps its servers, accounts and streams; beside them an account UPLINK holds one stream,
FOURLINKS_UPLINK (the latest figures per subject), and a leafnode remote binds that account, and
only that one, to the province's leafnode listener. The province's stream FOURLINKS_PROVINCE has no
subjects of its own: it sources each district's FOURLINKS_UPLINK through the district's JetStream
domain, and the district code in its subjects comes from the province's config, never from what a
district sends. Passwords and the link's URL reach the server through its environment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fourlinks_kernel.provisioning import REVOKED_BUCKET

UPLINK_ACCOUNT = "UPLINK"
UPLINK_USER = "uplink"
UPLINK_STREAM = "FOURLINKS_UPLINK"
UPLINK_SUBJECTS = "uplink.>"
UPLINK_PASSWORD_ENV = "FOURLINKS_NATS_UPLINK_PASSWORD"  # noqa: S105 - the variable's name
UPLINK_LEAF_URL_ENV = "FOURLINKS_UPLINK_LEAF_URL"
"""The district server's link: nats-leaf://d<code>:<password>@<province host>:<leaf port>."""
PROVINCE_ACCOUNT = "PROVINCE"
PROVINCE_USER = "province"
PROVINCE_STREAM = "FOURLINKS_PROVINCE"
PROVINCE_DOMAIN = "province"
PROVINCE_PASSWORD_ENV = "FOURLINKS_NATS_PROVINCE_PASSWORD"  # noqa: S105 - the variable's name
LEAF_PORT = 7422
DUPLICATE_WINDOW_NS = 2 * 60 * 1_000_000_000
_CODE = re.compile(r"[1-9]\d{5}")


class FederationConfigError(ValueError):
    """A district code or a province's district list that cannot make a sound config."""


def district_code(code: str) -> str:
    """The district's GB/T 2260 code, checked: six digits (Yuhang is 330110)."""
    if not _CODE.fullmatch(code):
        raise FederationConfigError(f"a district code is six digits (GB/T 2260), not {code!r}")
    return code


def district_domain(code: str) -> str:
    """The district servers' JetStream domain: `d330110`."""
    return f"d{district_code(code)}"


def leaf_user(code: str) -> str:
    """The user a district's link signs in as at the province: `d330110`."""
    return district_domain(code)


def leaf_password_env(code: str) -> str:
    """The province server's variable holding that district's link password."""
    return f"FOURLINKS_LEAF_D{district_code(code)}_PASSWORD"


def district_api(code: str) -> str:
    """The district's JetStream API as the province reaches it through the link."""
    return f"$JS.{district_domain(code)}.API"


def deliver_prefix(code: str) -> str:
    """Where the district's sourcing consumer delivers: a prefix only that district may publish to,
    so no district can pass its figures off as another's."""
    return f"federation.{district_domain(code)}"


def _quoted(items: Sequence[str], indent: str) -> str:
    return "[\n" + "".join(f'{indent}  "{item}"\n' for item in items) + f"{indent}]"


# -- the district ------------------------------------------------------------------------------

UPLINK_USE = [
    "uplink.>",
    "$JS.API.INFO",
    f"$JS.API.STREAM.INFO.{UPLINK_STREAM}",
    f"$JS.API.DIRECT.GET.{UPLINK_STREAM}",
    f"$JS.API.DIRECT.GET.{UPLINK_STREAM}.>",
    # the init step creates the one stream of the account (an identical create is a no-op)
    f"$JS.API.STREAM.CREATE.{UPLINK_STREAM}",
]
UPLINK_DENY = [
    "$JS.API.STREAM.UPDATE.>",
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
    "$JS.API.CONSUMER.>",
]


def uplink_account() -> str:
    """The UPLINK entry of a district's `accounts { }`: one stream, one user that publishes figures."""
    pad = "            "
    return (
        f"  {UPLINK_ACCOUNT} {{\n"
        "    # figures only: the link to the province binds this account and no other\n"
        "    jetstream: { max_streams: 1 }\n"
        f"    users: [\n      {{\n        user: {UPLINK_USER}\n        password: ${UPLINK_PASSWORD_ENV}\n"
        f"        permissions: {{\n          publish: {{\n            allow: {_quoted(UPLINK_USE, pad)}\n"
        f"            deny: {_quoted(UPLINK_DENY, pad)}\n          }}\n"
        '          subscribe: { allow: ["_INBOX.>"] }\n        }\n      }\n    ]\n  }\n'
    )


def province_may_not(code: str) -> list[str]:
    """What the province may never send into a district's UPLINK account: it only creates its
    sourcing consumer on FOURLINKS_UPLINK and answers that consumer's flow control."""
    api = district_api(code)
    other_consumer_calls = (
        *("DELETE", "DURABLE", "INFO", "LIST", "NAMES", "MSG", "PAUSE", "UNPIN", "LEADER", "RESET"),
    )
    return [
        UPLINK_SUBJECTS,
        "$JS.API.>",
        f"{api}.INFO",
        f"{api}.STREAM.>",
        f"{api}.DIRECT.>",
        f"{api}.ACCOUNT.>",
        f"{api}.META.>",
        f"{api}.SERVER.>",
        f"{api}.$KV.>",
        f"{api}.$OBJ.>",
        *(f"{api}.CONSUMER.{call}.>" for call in other_consumer_calls),
        "$JS.ACK.>",
        "$KV.>",
        "$O.>",
        "_INBOX.>",
    ]


def district_link(code: str) -> str:
    """The district server's leafnode remote: account UPLINK only, the province's calls fenced.

    The URL (with the district's user and password) comes from FOURLINKS_UPLINK_LEAF_URL in the
    server's environment. A remote takes deny lists only: what the province may do is the one
    consumer create left open, and UPLINK holds nothing but figures either way.
    """
    return (
        "leafnodes {\n  remotes: [\n    {\n"
        f"      url: ${UPLINK_LEAF_URL_ENV}\n      account: {UPLINK_ACCOUNT}\n"
        f"      deny_imports: {_quoted(province_may_not(code), '      ')}\n    }}\n  ]\n}}\n"
    )


def uplink_stream_config() -> dict[str, Any]:
    """FOURLINKS_UPLINK: the latest figures per subject (figures are restated, never appended)."""
    return {
        "name": UPLINK_STREAM,
        "subjects": [UPLINK_SUBJECTS],
        "storage": "file",
        "retention": "limits",
        "max_msgs_per_subject": 1,
        "discard": "old",
        "allow_direct": True,
        "duplicate_window": DUPLICATE_WINDOW_NS,
        "num_replicas": 1,
    }


# -- the province ------------------------------------------------------------------------------

PROVINCE_READ = [
    "$JS.API.INFO",
    f"$JS.API.STREAM.INFO.{PROVINCE_STREAM}",
    f"$JS.API.DIRECT.GET.{PROVINCE_STREAM}",
    f"$JS.API.DIRECT.GET.{PROVINCE_STREAM}.>",
    f"$JS.API.STREAM.MSG.GET.{PROVINCE_STREAM}",
    f"$JS.API.CONSUMER.CREATE.{PROVINCE_STREAM}",
    f"$JS.API.CONSUMER.CREATE.{PROVINCE_STREAM}.>",
    f"$JS.FC.{PROVINCE_STREAM}.>",
    # the tokens signed out at the province: read and followed, as a district's services do
    f"$JS.API.STREAM.INFO.KV_{REVOKED_BUCKET}",
    f"$JS.API.CONSUMER.CREATE.KV_{REVOKED_BUCKET}",
    f"$JS.API.CONSUMER.CREATE.KV_{REVOKED_BUCKET}.>",
    f"$JS.API.CONSUMER.INFO.KV_{REVOKED_BUCKET}.>",
    f"$JS.FC.KV_{REVOKED_BUCKET}.>",
    f"$JS.API.DIRECT.GET.KV_{REVOKED_BUCKET}.>",
    f"$JS.API.STREAM.MSG.GET.KV_{REVOKED_BUCKET}",
]
PROVINCE_DENY = [
    "$JS.API.STREAM.CREATE.>",
    "$JS.API.STREAM.UPDATE.>",
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
    "$JS.API.CONSUMER.DELETE.>",
]


def district_leaf_permissions(code: str) -> tuple[list[str], list[str]]:
    """(what a district's link may send into the province, what the province may send down it):
    its sourcing consumer's deliveries and API replies up; the consumer create and its flow
    control down. No JetStream API of the province, no other district's deliveries."""
    up = [f"{deliver_prefix(code)}.>", "$JSC.R.>"]
    down = [
        f"{district_api(code)}.CONSUMER.CREATE.{UPLINK_STREAM}.>",
        f"$JS.FC.{UPLINK_STREAM}.>",
        f"$JS.FC.{district_domain(code)}.>",
    ]
    return up, down


def _district_user(code: str) -> str:
    up, down = district_leaf_permissions(code)
    pad = "          "
    return (
        f"      {{\n        user: {leaf_user(code)}\n        password: ${leaf_password_env(code)}\n"
        f"        permissions: {{\n          publish: {{ allow: {_quoted(up, pad)} }}\n"
        f"          subscribe: {{ allow: {_quoted(down, pad)} }}\n        }}\n      }}"
    )


def _province_user() -> str:
    pad = "            "
    return (
        f"      {{\n        user: {PROVINCE_USER}\n        password: ${PROVINCE_PASSWORD_ENV}\n"
        f"        permissions: {{\n          publish: {{\n            allow: {_quoted(PROVINCE_READ, pad)}\n"
        f"            deny: {_quoted(PROVINCE_DENY, pad)}\n          }}\n"
        '          subscribe: { allow: ["_INBOX.>"] }\n        }\n      }'
    )


def province_accounts(codes: Sequence[str]) -> str:
    """The province server's accounts: PROVINCE (admin for the init step, the province service's
    reader, one link user per district) and SYS."""
    if len(set(codes)) != len(codes):
        raise FederationConfigError("a district is listed twice in the province's config")
    users = ",\n".join(
        [
            "      { user: admin, password: $FOURLINKS_NATS_ADMIN_PASSWORD }",
            _province_user(),
            *(_district_user(code) for code in codes),
        ]
    )
    return (
        "# The province (generated by fourlinks_runtime.federation; do not edit): a user per district\n"
        "# link, which may only deliver its own district's figures; the province service reads them.\n"
        f"accounts {{\n  {PROVINCE_ACCOUNT} {{\n    jetstream: enabled\n    users: [\n{users}\n    ]\n  }}\n"
        "  SYS {\n    users: [ { user: system, password: $FOURLINKS_NATS_SYSTEM_PASSWORD } ]\n  }\n}\n"
        "system_account: SYS\n"
    )


def province_listener(host: str = "0.0.0.0", port: int = LEAF_PORT) -> str:
    """The province server's leafnode listener, where each district's link connects."""
    return f"leafnodes {{\n  listen: {host}:{port}\n}}\n"


def district_source(code: str) -> dict[str, Any]:
    """One district in FOURLINKS_PROVINCE: its uplink through its domain, under `<code>.uplink.>`."""
    return {
        "name": UPLINK_STREAM,
        "external": {"api": district_api(code), "deliver": deliver_prefix(code)},
        "subject_transforms": [{"src": UPLINK_SUBJECTS, "dest": f"{district_code(code)}.uplink.>"}],
    }


def province_stream_config(codes: Sequence[str]) -> dict[str, Any]:
    """FOURLINKS_PROVINCE: no subjects of its own (nobody publishes into it), one source per district."""
    return {
        "name": PROVINCE_STREAM,
        "storage": "file",
        "retention": "limits",
        "max_msgs_per_subject": 1,
        "discard": "old",
        "allow_direct": True,
        "duplicate_window": DUPLICATE_WINDOW_NS,
        "num_replicas": 1,
        "sources": [district_source(code) for code in codes],
    }
