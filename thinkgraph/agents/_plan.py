"""The plan as data: steps with ids and dependencies, validated as a DAG, plus the replanner's reply."""

from __future__ import annotations

from typing import Literal, TypedDict

from pydantic import BaseModel, Field, model_validator

__all__ = ["Plan", "PlanStep", "ReplanDecision", "StepReport", "StepResult"]


class PlanStep(BaseModel):
    """One step of a plan."""

    id: str = Field(description="a short unique id, e.g. 's1'")
    description: str = Field(description="what to do in this step, self-contained")
    depends_on: list[str] = Field(default_factory=list, description="ids of steps whose results it needs")
    expected_output: str = Field(default="", description="what the step should produce")


class Plan(BaseModel):
    """A plan: a goal, why this plan, and steps forming a dependency graph (no cycles)."""

    goal: str = Field(description="the user's goal in one sentence")
    rationale: str = Field(description="your reasoning: why these steps, in this order")
    steps: list[PlanStep] = Field(min_length=1, description="the steps; independent ones run in parallel")

    @model_validator(mode="after")
    def _check_graph(self) -> Plan:
        ids = [s.id for s in self.steps]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"step ids must be unique; repeated: {duplicates!r}")
        known = set(ids)
        for step in self.steps:
            unknown = [d for d in step.depends_on if d not in known]
            if unknown:
                raise ValueError(f"step {step.id!r} depends on unknown step(s) {unknown!r}")
            if step.id in step.depends_on:
                raise ValueError(f"step {step.id!r} depends on itself")
        self.topological_order()
        return self

    def topological_order(self) -> list[str]:
        """Step ids in an order where every step comes after its dependencies.

        Raises:
            ValueError: the dependencies form a cycle.
        """
        deps = {s.id: set(s.depends_on) for s in self.steps}
        order: list[str] = []
        while deps:
            ready = sorted(i for i, d in deps.items() if not d)
            if not ready:
                raise ValueError(f"the steps' dependencies form a cycle among {sorted(deps)!r}")
            order.extend(ready)
            for i in ready:
                del deps[i]
            for d in deps.values():
                d.difference_update(ready)
        return order

    def step(self, step_id: str) -> PlanStep:
        """The step with this id (``KeyError`` if none)."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


class StepReport(BaseModel):
    """How a step's executor reports back at the end of its work."""

    thought: str = Field(description="your reasoning about the result")
    status: Literal["done", "failed"] = Field(description="'failed' if the step could not be completed")
    output: str = Field(description="the step's result, or why it failed")


class ReplanDecision(BaseModel):
    """The replanner's reply after reading the results so far."""

    thought: str = Field(description="your reasoning about the results and what to do next")
    action: Literal["finish", "continue", "revise"] = Field(
        description="'finish' with a final answer, 'continue' with the remaining steps, or 'revise' them"
    )
    final_answer: str | None = Field(default=None, description="the answer to the goal when finishing")
    steps: list[PlanStep] = Field(
        default_factory=list,
        description="when revising: the new remaining steps (they replace every step not yet done)",
    )


class StepResult(TypedDict):
    """The result of executing one step (kept in state by step id)."""

    step_id: str
    status: Literal["done", "failed"]
    output: str
    error: str | None
    started_at: float
    finished_at: float
    plan_version: int
