"""The Four Links console: pages for secretaries and auditors over the three services' HTTP APIs.

It owns no data and writes no events: every page calls the services with the signed-in person's
token, so every rule, scope and audit trail stays where it is."""
