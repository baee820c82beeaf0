"""The runner's error and exit statuses, shared by its modules."""
EXIT_FAILED, EXIT_USAGE, EXIT_MISSING = 1, 2, 3


class RunError(Exception):
    def __init__(self, message: str, status: int = EXIT_FAILED):
        super().__init__(message)
        self.status = status
