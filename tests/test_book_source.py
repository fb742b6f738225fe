"""``llmperf.book.source``: code shown as a Markdown code block, which renders in the
static book, in JupyterLab with jupyterlab-myst and in Colab (``{literalinclude}``
renders only in the static book)."""
from __future__ import annotations

import inspect

from llmperf.book import source


def _with_fence_inside():
    """An example in a docstring:

    ```python
    x = 1
    ```
    """
    return 1


def test_source_is_a_fenced_python_block_of_the_function():
    from llmperf import roofline

    text = source(roofline).data
    lines = text.splitlines()
    assert lines[0] == "```python" and lines[-1] == "```"
    assert lines[1].startswith("def roofline(")
    assert "\n".join(lines[1:-1]) == inspect.getsource(roofline).rstrip()


def test_source_fence_outlasts_fences_inside_the_code():
    text = source(_with_fence_inside).data
    assert text.startswith("````python\n") and text.endswith("\n````")
