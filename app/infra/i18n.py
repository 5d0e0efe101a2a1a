"""What a person reads, in their language: Simplified Chinese unless the request's
`Accept-Language` prefers English. Codes and fields never change with the language.

The code raises its messages in English (`DomainError(code, "order not found")`); the
few places where an error becomes what a client reads
(`app/api/graphql/core/errors.py`, `app/api/graphql/core/extensions.py`, the JSON errors
of `app/api/http.py` and `app/services/notifications.py`) pass the text through
`translate`. The catalogue below is keyed by that English text,
so a raise site stays as it is. A message built with values is keyed by its template:
`"first must be between 1 and {max}"` matches "first must be between 1 and 100" and
its Chinese `"每页条数 first 须在 1 到 {max} 之间"` gets the same values back by name (a
value that is one of the product's words, an asset or a role, is put in Chinese too,
unless the Chinese writes the field `{name!s}`: shown as raised).
A message with no entry is shown as raised: tests/test_i18n_catalogue.py walks app/
and names every raised message the catalogue lacks.

The request's language lives in a context variable, set once per request from its
header (`app/api/graphql/core/context.py` for GraphQL; the other routes read their header).
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from functools import lru_cache
from string import Formatter

ZH = "zh"
EN = "en"

_language: ContextVar[str] = ContextVar("language", default=ZH)


def language_of(accept_language: str | None) -> str:
    """`en` when the header ranks English above Chinese, else `zh` (the default).

    Entries are taken in the header's order, the highest q first; a tie goes to the
    one listed first, as browsers list what they prefer first."""
    best: tuple[float, int, str] | None = None
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in (ZH, EN):
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or (-q, position) < (-best[0], best[1])):
            best = (q, position, primary)
    return best[2] if best is not None else ZH


def set_language(accept_language: str | None) -> str:
    """Take the request's language from its header; every request sets it."""
    language = language_of(accept_language)
    _language.set(language)
    return language


def current_language() -> str:
    return _language.get()


def translate(message: str, language: str | None = None) -> str:
    """The message in the request's (or the given) language."""
    if (language or _language.get()) == EN:
        return message
    found = lookup(message)
    return message if found is None else found


def lookup(message: str) -> str | None:
    """The Chinese of a message, or None when the catalogue has no entry for it."""
    exact = CATALOGUE.get(message)
    if exact is not None:
        return exact
    for pattern, chinese, verbatim in _templates():
        match = pattern.fullmatch(message)
        if match is not None:
            values = match.groupdict()
            return chinese.format(
                **{k: v if k in verbatim else _term(v) for k, v in values.items()}
            )
    return None


def summary(code: str, field: str | None = None, language: str | None = None) -> str | None:
    """The Chinese for an error GraphQL itself raised (its English detail is kept only
    for English); None when the language is English or the code has no summary."""
    if (language or _language.get()) == EN:
        return None
    if code == "INVALID" and field:
        return f"参数 {field} 的值无效"
    return SUMMARIES.get(code)


def template_fields(text: str) -> list[str]:
    return [name for _, name, _, _ in Formatter().parse(text) if name is not None]


@lru_cache(maxsize=1)
def _templates() -> list[tuple[re.Pattern[str], str, frozenset[str]]]:
    """The catalogue's templates as patterns, those with the most fixed text first (the
    most specific wins when two could match), each with its fields shown as raised."""
    out = []
    for english, chinese in CATALOGUE.items():
        parts = list(Formatter().parse(english))
        if all(name is None for _, name, _, _ in parts):
            continue
        regex = "".join(
            re.escape(literal) + (f"(?P<{name}>.+?)" if name is not None else "")
            for literal, name, _, _ in parts
        )
        fixed = sum(len(literal) for literal, _, _, _ in parts)
        verbatim = frozenset(
            name
            for _, name, _, conversion in Formatter().parse(chinese)
            if name is not None and conversion == "s"
        )
        out.append((fixed, re.compile(regex, re.DOTALL), chinese, verbatim))
    out.sort(key=lambda t: -t[0])
    return [(pattern, chinese, verbatim) for _, pattern, chinese, verbatim in out]


def _term(value: str) -> str:
    """A value put into a message: one of the product's words is translated, and so is
    a list of them ("consumer, admin")."""
    if value in TERMS:
        return TERMS[value]
    items = value.split(", ")
    if len(items) > 1 and all(item in TERMS for item in items):
        return "、".join(TERMS[item] for item in items)
    return value


# -------------------------------------------------------------- words put into messages

# A value that is one of these is put into the Chinese in Chinese. A template field
# written `{name!s}` in the Chinese is shown as raised (an identifier to type back in).
TERMS: dict[str, str] = {
    # the types of Global IDs
    "Order": "订单",
    "Merchant": "商户",
    "Agent": "代理",
    "PointLot": "积分批次",
    "User": "用户",
    # roles, and the pools named after their holders
    "consumer": "消费者",
    "merchant": "商户",
    "merchant_owner": "商户店主",
    "merchant_staff": "店员",
    "pos_device": "收银设备",
    "agent": "代理",
    "partner": "合作方",
    "admin": "管理员",
    # assets
    "CNY": "人民币",
    "POINTS": "绿色积分",
    "VOUCHER": "消费券",
    "SHOPPING_POINTS": "购物积分",
    "GOLD_COINS": "金币",
    "TRAFFIC_POINTS": "流量积分",
    # states of merchants, orders, payments
    "pending": "待处理",
    "approved": "已通过审核",
    "suspended": "已暂停",
    "closed": "已关闭",
    "unconfirmed": "待顾客确认",
    "created": "待支付",
    "paying": "支付中",
    "paid": "已支付",
    "partially_refunded": "已部分退款",
    "refunded": "已退款",
    "stray": "异常支付",
    "failed": "失败",
    # payment channels
    "wechatpay": "微信支付",
    "alipay": "支付宝",
    "allinpay": "通联支付",
    "joinpay": "汇聚支付",
    "sandbox": "沙箱支付",
    # fields named in messages
    "name": "名称",
    "category": "类别",
    "address": "地址",
    # who a field serves
    "signed-in users": "已登录用户",
    "POS devices": "收银设备",
    "partner apps": "合作方应用",
    "signed-in users, POS devices": "已登录用户、收银设备",
    # kinds of token
    "access": "访问",
    "refresh": "刷新",
}

# ------------------------------------------------- what GraphQL itself says, per code

SUMMARIES: dict[str, str] = {
    "GRAPHQL_PARSE_FAILED": "GraphQL 查询语句有语法错误",
    "GRAPHQL_VALIDATION_FAILED": "GraphQL 查询与接口定义不符",
    "INVALID": "输入的值无效",
}

# ------------------------------------------------------------------------ the catalogue

CATALOGUE: dict[str, str] = {
    # ---- common: IDs, pages, sign-in and permissions (app/api/graphql/)
    "not a valid ID": "ID 无效",
    "expected a {expected} ID, got a {got} ID": "需要{expected} ID，传入的是{got} ID",
    "malformed cursor": "分页游标格式有误",
    "first must be between 1 and {max}": "每页条数 first 须在 1 到 {max} 之间",
    "sign in first": "请先登录",
    "this field serves {served} only": "此字段仅供{served}使用",
    "this field serves signed-in users only": "此字段仅供已登录用户使用",
    "send the token as 'Authorization: Bearer <token>'": (
        "请以 'Authorization: Bearer <token>' 的形式发送令牌"
    ),
    "say why": "请说明原因",
    "you cannot freeze your own account": "不能冻结自己的账户",
    "requires role: {roles}": "权限不足，需要以下身份之一：{roles}",
    "not allowed": "无权执行此操作",
    "internal error (request id {request_id})": "服务器内部错误（请求编号 {request_id}）",
    # ---- sign-in and tokens (app/services/auth.py, tokens.py)
    "WeChat login is unavailable": "微信登录暂时不可用",
    "WeChat login is unavailable, try again shortly": "微信登录暂时不可用，请稍后再试",
    "WeChat answered garbage": "微信登录暂时不可用（微信返回的数据无法识别）",
    "WeChat rejected the login code": "微信登录凭证无效，请重新登录",
    "code is required": "缺少登录凭证 code",
    "this account is frozen": "该账号已被冻结",
    "SMS sign-in is not configured": "短信登录暂未开通",
    "phone must be an 11-digit mainland mobile number": "请输入 11 位中国大陆手机号",
    "a code was sent recently; wait before asking again": "验证码刚刚已发送，请稍后再试",
    "too many wrong codes; request a new one": "验证码错误次数过多，请重新获取",
    "the code has expired": "验证码已过期，请重新获取",
    "wrong code": "验证码错误",
    "token has expired": "登录已过期，请重新登录",
    "token is not valid": "登录凭证无效，请重新登录",
    "not an {kind} token": "不是{kind}令牌",
    "session was signed out": "该会话已退出登录，请重新登录",
    "refresh token was already used; every session of this login is revoked": (
        "刷新令牌已被使用过，为保障安全，本次登录的所有会话均已失效，请重新登录"
    ),
    # ---- merchants, stores, devices, invitations (app/domain/merchants.py)
    "merchant not found": "商户不存在",
    "user not found": "用户不存在",
    "recruiter not found": "招商人不存在",
    "not your store": "这不是您的门店",
    "not your merchant": "这不是您的商户",
    "not this store's device": "这不是本店的设备",
    "{field} is required": "请填写{field}",
    "{field} is longer than {max} characters": "{field}不能超过 {max} 个字符",
    "location must be numbers": "位置坐标必须是数字",
    "latitude/longitude out of range": "经纬度超出范围",
    "discount rate must be between {min}% and {max}% ({min_bps}-{max_bps} bps)": (
        "让利比例须在 {min}% 到 {max}% 之间（{min_bps}–{max_bps} 个基点）"
    ),
    "regionCode must be a 6-digit GB/T 2260 code": "地区代码须为 6 位 GB/T 2260 行政区划代码",
    "you cannot recruit your own store": "不能招商自己的门店",
    "a {status} merchant cannot become {to}": "「{status}」状态的商户不能变为「{to}」",
    "the owner is not staff": "店主本人不能添加为店员",
    "a device with this serial is registered": "该序列号的设备已登记",
    "unknown device or wrong secret": "设备未登记或密钥错误",
    "not a merchant QR code": "这不是商户二维码",
    "QR code signature is not valid": "二维码签名无效",
    "merchant is not open": "该商户暂未营业",
    "you cannot bind to your own store": "不能绑定自己的门店",
    "amount must be above zero": "金额必须大于零",
    # ---- invitations, referral trees, a store's customers (app/domain/referrals.py)
    "this is not an invite code": "这不是邀请码",
    "no one has this invite code": "邀请码不存在",
    "no free invite code was found; try again": "暂时无法生成邀请码，请重试",
    "you cannot invite yourself": "不能邀请自己",
    "inviter is already set": "已设置邀请人，不能更改",
    "that would make an invitation cycle": "不能互相邀请形成循环",
    "an invitation is accepted before your first paid order only": (
        "邀请须在您首笔订单支付之前接受"
    ),
    "depth is 1 or 2": "层级 depth 只能是 1 或 2",
    "idempotencyKey is required (1-64 chars)": "缺少幂等键 idempotencyKey（1–64 个字符）",
    "the store has fewer vouchers than that": "门店的消费券余额不足",
    # ---- the counter: bind QR expiry, member codes, counter orders (SPEC §13)
    "this QR code has expired; ask the store for a new one": "二维码已过期，请向门店索取新的二维码",
    "this QR code is no longer accepted; ask the store for a new one": (
        "该二维码已停用，请向门店索取新的二维码"
    ),
    "not a member code": "这不是会员码",
    "this member code has expired; refresh it in the app": "会员码已过期，请在应用中刷新",
    "this member code was scanned already; show a new one": "该会员码已被扫描，请出示新的会员码",
    "this store is not open for business": "该门店暂未营业",
    "this member cannot be served": "该会员账户无法办理",
    "this scan has expired; scan the member code again": "本次扫码已过期，请重新扫描会员码",
    "not an order opened at a counter": "该订单不是门店收银台开立的订单",
    "merchantId is required": "缺少门店 merchantId",
    "order is {status}; it was confirmed before": "订单状态为「{status}」，此前已确认",
    "this counter order has expired; ask the counter to open a new one": (
        "该收银台订单已过期，请让收银台重新开单"
    ),
    # ---- orders and refunds (app/domain/orders/)
    "order not found": "订单不存在",
    "merchant is not open for orders": "该商户暂不接单",
    "you cannot order at your own store": "不能在自己的门店下单",
    "amount above the maximum of {max} fen": "金额超过上限（{max} 分）",
    "voucherFen cannot be negative": "消费券抵扣金额不能为负数",
    "voucherFen exceeds the amount": "消费券抵扣金额不能超过订单金额",
    "vouchers may pay at most {share}% of an order": "消费券最多可抵扣订单金额的 {share}%",
    "not enough vouchers in the wallet": "钱包中的消费券余额不足",
    "this idempotency key was used for a different order": "该幂等键已用于另一笔订单",
    "order already paid by another transaction; refund the duplicate": (
        "订单已由另一笔交易支付，请退还重复支付的款项"
    ),
    "paid through another channel": "订单已通过其他支付渠道支付",
    "paid amount differs from the order": "支付金额与订单金额不符",
    "refundKey is required (1-64 chars)": "缺少退款幂等键 refundKey（1–64 个字符）",
    "refundKey may not start with {prefix}": "refundKey 不能以 {prefix!s} 开头",
    "refund must be above zero": "退款金额必须大于零",
    "this refund key was used for another refund": "该退款幂等键已用于另一笔退款",
    "the refund window of this order has closed": "该订单已过退款期",
    "at most {max} fen can still be refunded": "最多还可退款 {max} 分",
    "insufficient {asset} balance": "{asset}余额不足",
    # ---- dispute reversals (app/domain/disputes.py)
    "reversalKey is required (1-64 chars)": "缺少冲正幂等键 reversalKey（1–64 个字符）",
    "say why the order is reversed": "请填写冲正原因",
    "this reversal key was used for another order": "该冲正幂等键已用于另一笔订单",
    "order already reversed": "订单已冲正",
    "order is {status}": "订单状态为「{status}」，无法执行此操作",
    "the order is inside its refund window: refund it instead": "订单仍在退款期内，请直接退款",
    # ---- agents (app/domain/agents.py)
    "agent not found": "代理不存在",
    "month is YYYY-MM": "月份格式应为 YYYY-MM",
    # ---- pools and releases (app/domain/releases/)
    "no pool {name}": "积分池 {name} 不存在",
    "a release of the {pool} pool is already running": "{pool}积分池正在释放中，请稍后再试",
    "growthBps must be between 0 and 100000": "增长率 growthBps 须在 0 到 100000 之间",
    "lot not found": "积分批次不存在",
    # ---- policy files (app/domain/policy.py; the detail is pydantic's or the rule's)
    "{detail} (in {file})": "{detail}（策略文件 {file}）",
    "{field}: {detail} (in {file})": "{field}：{detail}（策略文件 {file}）",
    "no policy file {name}: use one of {presets} or a .toml path": (
        "找不到策略文件 {name}：请使用 {presets} 之一，或 .toml 文件路径"
    ),
    "{field}: no policy file {name}: use one of {presets} or a .toml path": (
        "{field}：找不到策略文件 {name}：请使用 {presets} 之一，或 .toml 文件路径"
    ),
    "not valid TOML: {error} (in {file})": "不是有效的 TOML：{error}（{file}）",
    "{field}: not valid TOML: {error} (in {file})": "{field}：不是有效的 TOML：{error}（{file}）",
    # ---- nearby, heat map, stats, traffic (app/adapters/discovery/)
    "coordinates must be numbers": "坐标必须是数字",
    "latitude or longitude out of range": "经纬度超出范围",
    "radiusM must be between 1 and {max}": "搜索半径 radiusM 须在 1 到 {max} 米之间",
    "resolution must be between {min} and {max}": "分辨率须在 {min} 到 {max} 之间",
    "empty bounding box": "地图范围为空",
    "since and until need a time zone": "since 和 until 须带时区",
    "since must be before until": "since 须早于 until",
    "more than {max} cells: use a coarser resolution or a smaller box": (
        "网格数超过 {max} 个，请降低分辨率或缩小范围"
    ),
    "`to` is before `from`": "结束日期不能早于开始日期",
    "at most {max} days at once": "一次最多查询 {max} 天",
    "say which merchant: you own none or several": "请指定商户：您名下没有商户或有多个商户",
    "only the merchant's owner can spend its traffic points": "只有商户店主可以使用流量积分",
    "only an approved merchant can be boosted": "只有审核通过的商户才能购买曝光",
    "hours must be between 1 and {max}": "曝光时长须在 1 到 {max} 小时之间",
    "{hours} hours cost {price} traffic points (centi)": (
        "{hours} 小时的曝光需要 {price} 流量积分（以 0.01 积分为单位）"
    ),
    "a boost may run at most {max} hours ahead": "曝光最多只能安排到 {max} 小时之后",
    "this idempotency key was used for another boost": "该幂等键已用于另一次曝光",
    # ---- payments (app/adapters/payments/)
    "no payment channel is available for this merchant right now, try again later": (
        "该商户暂无可用的支付渠道，请稍后再试"
    ),
    "unknown channel; one of {channels}": "未知的支付渠道，可选：{channels!s}",
    "unknown channel": "未知的支付渠道",
    "location must be finite numbers": "位置坐标必须是有限的数值",
    "{value} is outside the calendar": "{value} 超出了可表示的日期范围",
    "status is one of {names}": "状态须为以下之一：{names!s}",
    "a header is not printable ASCII or too long": "请求头含有不可打印字符或过长",
    "the notification could not be read": "无法解析该通知",
    "{channel} takes {field} as {rule}": "{channel}要求 {field} 为{rule}",
    "wechatpay has no valid platform certificate": "微信支付没有在有效期内的平台证书",
    "wechatpay profit sharing needs the service provider's full name": (
        "微信支付分账需要服务商的完整名称"
    ),
    "too many requests; try again in {seconds} s": "请求过于频繁，请 {seconds} 秒后再试",
    "say why the channel goes down": "请说明下线该支付渠道的原因",
    "at most {max} channels": "最多设置 {max} 个支付渠道",
    "channel {channel} listed twice": "支付渠道 {channel} 重复",
    "priority must be between 0 and 10000": "优先级须在 0 到 10000 之间",
    "providerMerchantId is at most 64 chars": "渠道商户号 providerMerchantId 最多 64 个字符",
    "payment channel {name} is not configured": "支付渠道 {name} 未配置",
    "payment channel {name} keys do not load": "支付渠道 {name} 的密钥无法加载",
    "client is miniprogram or app": "client 须为 miniprogram 或 app",
    "payment is already {status}": "该支付单已是「{status}」状态",
    "order already paid by another transaction": "订单已由另一笔交易支付",
    "paid amount differs from the payment": "支付金额与支付单金额不符",
    "paid without txn id or amount": "支付渠道返回已支付，但缺少交易号或金额",
    "the payment was applied to its order": "该笔支付已入账到订单",
    "a channel refund must be positive": "渠道退款金额必须大于零",
    "the order has no paid payment to refund": "该订单没有可退款的已支付记录",
    "refunds would exceed the amount paid": "退款总额将超过实付金额",
    "{channel} did not answer in time; the payment state is unknown": (
        "{channel}响应超时，支付状态未知"
    ),
    "{channel} is unreachable": "{channel}暂时无法连接",
    "{channel} answered something that is not JSON (HTTP {status})": (
        "{channel}返回的数据不是 JSON（HTTP {status}）"
    ),
    "{channel} answered an unexpected shape": "{channel}返回的数据格式不符",
    "{channel} refused the request: {code}": "{channel}拒绝了请求：{code}",
    "{channel} refused the request: {code} ({text})": "{channel}拒绝了请求：{code}（{text}）",
    "{channel} answer does not carry a valid signature": "{channel}的应答签名无效",
    "alipay answer has no body": "支付宝的应答内容为空",
    "alipay answer does not carry a valid signature": "支付宝的应答签名无效",
    "alipay mini-program pay needs the buyer id": "支付宝小程序支付需要买家 ID",
    "alipay sent no trade_no": "支付宝未返回交易号 trade_no",
    "wechatpay answer is not signed by a known platform key": (
        "微信支付的应答未使用已知的平台证书签名"
    ),
    "wechatpay certificate download not signed": "下载的微信支付平台证书未签名",
    "wechatpay sent no valid max_ratio": "微信支付未返回有效的最大分账比例",
    "wechatpay has no appid for this client": "微信支付未为该客户端配置 appid",
    "wechatpay JSAPI needs the payer's openid": "微信支付 JSAPI 支付需要付款人的 openid",
    "wechatpay sent no prepay_id": "微信支付未返回 prepay_id",
    # ---- the HTTP layer (app/api/http.py; Strawberry's own 400s are plain text for the
    # developer, the same on every path through the view, and stay as they are)
    "request body exceeds {limit} bytes": "请求体超过 {limit} 字节的上限",
    "the request body is not valid JSON": "请求体不是有效的 JSON",
    "the request body must be a JSON object": "请求体必须是一个 JSON 对象",
    # ---- documents sent by their hash (app/api/persisted.py)
    "only registered documents run here": "此处只执行已登记的查询文档",
    "sha256Hash is not the document's": "sha256Hash 与查询文档不符",
    "no document is known by this hash": "没有与该哈希对应的查询文档，请连同文档一起发送",
    "persistedQuery must have version 1 and a sha256Hash of 64 hex digits": (
        "persistedQuery 须为版本 1，且 sha256Hash 为 64 位十六进制数"
    ),
    # ---- the request's limits (app/api/graphql/core/cost.py, app/api/graphql/schema.py)
    "query cost {cost} exceeds the limit of {max}": "查询过于复杂（代价 {cost}），上限为 {max}",
    "query depth {depth} exceeds maximum operation depth of {max}": (
        "查询嵌套过深（{depth} 层），最多 {max} 层"
    ),
    # ---- what an input may hold (app/infra/inputs.py, app/api/graphql/core/boundary.py, ids.py)
    "{field} must not contain NUL characters": "{field!s} 不能包含 NUL 字符",
    "{field} must not contain unpaired surrogates": "{field!s} 不能包含不成对的代理字符",
    "{field} has a key that is not text": "{field!s} 含有非文本的键",
    "{field} contains a control character": "{field}不能包含控制字符或双向文本控制符",
    "{field} must be between {first} and {last}": "{field!s} 须在 {first} 到 {last} 之间",
    "`{end}` is before `{start}`": "结束日期不能早于开始日期",
    "{type} is not a type of this API": "{type!s} 不是本接口的类型",
    "Syntax Error: Document contains more than {max} tokens. Parsing aborted.": (
        "查询过长，最多 {max} 个词法单元"
    ),
    "GraphQL introspection has been disabled, but the requested query contained the field "
    "'{field}'.": "已关闭 GraphQL 内省查询，请求中不能包含字段 {field}",
    # -- the mall and reviews (SPEC §14)
    "this platform has no mall": "本平台未开设商城",
    "mall item not found": "商城商品不存在",
    "redemption not found": "兑换记录不存在",
    "this item is not on sale": "该商品未在售",
    "not enough of this item left": "该商品库存不足",
    "not enough gold coins": "金币不足",
    "not enough shopping points": "购物积分不足",
    "stockChange must be within ±{max}": "库存变动 stockChange 须在 ±{max} 之内",
    "the stock would leave 0..{max}: it changed meanwhile": (
        "库存将超出 0..{max}：库存已被同时修改"
    ),
    "this idempotency key was used for another redemption": "该幂等键已用于另一笔兑换",
    "this redemption was fulfilled already": "该兑换已发货完成",
    "this redemption was voided already": "该兑换已作废",
    "stars must be between 1 and 5": "评分 stars 须在 1 到 5 之间",
    "only a paid order can be reviewed": "只有已支付的订单可以评价",
    "an order can be reviewed once its refund window has passed": "订单过了退款期后才能评价",
    "this order has been reviewed already": "该订单已评价过",
    # ---- live events (app/api/graphql/live/)
    "this connection holds as many subscriptions as it may; complete one first": (
        "此连接的订阅数已达上限，请先结束一个订阅"
    ),
    "a store's events are for its POS devices, owner and staff": (
        "门店的实时动态仅供本店的收银设备、店主和店员接收"
    ),
    "events came faster than they were read; subscribe again and query the state": (
        "动态推送过快，客户端来不及接收；请重新订阅，并查询最新状态"
    ),
    "live events are unavailable; query the state instead": "实时动态暂不可用，请改为查询状态",
    # ---- regions, agents and the audit trail (app/domain/regions, agents.py, audit.py)
    "parent must be a 6-digit GB/T 2260 code": "上级地区代码须为 6 位 GB/T 2260 行政区划代码",
    "no region has this code": "没有此代码的行政区划",
    "a store's region is a district, not a province or city": (
        "门店所在地区须为区县级，不能是省或市"
    ),
    "level is province, city or district": (
        "代理级别须为 province（省）、city（市）或 district（区县）"
    ),
    "the region is not of the agent's level": "该地区与代理级别不符",
    "a frozen account cannot be appointed": "已冻结的账户不能被任命为代理",
    "this account is a {role}, not a consumer": "该账户的角色是{role}，不是消费者",
    "this region has an agent at this level": "该地区此级别已有在任代理",
    "action is a mutation's name": "action 须为一个变更操作的名称",
    # -- partner apps (issue 17): scopes, secrets, cost budgets
    "this field needs the scope {scope}": "此字段需要授权范围 {scope!s}",
    "unknown scope {scope}; the scopes are {scopes}": (
        "未知的授权范围 {scope!s}；可选范围为 {scopes!s}"
    ),
    "grant at least one scope": "请至少授予一个授权范围",
    "a region code is 6 digits (GB/T 2260)": "地区代码为 6 位数字（GB/T 2260）",
    "at most {max} regions": "最多 {max} 个地区",
    "at most {max} merchants": "最多 {max} 个商户",
    "partner app not found": "合作方应用不存在",
    "this partner app is revoked": "该合作方应用已被停用",
    "a partner app of this name exists": "已有同名的合作方应用",
    "throttled: this request costs {cost} and {available} is available; try again in {seconds} s": (
        "请求额度不足：本次请求需 {cost} 点，当前可用 {available} 点；请 {seconds} 秒后再试"
    ),
    # -- partner webhooks (issue 17)
    "partnerAppId is required": "请提供合作方应用 partnerAppId",
    "a receiver URL is 1 to {max} characters": "回调地址须为 1 到 {max} 个字符",
    "a receiver URL is https://host/path": "回调地址须为 https://主机/路径 的形式",
    "a receiver URL carries no user or password": "回调地址中不能包含用户名或密码",
    "a receiver URL has no fragment": "回调地址中不能包含片段（#）",
    "a receiver may not be at a private address": "回调地址不能指向内网或保留地址",
    "not a URL": "不是有效的网址",
    "subscribe to at least one event": "请至少订阅一种事件",
    "unknown event {kind}; the events are {events}": (
        "未知的事件 {kind!s}；可订阅的事件为 {events!s}"
    ),
    "{kind} needs the scope {scope}": "事件 {kind!s} 需要授权范围 {scope!s}",
    "a partner app has at most {max} webhook subscriptions": "每个合作方应用最多 {max} 个回调订阅",
    "this app has a subscription for this URL: update it": "该应用已订阅此回调地址，请修改原订阅",
    "webhook subscription not found": "回调订阅不存在",
    "webhook delivery not found": "回调投递记录不存在",
    # -- exports (issue 17)
    "exports serve signed-in users and partner apps only": "导出仅供已登录用户和合作方应用使用",
    "your role may not export {kind}": "你的角色不能导出 {kind!s}",
    "partner apps may not export {kind}": "合作方应用不能导出 {kind!s}",
    "this export needs the scope {scope}": "此导出需要权限范围 {scope!s}",
    "not a region of your agencies": "该地区不在你的代理区域内",
    "not a region you may see": "该地区不在你可查看的范围内",
    "account not found": "账户不存在",
    "give times with their offset": "时间须带时区偏移",
    "`to` must be after `from`": "结束时间 to 须晚于开始时间 from",
    "{name} does not apply to {kind} exports": "{name!s} 不适用于 {kind!s} 导出",
    "not an account name": "账户名无效",
    "idempotencyKey is 1 to 64 printable characters": (
        "幂等键 idempotencyKey 须为 1 到 64 个可打印字符"
    ),
    "this idempotency key was used for another export": "该幂等键已用于另一项导出",
    "export not found": "导出不存在",
    "this export is not finished yet": "该导出尚未完成",
    "this link is not valid": "该链接无效",
    "this link has expired": "该链接已过期",
}
