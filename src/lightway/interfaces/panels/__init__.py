"""Server-rendered web panels: the customer app under /app/, LightWay staff under /staff/,
MTN staff under /mtn/ (see docs/panels.md)."""
