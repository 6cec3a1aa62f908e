"""Sumsub KYC: request signing, webhook digests, the port, an httpx client and a simulator.

See ``docs/kyc.md``. The client and the simulator speak the same wire protocol (the
reference note ``shared/reference/sumsub-api.md``); contract tests run one against the other.
"""
