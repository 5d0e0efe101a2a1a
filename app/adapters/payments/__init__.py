"""Payment channels (SPEC §9): one adapter per channel behind one Protocol
(`base.PaymentChannel`), with their HTTP, crypto, identifiers and health.

- Adapters: `wechatpay` (API v3, service-provider mode), `alipay` (RSA2),
  `aggregators` (Allinpay-style, Joinpay-style); the sandbox (`app.dev.sandbox` +
  `app.dev.sandbox_provider`, the local provider for dev and tests). `registry` builds
  them from settings.
- The use cases around them live in `app/services/`: `routing` (choose a channel,
  start a payment), `payments` (apply a verified payment, the split), `notifications`
  (behind `POST /pay/notify/{channel}`, `app/api/notify.py`), `refunds`, `reconcile`.
"""
