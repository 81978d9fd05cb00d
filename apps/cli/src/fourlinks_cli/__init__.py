"""The `fourlinks` command: an application over the three services and the libraries."""
