"""Offline doubles for tests: yours and ours.

``no_model_requests()`` fails any attempt to reach a non-loopback address.
"""

from thinkgraph.testing._guard import is_loopback_host, no_model_requests

__all__ = ["is_loopback_host", "no_model_requests"]
