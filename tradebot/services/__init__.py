"""Services: the use cases the CLI and the API call (one function per command)."""
