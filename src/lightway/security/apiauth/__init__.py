"""API authentication records: mobile devices and refresh tokens, partner API keys and the
nonces of signed partner requests (Django app label ``apiauth``)."""
