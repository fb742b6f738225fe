"""Sphinx extension: resolve ``{eval}`name``` roles from stored glue records.

The book's notebooks write numbers into prose as ``{eval}`name```, the inline
expression syntax of MyST. Live, jupyterlab-myst evaluates ``name`` in the
kernel. The static book is built from stored outputs (``execute_notebooks:
off``), so there is no kernel: this role looks ``name`` up among the glue
records that ``llmperf.book.glue`` stored in the notebook's outputs, and
renders its text. An ``{eval}`` whose name was never glued fails the build
(``-W``), so the prose cannot show a stale or missing number.
"""
from __future__ import annotations

from myst_nb.core.variables import RetrievalError, render_variable_outputs
from myst_nb.ext.eval import eval_warning
from myst_nb.ext.glue.utils import retrieve_glue_data
from myst_nb.ext.utils import RoleBase


class EvalFromGlue(RoleBase):
    """``{eval}`name```: the text of the glue record ``name`` of this notebook."""

    def run(self):
        key = self.text.strip()
        try:
            data = retrieve_glue_data(self.document, key)
        except RetrievalError as exc:
            return [], [eval_warning(f"{{eval}}`{key}`: {exc} (glue it with llmperf.book.glue)",
                                     self.document, self.line)]
        data.metadata["strip_text_quotes"] = True
        nodes = render_variable_outputs([data], self.document, self.line, self.source, inline=True)
        return nodes, []


def _register(app):
    # myst-nb registers its kernel-backed ``eval`` role at setup; replace it once all
    # extensions are loaded.
    app.add_role("eval", EvalFromGlue(), override=True)


def setup(app):
    app.connect("builder-inited", _register)
    _register(app)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
