"""The registry protocol: the /v2/ API of the OCI Distribution Specification v1.1.1."""
