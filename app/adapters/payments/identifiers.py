"""The platform's identifiers as each channel accepts them, in one place.

Every number the platform sends to a channel (trade, refund, split, split return, bind
request) is checked against that channel's documented alphabet and length before the
request leaves (`check`): a number the channel would refuse is a typed `INVALID` error
before any money moves, never a refusal after the ledger has moved. Numbers made from
something a client chose (a refund key) are derived (`derive`): the key itself when it
already fits, else a digest of it in the safe alphabet, so the same key always gives the
same channel number (idempotent at the channel) and any key gives one the channel takes.

Sources: WeChat Pay v3 partner APIs (out_trade_no string[6,32] of digits, letters and
`_-*`; out_refund_no, profit-sharing out_order_no and out_return_no string[1,64] of
digits, letters and `_-|*@`); Alipay open API (out_trade_no 64 chars of letters, digits
and `_`; alipay.trade.order.settle and royalty.relation.bind out_request_no 32 chars of
letters, digits and `_`; refund out_request_no 64 chars, alphabet unstated: the safe
one); the aggregators' merchant order numbers (Allinpay `reqsn` 32, Joinpay order and
refund numbers 30), in the safe alphabet.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from app.adapters.payments.base import ChannelError, PaymentErrorCode


@dataclass(frozen=True)
class IdRule:
    chars: str  # a regular-expression character class body
    min_len: int
    max_len: int

    def allows(self, value: str) -> bool:
        return (
            self.min_len <= len(value) <= self.max_len
            and re.fullmatch(f"[{self.chars}]*", value) is not None
        )

    def describe(self) -> str:
        return f"{self.min_len}-{self.max_len} characters of [{self.chars.replace(chr(92), '')}]"


SAFE = "0-9A-Za-z_"  # in every channel's alphabet: what derived numbers are made of
_SAFE_DASH = r"0-9A-Za-z_\-"
_WECHAT_NO = r"0-9A-Za-z_\-|*@"

RULES: dict[str, dict[str, IdRule]] = {
    "wechatpay": {
        "out_trade_no": IdRule(r"0-9A-Za-z_\-*", 6, 32),
        "out_refund_no": IdRule(_WECHAT_NO, 1, 64),
        "out_order_no": IdRule(_WECHAT_NO, 1, 64),
        "out_return_no": IdRule(_WECHAT_NO, 1, 64),
    },
    "alipay": {
        "out_trade_no": IdRule(SAFE, 1, 64),
        "out_request_no": IdRule(_SAFE_DASH, 1, 64),  # refunds
        "settle_request_no": IdRule(SAFE, 1, 32),  # order.settle, royalty.relation.bind
    },
    "allinpay": {
        "out_trade_no": IdRule(_SAFE_DASH, 1, 32),
        "out_refund_no": IdRule(_SAFE_DASH, 1, 32),
    },
    "joinpay": {
        "out_trade_no": IdRule(_SAFE_DASH, 1, 30),
        "out_refund_no": IdRule(_SAFE_DASH, 1, 30),
    },
}
# A channel without rules of its own (the sandbox) takes what every channel takes.
DEFAULT_RULE = IdRule(_SAFE_DASH, 1, 30)
_PLAIN = re.compile(f"[{_SAFE_DASH}]+")


def rule(channel: str, field: str) -> IdRule:
    return RULES.get(channel, {}).get(field, DEFAULT_RULE)


def check(channel: str, field: str, value: str) -> str:
    """`value` if `channel` takes it as `field`; else a typed INVALID error (not
    transient: the same number is refused every time)."""
    r = rule(channel, field)
    if not r.allows(value):
        raise ChannelError(
            PaymentErrorCode.INVALID,
            f"{channel} takes {field} as {r.describe()}",
            field=field,
        )
    return value


def derive(channel: str, field: str, key: str, prefix: str = "") -> str:
    """The channel number for `key`: `prefix + key` when that fits the rule in the safe
    alphabet and the key does not start with `H`; else `prefix + "H" + hex digest of the
    key`, cut to the rule's length. The `H` keeps the two forms apart: no plain number
    is ever some other key's digest form."""
    r = rule(channel, field)
    plain = prefix + key
    if key and not key.startswith("H") and r.allows(plain) and _PLAIN.fullmatch(plain):
        return plain
    digest = hashlib.sha256(key.encode()).hexdigest()
    return (prefix + "H" + digest)[: r.max_len]


def refund_field(channel: str) -> str:
    """What the channel calls the platform's refund number."""
    return "out_request_no" if channel == "alipay" else "out_refund_no"


def refund_no(channel: str, refund_key: str) -> str:
    """The channel's refund number for a client's refund key."""
    return derive(channel, refund_field(channel), refund_key)
