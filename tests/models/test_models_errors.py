"""Classification of every litellm exception thinkgraph maps, built directly (no HTTP)."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from types import ModuleType
from typing import ClassVar

import httpx

from thinkgraph import exceptions as tg
from thinkgraph.models._errors import classify_error, retry_after_of

M, P = "openai/gpt-4o-mini", "openai"


def _response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("POST", "http://127.0.0.1/v1"))


def _cases(ll: ModuleType) -> list[tuple[str, Callable[[], BaseException], type[tg.ProviderError]]]:
    e = ll.exceptions
    return [
        ("RateLimitError", lambda: e.RateLimitError("slow down", P, M), tg.RateLimitedError),
        (
            "ContextWindowExceededError",
            lambda: e.ContextWindowExceededError("too long", M, P),
            tg.ContextWindowExceededError,
        ),
        (
            "ContentPolicyViolationError",
            lambda: e.ContentPolicyViolationError("refused", M, P),
            tg.ContentFilteredError,
        ),
        ("AuthenticationError", lambda: e.AuthenticationError("bad key", P, M), tg.AuthenticationError),
        (
            "PermissionDeniedError",
            lambda: e.PermissionDeniedError("forbidden", P, M, _response(403)),
            tg.AuthenticationError,
        ),
        ("Timeout", lambda: e.Timeout("took too long", M, P), tg.ProviderTimeoutError),
        (
            "ServiceUnavailableError",
            lambda: e.ServiceUnavailableError("overloaded", P, M),
            tg.ProviderUnavailableError,
        ),
        ("BadGatewayError", lambda: e.BadGatewayError("bad gateway", P, M), tg.ProviderUnavailableError),
        ("InternalServerError", lambda: e.InternalServerError("boom", P, M), tg.ProviderUnavailableError),
        ("APIConnectionError", lambda: e.APIConnectionError("refused", P, M), tg.ProviderUnavailableError),
        (
            "APIConnectionError(json)",
            lambda: e.APIConnectionError("Expecting value: line 1 column 30 (char 29)", P, M),
            tg.MalformedResponseError,
        ),
        (
            "APIResponseValidationError",
            lambda: e.APIResponseValidationError("bad shape", P, M),
            tg.MalformedResponseError,
        ),
        (
            "JSONSchemaValidationError",
            lambda: e.JSONSchemaValidationError(M, P, "{}", "{}"),
            tg.MalformedResponseError,
        ),
        ("BadRequestError", lambda: e.BadRequestError("invalid", M, P), tg.BadRequestError),
        (
            "BadRequestError(context)",
            lambda: e.BadRequestError("prompt is too long: 300000 tokens", M, P),
            tg.ContextWindowExceededError,
        ),
        (
            "BadRequestError(filter)",
            lambda: e.BadRequestError("rejected by the safety system", M, P),
            tg.ContentFilteredError,
        ),
        (
            "BadRequestError(unparseable answer)",
            lambda: e.BadRequestError("Error converting to valid response block=Expecting value", M, P),
            tg.MalformedResponseError,
        ),
        (
            "BadRequestError(invalid json sent)",
            lambda: e.BadRequestError("invalid JSON in the request body", M, P),
            tg.BadRequestError,
        ),
        ("NotFoundError", lambda: e.NotFoundError("no such model", M, P), tg.BadRequestError),
        (
            "UnprocessableEntityError",
            lambda: e.UnprocessableEntityError("bad", M, P, _response(422)),
            tg.BadRequestError,
        ),
        ("UnsupportedParamsError", lambda: e.UnsupportedParamsError("nope", P, M), tg.BadRequestError),
        ("APIError(429)", lambda: e.APIError(429, "throttled", P, M), tg.RateLimitedError),
        ("APIError(401)", lambda: e.APIError(401, "who", P, M), tg.AuthenticationError),
        ("APIError(403)", lambda: e.APIError(403, "who", P, M), tg.AuthenticationError),
        ("APIError(408)", lambda: e.APIError(408, "slow", P, M), tg.ProviderTimeoutError),
        ("APIError(500)", lambda: e.APIError(500, "boom", P, M), tg.ProviderUnavailableError),
        ("APIError(418)", lambda: e.APIError(418, "teapot", P, M), tg.BadRequestError),
        (
            "MidStreamFallbackError(429)",
            lambda: e.MidStreamFallbackError("mid", M, P, original_exception=e.RateLimitError("x", P, M)),
            tg.RateLimitedError,
        ),
        (
            "MidStreamFallbackError",
            lambda: e.MidStreamFallbackError("mid", M, P),
            tg.ProviderUnavailableError,
        ),
    ]


def test_every_mapped_litellm_exception(litellm: ModuleType) -> None:
    for name, build, expected in _cases(litellm):
        error = classify_error(build(), M)
        assert type(error) is expected, name
        assert error is not None and error.model == M
        assert M in str(error)


def test_class_flags_match_the_policy(litellm: ModuleType) -> None:
    flags = {
        tg.RateLimitedError: (True, True),
        tg.ProviderUnavailableError: (True, True),
        tg.ProviderTimeoutError: (True, True),
        tg.MalformedResponseError: (True, True),
        tg.AuthenticationError: (False, True),
        tg.ContentFilteredError: (False, True),
        tg.BadRequestError: (False, False),
    }
    for klass, (retryable, falls_over) in flags.items():
        assert (klass.retryable, klass.falls_over) == (retryable, falls_over)


def test_non_litellm_exceptions() -> None:
    assert type(classify_error(TimeoutError(), M)) is tg.ProviderTimeoutError
    assert type(classify_error(TimeoutError(), M)) is tg.ProviderTimeoutError
    assert type(classify_error(json.JSONDecodeError("bad", "{", 0), M)) is tg.MalformedResponseError
    assert type(classify_error(httpx.ConnectError("refused"), M)) is tg.ProviderUnavailableError
    assert type(classify_error(httpx.ReadTimeout("slow"), M)) is tg.ProviderTimeoutError
    # bugs are not provider failures: they must propagate
    assert classify_error(KeyError("x"), M) is None
    assert classify_error(ValueError("x"), M) is None
    # an error that is already ours passes through unchanged
    mine = tg.RateLimitedError("x", model=M)
    assert classify_error(mine, M) is mine


def test_long_messages_are_trimmed(litellm: ModuleType) -> None:
    error = classify_error(litellm.exceptions.InternalServerError("x" * 5000, P, M), M)
    assert error is not None and len(str(error)) < 600


def test_retry_after_seconds_ms_and_date(litellm: ModuleType) -> None:
    e = litellm.exceptions
    rate = e.RateLimitError("slow", P, M, response=_response(429, {"retry-after": "7"}))
    assert retry_after_of(rate) == 7.0
    assert classify_error(rate, M).retry_after == 7.0  # type: ignore[union-attr]
    ms = e.RateLimitError("slow", P, M, response=_response(429, {"retry-after-ms": "1500"}))
    assert retry_after_of(ms) == 1.5
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    dated = e.RateLimitError("slow", P, M, response=_response(429, {"retry-after": when}))
    assert 15.0 < (retry_after_of(dated) or 0) <= 21.0
    assert retry_after_of(e.RateLimitError("slow", P, M)) is None
    junk = e.RateLimitError("slow", P, M, response=_response(429, {"retry-after": "soon"}))
    assert retry_after_of(junk) is None


def test_retry_after_from_litellm_headers_attribute() -> None:
    class WithHeaders(Exception):
        litellm_response_headers: ClassVar[dict[str, str]] = {"retry-after": "3"}

    assert retry_after_of(WithHeaders()) == 3.0
