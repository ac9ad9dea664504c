"""The MCP server (`forge mcp`): the verbs as tools for agent frameworks, on the official `mcp`
SDK (server.py), with tool parameters read from the CLI's options (schema.py), every path confined
to the served root (paths.py), results that are the verbs' --json documents (results.py), and the
verbs that load the ML stack run in a child process (subprocess_verb.py). torch-free.
"""
