"""MTN MoMo Open API: the port (``port``), an httpx client (``client``) and a local
simulator (``simulator``) that speak the same wire protocol. See ``docs/momo.md``."""
