"""``thinkgraph run`` and ``thinkgraph resume``: run a graph with a live view, answer pauses, account."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from thinkgraph.cli._common import DB_HELP, database_url, display_url, err_console, out_console, show_database
from thinkgraph.cli._errors import EXIT_OK, EXIT_PAUSED, fail, report_errors
from thinkgraph.exceptions import BudgetExceeded

if TYPE_CHECKING:
    from thinkgraph.cli._graphapi import Session
    from thinkgraph.cli._live import RunView
    from thinkgraph.cli._target import Target
    from thinkgraph.models import ModelSpec
    from thinkgraph.testing import FakeProvider

__all__ = ["resume_command", "run_command"]

_TARGET_HELP = "A .py file, module:attribute, or a YAML graph file."
_MODEL_HELP = "Override a node's model: NODE=provider/model, or NODE=primary,fallback (repeatable; * = all)."


@dataclass
class RunOptions:
    """Everything a run or resume needs besides the graph."""

    url: str
    db_given: bool
    overrides: dict[str, list[Any]]
    budget: float | None
    offline: bool
    script: str | None
    no_input: bool
    as_json: bool
    thread: str | None = None
    consumed: dict[str, int] = field(default_factory=dict)


@dataclass
class Outcome:
    """How one stream of events ended."""

    status: str = "running"
    thread_id: str | None = None
    run_id: str | None = None
    output: Any = None
    summary: Any = None
    interrupts: tuple[tuple[str, Any], ...] = ()


def _credentials_check(chains: Mapping[str, Sequence[ModelSpec] | None]) -> None:
    import os

    from thinkgraph.exceptions import MissingCredentialsError
    from thinkgraph.models import required_credentials

    missing: list[str] = []
    nodes: list[str] = []
    for node, chain in chains.items():
        for spec in chain or ():
            for name in required_credentials(spec):
                if not os.environ.get(name):
                    if name not in missing:
                        missing.append(name)
                    if node not in nodes:
                        nodes.append(node)
    if missing:
        raise MissingCredentialsError(
            missing,
            hint=f"run it offline against the fake provider with --offline (nodes: {', '.join(nodes)})",
        )


def _prepare_models(
    target: Target, options: RunOptions, fake: FakeProvider | None
) -> tuple[dict[str, Any], str | None, dict[str, str]]:
    """Run-time model overrides (offline: every node redirected to ``fake``); a banner; deployments."""
    from thinkgraph.cli._graphapi import node_chains
    from thinkgraph.cli._offline import default_chain, plan_offline
    from thinkgraph.cli._target import offline_script_of

    chains = node_chains(target.graph, options.overrides)
    if fake is None:
        _credentials_check(chains)
        forced = {
            node: chain
            for node, chain in chains.items()
            if chain and (node in options.overrides or "*" in options.overrides)
        }
        return forced, None, {}
    script = offline_script_of(target, options.script)
    known = {
        node: default_chain() if chain is None else chain for node, chain in chains.items() if chain != []
    }
    plan = plan_offline(known, script, fake, options.consumed)
    deployments = {r.deployment: f"{r.node}[{r.index}] {r.model}" for r in plan.redirects}
    banner = f"every model answered by the fake provider at {fake.url} (no real provider is called)"
    if not script:
        banner += "; this graph ships no offline script, so models answer with default replies"
    return dict(plan.chains), banner, deployments


async def _consume(stream: AsyncIterator[Any], view: RunView) -> Outcome:
    outcome = Outcome()
    async for event in stream:
        view.handle(event)
        outcome.thread_id = getattr(event, "thread_id", outcome.thread_id)
        outcome.run_id = getattr(event, "run_id", outcome.run_id)
        if event.kind == "run_finished":
            outcome.status, outcome.output, outcome.summary = "finished", event.output, event.summary
        elif event.kind == "run_interrupted":
            outcome.status, outcome.interrupts = "interrupted", tuple(event.interrupts)
            outcome.output = getattr(event, "output", None)
    return outcome


def _resume_hint(thread_id: str, options: RunOptions) -> str:
    db = f" --db {display_url(options.url)!r}" if options.db_given else ""
    return f"thinkgraph resume {thread_id}{db}"


def _final_output(outcome: Outcome) -> str:
    """The answer to show: the last AI message's text, or the output state as JSON."""
    from thinkgraph.cli._approve import jsonable

    output = outcome.output
    if isinstance(output, Mapping):
        for key in ("answer", "final", "result", "response"):
            if isinstance(output.get(key), str) and output[key].strip():
                return str(output[key])
        messages = output.get("messages")
        if isinstance(messages, list):
            for message in reversed(messages):
                if (
                    getattr(message, "type", None) == "ai"
                    and isinstance(message.content, str)
                    and message.content
                ):
                    return str(message.content)
    return json.dumps(jsonable(output), ensure_ascii=False, indent=2, sort_keys=True)


async def _execute(
    target: Target,
    options: RunOptions,
    start: Callable[[Session], Awaitable[AsyncIterator[Any]]],
    stdin_used: bool = False,
) -> int:
    from thinkgraph._litellm import load_litellm
    from thinkgraph.cli._approve import ask_decisions, describe_interrupt, jsonable
    from thinkgraph.cli._graphapi import open_session, resume_stream, save_thread_record
    from thinkgraph.cli._live import RunView

    litellm: Any = load_litellm()
    litellm.suppress_debug_info = True  # the CLI reports errors itself, in one line
    async with AsyncExitStack() as stack:
        fake: FakeProvider | None = None
        if options.offline:
            from thinkgraph.testing import FakeProvider

            fake = FakeProvider()
            await stack.enter_async_context(fake)
        models, banner, deployments = _prepare_models(target, options, fake)
        session = await open_session(target.graph, options.url, models)
        stack.push_async_callback(session.aclose)
        console = err_console() if options.as_json else out_console()
        view = RunView(console, live=console.is_terminal, quiet=options.as_json, offline=banner)
        try:
            with view:
                outcome = await _consume(await start(session), view)
                while outcome.status == "interrupted":
                    view.stop()
                    thread_id = outcome.thread_id or options.thread or ""
                    answers: dict[str, Any] | None = None
                    if not options.no_input and not stdin_used:
                        answers = ask_decisions(outcome.interrupts)
                    if answers is None:
                        consumed = _consumed(fake, options.consumed, deployments)
                        await save_thread_record(
                            session,
                            thread_id,
                            {
                                "target": _target_ref(target),
                                "offline": options.offline,
                                "script": options.script,
                                "consumed": consumed,
                                "overrides": options.overrides,
                            },
                        )
                        hint = _resume_hint(thread_id, options)
                        if options.as_json:
                            payload = {
                                "status": "paused",
                                "thread_id": thread_id,
                                "run_id": outcome.run_id,
                                "offline": options.offline,
                                "database": display_url(options.url),
                                "interrupts": [
                                    {"id": i, "value": jsonable(v), "question": describe_interrupt(v)}
                                    for i, v in outcome.interrupts
                                ],
                                "resume": hint,
                                "output": jsonable(outcome.output),
                                "summary": view.summary(),
                            }
                            typer.echo(json.dumps(payload, indent=2, sort_keys=True))
                        else:
                            console.print(view.table())
                        typer.echo(f"paused: the run waits for a decision; resume it with: {hint}", err=True)
                        return EXIT_PAUSED
                    view.start()
                    outcome = await _consume(resume_stream(session, thread_id, answers, options.budget), view)
        except BudgetExceeded as exc:
            # The state is saved: remember how the thread ran, so `thinkgraph resume` continues it.
            await save_thread_record(
                session,
                exc.thread_id or options.thread or "",
                {
                    "target": _target_ref(target),
                    "offline": options.offline,
                    "script": options.script,
                    "consumed": _consumed(fake, options.consumed, deployments),
                    "overrides": options.overrides,
                },
            )
            raise
        await save_thread_record(
            session,
            outcome.thread_id or options.thread or "",
            {
                "target": _target_ref(target),
                "offline": options.offline,
                "script": options.script,
                "consumed": {},
            },
        )
        if options.as_json:
            payload = {
                "status": outcome.status,
                "thread_id": outcome.thread_id,
                "run_id": outcome.run_id,
                "offline": options.offline,
                "database": display_url(options.url),
                "answer": _final_output(outcome),
                "output": jsonable(outcome.output),
                "summary": view.summary(),
                "ledger": jsonable(outcome.summary),
            }
            typer.echo(json.dumps(payload, indent=2, sort_keys=True))
        else:
            console.print(view.table())
            console.print(_final_output(outcome), markup=False, highlight=False)
            typer.echo(f"thread: {outcome.thread_id}  run: {outcome.run_id}", err=True)
        return EXIT_OK


def _consumed(
    fake: FakeProvider | None, before: Mapping[str, int], deployments: Mapping[str, str]
) -> dict[str, int]:
    """Script items each deployment has consumed so far (so a later resume can skip them)."""
    counts = dict(before)
    if fake is None:
        return counts
    for request in fake.requests:
        if request.deployment in deployments and request.outcome != "default":
            counts[request.deployment] = counts.get(request.deployment, 0) + 1
    return counts


def _target_ref(target: Target) -> str:
    if target.path is not None:
        location = str(target.path.resolve())
        _, sep, attribute = target.spec.rpartition(":")
        return (
            f"{location}:{attribute}"
            if sep and attribute and not target.spec.endswith((".py", ".yaml", ".yml"))
            else location
        )
    return target.spec


def _budget(value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise fail(f"--budget must be a positive amount in USD, got {value!r}")
    return value


@report_errors
def run_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help=_TARGET_HELP)],
    input_text: Annotated[
        str | None, typer.Argument(metavar="[INPUT]", help="The input: text, or JSON.")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", "-f", help="Read the input from a file ('-': stdin).")
    ] = None,
    thread: Annotated[
        str | None, typer.Option("--thread", "-t", help="Continue this thread (default: a new one).")
    ] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help=_MODEL_HELP)] = None,
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    budget: Annotated[
        float | None, typer.Option("--budget", help="Stop the run when it has cost this many USD.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document instead of the live view.")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Answer every model with the local fake provider.")
    ] = False,
    offline_script: Annotated[
        str | None,
        typer.Option(
            "--offline-script", help="module:attribute or file.py:attribute of the offline script to use."
        ),
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Never prompt: a pause exits with status 3.")
    ] = False,
) -> None:
    """Run a graph: live view of nodes, tokens, tools, providers and cost; a summary at the end."""
    from thinkgraph.cli._common import parse_model_overrides
    from thinkgraph.cli._graphapi import run_stream
    from thinkgraph.cli._input import read_input
    from thinkgraph.cli._target import load_target

    url = database_url(db)
    show_database(url)
    options = RunOptions(
        url=url,
        db_given=db is not None,
        overrides=parse_model_overrides(model),
        budget=_budget(budget),
        offline=offline,
        script=offline_script,
        no_input=no_input,
        as_json=as_json,
        thread=thread,
    )
    data, stdin_used = read_input(input_text, input_file)
    loaded = load_target(target)

    async def start(session: Session) -> AsyncIterator[Any]:
        return run_stream(session, data, thread, options.budget)

    code = asyncio.run(_execute(loaded, options, start, stdin_used=stdin_used))
    if code:
        raise typer.Exit(code)


@report_errors
def resume_command(
    ctx: typer.Context,
    thread: Annotated[str, typer.Argument(help="The thread to resume.")],
    target: Annotated[
        str | None, typer.Option("--target", help=_TARGET_HELP + " (default: the one it ran with).")
    ] = None,
    approve: Annotated[
        bool, typer.Option("--approve", help="Approve the pending tool call(s) without asking.")
    ] = False,
    reject: Annotated[
        str | None, typer.Option("--reject", help="Reject the pending tool call(s) with this reason.")
    ] = None,
    answer: Annotated[
        str | None, typer.Option("--answer", help="Answer the pending question (text or JSON).")
    ] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help=_MODEL_HELP)] = None,
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    budget: Annotated[
        float | None, typer.Option("--budget", help="Stop the run when it has cost this many USD.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document instead of the live view.")
    ] = False,
    offline: Annotated[
        bool | None,
        typer.Option("--offline/--online", help="Force offline or live models (default: as the thread ran)."),
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Never prompt: a pause exits with status 3.")
    ] = False,
) -> None:
    """Resume a paused or stopped thread, answering its pending decision at the terminal or by flags."""
    from thinkgraph.cli._common import parse_model_overrides
    from thinkgraph.cli._graphapi import (
        load_thread_record_sync,
        pending_interrupts,
        resume_stream,
        thread_exists,
    )
    from thinkgraph.cli._input import parse_input
    from thinkgraph.cli._target import load_target

    url = database_url(db)
    show_database(url)
    if sum((approve, reject is not None, answer is not None)) > 1:
        raise fail("give at most one of --approve, --reject and --answer")
    if not thread_exists(url, thread):
        raise fail(
            f"thread {thread!r} does not exist in {display_url(url)}; list threads with 'thinkgraph threads'"
        )
    record = load_thread_record_sync(url, thread)
    spec = target or (record or {}).get("target")
    if not spec:
        raise fail(
            f"thread {thread!r} has no record of the graph it ran; pass it with --target FILE_OR_MODULE "
            "(or check the thread id with 'thinkgraph threads')"
        )
    options = RunOptions(
        url=url,
        db_given=db is not None,
        overrides=parse_model_overrides(model) or dict((record or {}).get("overrides") or {}),
        budget=_budget(budget),
        offline=bool((record or {}).get("offline")) if offline is None else offline,
        script=(record or {}).get("script"),
        no_input=no_input,
        as_json=as_json,
        thread=thread,
        consumed=dict((record or {}).get("consumed") or {}) if offline is not False else {},
    )
    loaded = load_target(str(spec))
    given: Any = None
    if approve:
        given = {"action": "approve"}
    elif reject is not None:
        given = {"action": "reject", "reason": reject or None}
    elif answer is not None:
        given = parse_input(answer)

    async def start(session: Session) -> AsyncIterator[Any]:
        from thinkgraph.cli._approve import ask_decisions

        pending = await pending_interrupts(session, thread)
        answers: dict[str, Any] | None
        if not pending:
            answers = None
        elif given is not None:
            answers = {interrupt_id: given for interrupt_id, _ in pending}
        elif no_input or not sys.stdin or not _can_prompt():
            answers = None
        else:
            answers = ask_decisions(pending)
        if pending and answers is None:
            raise fail(
                f"thread {thread!r} waits for a decision: answer at a terminal, or pass --approve, "
                "--reject REASON or --answer VALUE",
                code=EXIT_PAUSED,
            )
        return resume_stream(session, thread, answers, options.budget)

    code = asyncio.run(_execute(loaded, options, start))
    if code:
        raise typer.Exit(code)


def _can_prompt() -> bool:
    """Whether an answer can be read from stdin (a terminal, or a pipe that still has data)."""
    try:
        return sys.stdin.isatty() or not sys.stdin.closed
    except (AttributeError, ValueError):
        return False
