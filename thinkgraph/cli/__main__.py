"""``python -m thinkgraph.cli``: the same as the ``thinkgraph`` command."""

from thinkgraph.cli._app import main

main()
