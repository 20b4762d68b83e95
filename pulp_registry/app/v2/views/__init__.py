"""Views of the /v2/ API, one module per resource."""
