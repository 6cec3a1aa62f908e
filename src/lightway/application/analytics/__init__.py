"""Analytics: the rollup job (``rollup``), percentiles from histogram buckets
(``percentiles``) and the figures the dashboards show (``figures``)."""
