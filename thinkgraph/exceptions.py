"""Every error thinkgraph raises, in one place.

The tree (three families kept apart: developer mistakes, run failures, control-flow signals)::

    ThinkgraphError
    ├── ConfigError                      a mistake in how the library is used or configured
    │   ├── MissingDependencyError       an optional extra (driver, package) is not installed
    │   ├── MissingCredentialsError      a model's API key variable is not set
    │   └── NetworkForbiddenError        a test tried to reach a non-loopback address
    ├── RunError                         a run failed at run time
    │   ├── ProviderError                one model call failed (carries model, status, retry_after)
    │   │   ├── RateLimitedError             HTTP 429                          retryable
    │   │   ├── ProviderUnavailableError     HTTP 5xx, dropped connection      retryable
    │   │   ├── ProviderTimeoutError         no answer within the timeout      retryable
    │   │   ├── MalformedResponseError       the provider answered garbage     retryable
    │   │   ├── AuthenticationError          HTTP 401/403                      falls over
    │   │   ├── ContentFilteredError         refused by a safety filter        falls over
    │   │   └── BadRequestError              HTTP 400: the request is wrong    fails fast
    │   │       └── ContextWindowExceededError   too long for this model       falls over to larger
    │   ├── AllProvidersFailed           every model of a fallback chain failed (carries attempts)
    │   ├── BudgetExceeded               a run hit its cost, call or time limit
    │   ├── ResidencyViolation           a call would leave the allowed set of providers
    │   ├── ToolError                    a tool call failed
    │   │   ├── ToolTimeoutError
    │   │   ├── ToolInputError           arguments failed validation
    │   │   ├── ToolApprovalDenied       a human rejected the call
    │   │   └── ToolAccessDenied         a built-in tool refused hostile input
    │   └── PersistenceError             the database could not do what was asked
    │       ├── DatabaseUnavailableError     cannot connect
    │       └── SchemaVersionError           the schema does not match the code
    │           ├── SchemaTooOldError            run ``thinkgraph db upgrade``
    │           └── SchemaTooNewError            upgrade thinkgraph
    └── Signal                           control flow, not failure
        └── RunCancelled                 a run was cancelled on request

Every message names the offending value and says what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AllProvidersFailed",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceeded",
    "ConfigError",
    "ContentFilteredError",
    "ContextWindowExceededError",
    "DatabaseUnavailableError",
    "MalformedResponseError",
    "MissingCredentialsError",
    "MissingDependencyError",
    "NetworkForbiddenError",
    "PersistenceError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "ResidencyViolation",
    "RunCancelled",
    "RunError",
    "SchemaTooNewError",
    "SchemaTooOldError",
    "SchemaVersionError",
    "Signal",
    "ThinkgraphError",
    "ToolAccessDenied",
    "ToolApprovalDenied",
    "ToolError",
    "ToolInputError",
    "ToolTimeoutError",
]


class ThinkgraphError(Exception):
    """Root of every error thinkgraph raises."""


# --- developer mistakes -------------------------------------------------------------------


class ConfigError(ThinkgraphError, ValueError):
    """The library was used or configured wrongly; the message says how to fix it."""


class MissingDependencyError(ConfigError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, what: str, extra: str) -> None:
        self.extra = extra
        super().__init__(f"{what} needs the {extra!r} extra: pip install 'thinkgraph[{extra}]'")


class MissingCredentialsError(ConfigError):
    """One or more API key variables a graph needs are not set."""

    def __init__(self, variables: Sequence[str], hint: str = "") -> None:
        self.variables = tuple(variables)
        names = ", ".join(self.variables)
        super().__init__(f"missing credentials: set {names}{(' or ' + hint) if hint else ''}")


class NetworkForbiddenError(ConfigError, ConnectionRefusedError):
    """Code under test tried to reach an address that is not loopback."""


# --- run failures -------------------------------------------------------------------------


class RunError(ThinkgraphError):
    """A run failed while it was running."""


class ProviderError(RunError):
    """One call to one model failed.

    Attributes:
        model: the litellm model string that was called.
        status_code: the HTTP status, when there was one.
        retry_after: seconds the provider asked us to wait, when it said.
    """

    retryable: bool = False
    falls_over: bool = True

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.model = model
        self.status_code = status_code
        self.retry_after = retry_after
        prefix = f"{model!r}: " if model else ""
        super().__init__(prefix + message)


class RateLimitedError(ProviderError):
    """The provider rate-limited the call (HTTP 429). Retried, then falls over."""

    retryable = True


class ProviderUnavailableError(ProviderError):
    """The provider failed or could not be reached (5xx, connection). Retried, then falls over."""

    retryable = True


class ProviderTimeoutError(ProviderError):
    """The provider did not answer within the timeout. Retried, then falls over."""

    retryable = True


class MalformedResponseError(ProviderError):
    """The provider answered with something that is not a valid response. Retried."""

    retryable = True


class AuthenticationError(ProviderError):
    """The provider rejected the credentials. Not retried; falls over to the next model."""


class ContentFilteredError(ProviderError):
    """The provider refused the content. Not retried; falls over to the next model."""


class BadRequestError(ProviderError):
    """The request itself is wrong (HTTP 400). Not retried and no fallback: fix the request."""

    falls_over = False


class ContextWindowExceededError(BadRequestError):
    """The conversation is too long for the model. Falls over only to a model with a larger window."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one model during a call.

    Attributes:
        model: the litellm model string tried.
        provider: the provider family (``openai``, ``anthropic``, ...).
        error_class: the name of the error class, or ``None`` when the attempt succeeded.
        message: the error message (empty on success or when skipped).
        latency_s: seconds the attempt took.
        skipped: ``True`` when the circuit breaker skipped the model without calling it.
    """

    model: str
    provider: str
    error_class: str | None
    message: str
    latency_s: float
    skipped: bool = False


class AllProvidersFailed(RunError):
    """Every model of a fallback chain failed; ``attempts`` lists each try in order."""

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        self.attempts = tuple(attempts)
        lines = [
            f"  {a.model} [{a.provider}]: {a.error_class or 'ok'} after {a.latency_s * 1000:.0f} ms"
            + (" (skipped: circuit open)" if a.skipped else "")
            + (f": {a.message}" if a.message else "")
            for a in self.attempts
        ]
        super().__init__(
            f"all {len({a.model for a in self.attempts})} model(s) of the chain failed "
            f"after {len(self.attempts)} attempt(s); add a fallback or check the providers:\n"
            + "\n".join(lines)
        )


class BudgetExceeded(RunError):
    """A run reached one of its limits; its state is saved and it can resume with a higher one.

    Attributes:
        limit: which limit (``"cost_usd"``, ``"model_calls"``, ``"wall_time_s"``).
        maximum: the configured maximum.
        used: how much had been used when the run stopped.
    """

    def __init__(self, limit: str, maximum: float, used: float, *, thread_id: str | None = None) -> None:
        self.limit = limit
        self.maximum = maximum
        self.used = used
        self.thread_id = thread_id
        where = f" on thread {thread_id!r}" if thread_id else ""
        super().__init__(
            f"budget {limit!r} exceeded{where}: used {used:g} of {maximum:g}; "
            "the state is saved, resume the thread with a higher budget"
        )


class ResidencyViolation(RunError):
    """A call would have gone to a provider outside the allowed set."""


class ToolError(RunError):
    """A tool call failed."""


class ToolTimeoutError(ToolError):
    """A tool did not finish within its timeout."""


class ToolInputError(ToolError):
    """A tool's arguments failed validation."""


class ToolApprovalDenied(ToolError):
    """A human rejected a tool call that required approval."""


class ToolAccessDenied(ToolError):
    """A built-in tool refused input that would escape its limits (path, host, SQL)."""


class PersistenceError(RunError):
    """The database could not do what was asked."""


class DatabaseUnavailableError(PersistenceError):
    """The database cannot be reached; check the URL and that the server is running."""


class SchemaVersionError(PersistenceError):
    """The database schema does not match this version of thinkgraph."""


class SchemaTooOldError(SchemaVersionError):
    """The database schema is older than the code: run ``thinkgraph db upgrade``."""


class SchemaTooNewError(SchemaVersionError):
    """The database schema is newer than the code: upgrade thinkgraph."""


# --- control-flow signals -----------------------------------------------------------------


class Signal(ThinkgraphError):
    """Control flow rather than failure."""


class RunCancelled(Signal):
    """A run was cancelled on request; its last checkpoint is kept."""
