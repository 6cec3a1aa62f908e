"""Machine credentials of MTN's and LightWay's reporting systems."""
