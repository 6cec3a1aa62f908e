"""Monthly partitions of the high-volume tables and the manifests of archived months."""
