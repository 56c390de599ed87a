"""arq tasks: thin wrappers that open a session and call the same services the API uses."""
