"""Thread ids are compared byte for byte on every dialect: no case folding, no space padding."""

from __future__ import annotations

from langgraph.checkpoint.base import empty_checkpoint

from thinkgraph.memory import SQLCheckpointer

LOOKALIKES = ["t", "t ", "T", "t\u00e9", "te\u0301"]


def test_lookalike_thread_ids_stay_apart(db_url: str) -> None:
    with SQLCheckpointer(db_url) as saver:
        for thread in LOOKALIKES:
            checkpoint = empty_checkpoint()
            config = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
            saver.put(config, checkpoint, {"source": "input", "step": -1, "thread": thread}, {})
        for thread in LOOKALIKES:
            found = list(saver.list({"configurable": {"thread_id": thread}}))
            assert [t.metadata["thread"] for t in found] == [thread]
            assert found[0].config["configurable"]["thread_id"] == thread
        saver.delete_thread("t ")
        assert saver.get_tuple({"configurable": {"thread_id": "t "}}) is None
        assert saver.get_tuple({"configurable": {"thread_id": "t"}}) is not None
