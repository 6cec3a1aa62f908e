"""Partner remittances: quotes, beneficiary validations, remittances, per-partner limits
(docs/partner-api.md). Modules:

- ``quotes``: price a payout (rate, fee, expiry), read and expire quotes;
- ``beneficiaries``: check a MoMo number and a name (token-aware name comparison);
- ``remittances``: create (idempotent), confirm (prefund hold + MoMo payout), cancel,
  read, list, expire;
- ``limits``: per-partner limits, set by staff, enforced at confirm;
- ``states``: the one way a remittance changes state (version, partner event);
- ``outcome``: what the MoMo layer calls when a payout is sent, succeeds or fails.

``outcome`` and ``states`` import only the layers below and ``application.fx`` /
``application.payments``: the MoMo outcome (``momo/apply.py``) imports them, and
``remittances`` imports the MoMo flows.
"""
