"""The token service of the Docker token-authentication protocol (``/token/``) and the
verification of the JWTs it issues."""
