"""Translate litellm (and transport) exceptions into thinkgraph provider errors."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

from thinkgraph.exceptions import (
    AuthenticationError,
    BadRequestError,
    ContentFilteredError,
    ContextWindowExceededError,
    MalformedResponseError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)

__all__ = ["classify_error", "retry_after_of"]

# litellm exception class name -> thinkgraph class. Looked up along the MRO, most specific first,
# so subclasses (ContextWindowExceededError < BadRequestError) map before their bases.
_BY_LITELLM_CLASS: Mapping[str, type[ProviderError]] = {
    "ContextWindowExceededError": ContextWindowExceededError,
    "ContentPolicyViolationError": ContentFilteredError,
    "RateLimitError": RateLimitedError,
    "AuthenticationError": AuthenticationError,
    "PermissionDeniedError": AuthenticationError,
    "Timeout": ProviderTimeoutError,
    "APITimeoutError": ProviderTimeoutError,
    "ServiceUnavailableError": ProviderUnavailableError,
    "BadGatewayError": ProviderUnavailableError,
    "InternalServerError": ProviderUnavailableError,
    "APIConnectionError": ProviderUnavailableError,
    "APIResponseValidationError": MalformedResponseError,
    "JSONSchemaValidationError": MalformedResponseError,
    "NotFoundError": BadRequestError,
    "UnprocessableEntityError": BadRequestError,
    "UnsupportedParamsError": BadRequestError,
    "BadRequestError": BadRequestError,
}

# Words in an error message that betray a response we could not parse. litellm reports those as
# connection errors or, for some providers (Gemini), as 400s; a genuine 400 never says these.
_PARSE_HINTS = ("jsondecodeerror", "expecting value", "unterminated string", "converting to valid response")
_MALFORMED_HINTS = (*_PARSE_HINTS, "invalid json", "malformed")
_FILTER_HINTS = (
    "content_policy",
    "content policy",
    "content_filter",
    "content filter",
    "content management policy",
    "safety system",
    "safety filter",
    "blocked by safety",
)
_CONTEXT_HINTS = (
    "context length",
    "context window",
    "maximum context",
    "too many tokens",
    "prompt is too long",
)


def _status_class(status: int) -> type[ProviderError] | None:
    if status == 429:
        return RateLimitedError
    if status in (401, 403):
        return AuthenticationError
    if status == 408:
        return ProviderTimeoutError
    if status >= 500:
        return ProviderUnavailableError
    if 400 <= status < 500:
        return BadRequestError
    return None


def _parse_retry_after(value: str) -> float | None:
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    if parsed is None:
        return None
    return max(0.0, parsed.timestamp() - time.time())


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (``retry-after-ms`` or ``retry-after``), if it said."""
    for holder in (getattr(exc, "response", None), exc):
        headers: Any = getattr(holder, "headers", None)
        if headers is None and holder is exc:
            headers = getattr(exc, "litellm_response_headers", None)
        if not headers:
            continue
        try:
            ms = headers.get("retry-after-ms")
            if ms is not None:
                return max(0.0, float(ms) / 1000.0)
            seconds = headers.get("retry-after")
        except (AttributeError, TypeError, ValueError):
            continue
        if seconds is not None:
            try:
                parsed = _parse_retry_after(str(seconds))
            except (TypeError, ValueError):
                parsed = None
            if parsed is not None:
                return parsed
    return None


def _message_of(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc) or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."


def classify_error(exc: BaseException, model: str) -> ProviderError | None:
    """The thinkgraph :class:`ProviderError` for ``exc`` raised while calling ``model``.

    Returns ``None`` for exceptions that are not provider failures (bugs, cancellations), which the
    caller must let propagate.
    """
    if isinstance(exc, ProviderError):
        return exc
    original = getattr(exc, "original_exception", None)
    if isinstance(original, BaseException) and original is not exc:  # litellm.MidStreamFallbackError
        inner = classify_error(original, model)
        if inner is not None:
            return inner
    message = _message_of(exc)
    lowered = message.lower()
    status_raw = getattr(exc, "status_code", None)
    status = status_raw if isinstance(status_raw, int) else None
    retry_after = retry_after_of(exc)

    target: type[ProviderError] | None = None
    for klass in type(exc).__mro__:
        if klass.__module__.startswith(("litellm", "openai")) and klass.__name__ in _BY_LITELLM_CLASS:
            target = _BY_LITELLM_CLASS[klass.__name__]
            break
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        target = ProviderTimeoutError
    elif isinstance(exc, json.JSONDecodeError):
        target = MalformedResponseError
    elif target is None and type(exc).__module__.startswith(("aiohttp", "httpx", "httpcore")):
        target = ProviderTimeoutError if "timeout" in type(exc).__name__.lower() else ProviderUnavailableError
    if target is None and status is not None and type(exc).__module__.startswith(("litellm", "openai")):
        target = _status_class(status)
    if target is None and type(exc).__module__.startswith(("litellm", "openai")):
        target = ProviderUnavailableError  # litellm.APIError without a status: a transport failure
    if target is None:
        return None

    # Refinements from the message: litellm wraps parse failures and some 400s generically.
    hints = {ProviderUnavailableError: _MALFORMED_HINTS, BadRequestError: _PARSE_HINTS}.get(target, ())
    if any(h in lowered for h in hints):
        target = MalformedResponseError
    elif target is BadRequestError and any(h in lowered for h in _CONTEXT_HINTS):
        target = ContextWindowExceededError
    elif target is BadRequestError and any(h in lowered for h in _FILTER_HINTS):
        target = ContentFilteredError
    elif target is ProviderUnavailableError and status == 429:
        target = RateLimitedError
    return target(message, model=model, status_code=status, retry_after=retry_after)
