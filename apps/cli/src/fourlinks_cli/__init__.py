"""The `fourlinks` command: an application over the four services and the libraries."""
