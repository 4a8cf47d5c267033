"""Landing zone: manifests, contracts, validation and the immutable raw store."""
