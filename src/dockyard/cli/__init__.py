"""The `dockyard` command: a Docker Engine API client with docker's verbs, flags and output.

Standard library only, and little of it: see main.py for the start-up rules and client.py for
the HTTP client. The entry point is `dockyard.cli.main:main`.
"""
