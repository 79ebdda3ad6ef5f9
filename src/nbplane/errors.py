"""Domain errors. No HTTP here: `nbplane.api.errors` maps each class to a status and OCI code.

NbplaneError
 ├── InvalidInputError            the request is malformed or a value is out of range
 │    ├── MissingParameterError   a required value is absent
 │    ├── CannotParseError        the body is not parseable (not JSON)
 │    └── UnsatisfiableError      a valid request that cannot be met (get_content "bad type"/"bad format")
 ├── NotAuthenticatedError        who is calling could not be established
 ├── NotFoundError                missing, or not visible to the caller (the two are indistinguishable)
 ├── ConflictError                a non-transient conflict (retry token reused for another request)
 │    └── InvalidatedRetryTokenError  the retry token's resource is gone
 ├── AlreadyExistsError           create of something that already exists
 ├── PreconditionFailedError      if-match did not match the current etag
 ├── PayloadTooLargeError         body or upload over a configured limit
 ├── QuotaExceededError           a configured limit on what may run at once (kernels) is reached
 ├── RateLimitedError             the caller is over its request budget (transient)
 └── BackendError                 a dependency failed (kernel start, storage); transient from the client's view
"""

from __future__ import annotations


class NbplaneError(Exception):
    """Base class; `message` is safe to show to the caller."""

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidInputError(NbplaneError):
    """The request is malformed or a value is invalid."""


class MissingParameterError(InvalidInputError):
    """A required value is absent."""


class CannotParseError(InvalidInputError):
    """The request body cannot be parsed."""


class UnsatisfiableError(InvalidInputError):
    """A well-formed request that cannot be satisfied; `reason` says why ("bad type", "bad format")."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


class NotAuthenticatedError(NbplaneError):
    """Missing or invalid credentials."""


class NotFoundError(NbplaneError):
    """The resource does not exist or the caller may not see it."""


class ConflictError(NbplaneError):
    """A conflict that retrying will not resolve."""


class InvalidatedRetryTokenError(ConflictError):
    """The retry token was used before and the resource it created has since gone."""


class AlreadyExistsError(NbplaneError):
    """Create of a resource that already exists."""


class PreconditionFailedError(NbplaneError):
    """An if-match precondition failed."""


class PayloadTooLargeError(NbplaneError):
    """A body or upload exceeds a configured limit."""


class QuotaExceededError(NbplaneError):
    """A configured quota is reached; `limit` names it (its setting). Not transient: the SDK must not retry."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message, limit=limit)
        self.limit = limit


class RateLimitedError(NbplaneError):
    """Too many requests; `retry_after` is in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class BackendError(NbplaneError):
    """A dependency (kernel runtime, storage) failed; not the caller's fault."""
