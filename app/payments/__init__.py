"""Payment channels (SPEC §9): one adapter per channel behind one Protocol
(`base.PaymentChannel`), webhooks, routing with failover, refunds, reconciliation.

- `routing.choose_channel(merchant_id, requested)` / `routing.start_payment(order)`:
  what `createOrder` calls (before / after the order row exists).
- `refunds.request_channel_refund(order, refund)`: the channel side of a refund, after
  `refund_order` committed.
- `webhooks.handle_notification` behind `POST /pay/notify/{channel}` (`routes.py`).
- `app.jobs.reconcile.reconcile_payments`: stuck payments, splits and refunds.
- Adapters: `wechatpay` (API v3, service-provider mode), `alipay` (RSA2),
  `aggregators` (Allinpay-style, Joinpay-style), `sandbox` (+ `sandbox_provider`, the
  local provider for dev and tests). `registry` builds them from settings.
"""
