"""The rules of ModelGates, free of any web framework: routes and the CLI call these."""
