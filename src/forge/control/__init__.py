"""Run control for people and agents (torch-free): start a train in the background and return
(detach), wait for a run to end (waiting), stop the verb that holds the project lock (stopping),
and list every run of the project (history). The CLI verbs (`forge train --detach`, `forge status
--wait`, `forge stop`, `forge runs`) and the MCP server's tools (forge.agent) call these.
"""
