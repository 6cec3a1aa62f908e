"""The one payment skeleton every kind of money movement goes through.

``skeleton.payment_start`` records a payment once per (client, Idempotency-Key): the key is
looked up first (a retry costs one indexed read and replays the stored answer; the same key
with another request is a 409), a refusal is recorded as a failed transfer so that a retry
gets the same answer, and a payment that goes ahead makes its ledger movement (an entry
posted now, a hold on the paying account, or the wallet locked for an inbound reservation),
records its transfer row (which updates the usage counters and pending inbound amounts in
the database), passes the limits policy (``limits``), writes its commission records and its
audit record, and lets the caller add its own rows (a MoMo request and its job) in the same
database transaction.

A new payment kind builds a :class:`skeleton.PaymentPlan` (what to move, whose limits,
which fee) and calls ``payment_start``; it does not copy the steps. P2P transfers
(``transactions/transfers.py``) and every MoMo flow (``momo/flows.py``) do so; the outcome
of a MoMo payment is applied by ``momo/apply.py`` with the fee legs and commission records
of this package.
"""
