"""What the CLI prints when a command fails, and the exit status it leaves.

    CLIError(message, status=1)       printed on stderr as is (nothing when empty), exit `status`
    ├── APIError                      the daemon answered >= 400: "Error response from daemon: <message>"
    ├── Unreachable                   no daemon at the address (connect failed)
    └── UsageError                    bad flags or arguments; docker prints the usage line with it

docker's exit statuses: 1 for a failed command, 125 for a flag error and for `run`/`create`
failing before the container ran, 126/127 when the container's command cannot be executed, and
the container's own status otherwise.
"""

from __future__ import annotations


class CLIError(Exception):
    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class APIError(CLIError):
    """An error answer from the daemon; `http_status` is its status code, `detail` its message."""

    def __init__(self, http_status: int, detail: str) -> None:
        super().__init__(f"Error response from daemon: {detail}", 1)
        self.http_status = http_status
        self.detail = detail


class Unreachable(CLIError):
    pass


class UsageError(CLIError):
    def __init__(self, message: str, status: int = 125) -> None:
        super().__init__(message, status)
