"""A corpus of bad inputs a new user may give the command line, and how each one ended.

Each :class:`Case` builds its input in a scratch folder (a scenario, an override, a damaged
run folder, a recommender service that always fails) and names what the answer must say.
:func:`try_case` runs it through the ``alignuser`` command line in this process and sorts
the outcome:

* ``clear``: a non-zero exit, no traceback, and every expected phrase in the message;
* ``unclear``: a non-zero exit without a traceback, but a phrase is missing;
* ``traceback``: an exception escaped (or a traceback was printed);
* ``silent``: exit status 0, the bad input was accepted.

``benchmarks/reliability.py`` prints the table by category; ``tests/test_bad_inputs.py``
requires every case to be ``clear``.

Example:
    >>> from alignuser.testing.bad_inputs import CASES, try_case  # doctest: +SKIP
    >>> try_case(CASES[0], workdir).outcome  # doctest: +SKIP
    'clear'
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CASES", "Case", "Outcome", "Workspace", "try_case"]

QUICK = {
    "name": "bad",
    "seed": 0,
    "dataset": {"source": "synthetic", "synthetic": {"n_users": 40, "n_items": 60, "seed": 1}},
    "population": {"n_agents": 12},
    "memory": {"backend": "inmemory"},
    "policy": {"name": "choice"},
    "recommenders": [{"name": "random"}, {"name": "popular"}, {"name": "ease"}],
    "session": {"max_pages": 2, "sessions_per_agent": 1},
    "resilience": {"retries": 0, "backoff": 0.0},
    "output": {"dir": "runs", "report": False},
}


@dataclass
class Case:
    """One bad input.

    Attributes:
        category: Group in the table (``scenario``, ``override``, ``registry``...).
        name: Short description.
        argv: ``argv(ws)`` builds the input in the workspace and returns the CLI arguments.
        expect: Phrases the answer must contain (whitespace-normalised).
        exit_code: The non-zero status expected (``None``: any non-zero).
    """

    category: str
    name: str
    argv: Callable[[Workspace], list[str]]
    expect: tuple[str, ...]
    exit_code: int | None = 2


@dataclass
class Outcome:
    """How one case ended: ``outcome`` (see the module docstring), exit code and output."""

    case: Case
    outcome: str
    exit_code: int
    output: str
    missing: tuple[str, ...] = ()


class Workspace:
    """A scratch folder with helpers to write scenarios, data and damaged run folders."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._run: Path | None = None
        self._servers: list = []

    def scenario(self, name: str = "s.yaml", text: str | None = None, **changes) -> str:
        """Write a scenario (``QUICK`` with ``changes`` at the top level, or ``text``)."""
        import yaml

        path = self.root / name
        if text is None:
            data = {**QUICK, "output": {**QUICK["output"], "dir": str(self.root / "runs")}}
            data.update(changes)
            text = yaml.safe_dump(data, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return str(path)

    def file(self, name: str, content: str | bytes) -> str:
        """Write a file; its path."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return str(path)

    def finished_run(self) -> Path:
        """A small finished run folder (made once), to be copied and damaged."""
        if self._run is None:
            from alignuser.scenario import load_scenario
            from alignuser.simulation.runner import run

            s = load_scenario(self.scenario("finished.yaml"))
            self._run = run(s, self.root / "finished-run")
        return self._run

    def damaged_run(self, name: str, damage: Callable[[Path], None]) -> str:
        """A copy of the finished run with ``damage(run_dir)`` applied."""
        out = self.root / name
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(self.finished_run(), out)
        damage(out)
        return str(out)

    def service(self, mode: str) -> str:
        """URL of a local recommender service that always answers badly (``mode``)."""
        from alignuser.testing.services import FakeRecommenderService, free_port_url

        if mode == "refused":  # a port with nobody listening
            return free_port_url()
        service = FakeRecommenderService(script={"short": "empty"}.get(mode, mode))
        self._servers.append(service)
        return service.url

    def close(self) -> None:
        """Stop the services."""
        for s in self._servers:
            s.close()
        self._servers.clear()


def try_case(case: Case, ws: Workspace) -> Outcome:
    """Run ``case`` through the command line and sort how it ended."""
    from typer.testing import CliRunner

    from alignuser.cli import app

    try:
        argv = case.argv(ws)
    except Exception as exc:  # the case could not even be built
        return Outcome(case, "traceback", -1, f"building the case failed: {exc!r}")
    r = CliRunner().invoke(app, argv)
    text = " ".join(r.output.split())
    escaped = r.exception is not None and not isinstance(r.exception, SystemExit)
    if escaped or "Traceback (most recent call last)" in r.output:
        return Outcome(case, "traceback", r.exit_code, r.output)
    if r.exit_code == 0:
        return Outcome(case, "silent", 0, r.output)
    missing = tuple(e for e in case.expect if " ".join(e.split()) not in text)
    wrong_code = case.exit_code is not None and r.exit_code != case.exit_code
    if missing or wrong_code:
        return Outcome(case, "unclear", r.exit_code, r.output, missing)
    return Outcome(case, "clear", r.exit_code, r.output)


def _validate(*sets: str, scenario: Callable[[Workspace], str] | None = None):
    def argv(ws: Workspace) -> list[str]:
        path = scenario(ws) if scenario else ws.scenario()
        return ["validate", path, *[a for s in sets for a in ("--set", s)]]

    return argv


def _run(*sets: str, scenario: Callable[[Workspace], str] | None = None, out: str = "out"):
    def argv(ws: Workspace) -> list[str]:
        path = scenario(ws) if scenario else ws.scenario()
        target = ws.root / out
        if target.exists():
            shutil.rmtree(target)
        return ["run", path, "--out", str(target), *[a for s in sets for a in ("--set", s)]]

    return argv


def _truncate(rel: str) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        path = sorted(run_dir.glob(rel))[0]
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    return damage


def _remove(rel: str) -> Callable[[Path], None]:
    return lambda run_dir: sorted(run_dir.glob(rel))[0].unlink()


def _http(mode: str) -> Callable[[Workspace], list[str]]:
    def argv(ws: Workspace) -> list[str]:
        url = ws.service(mode)
        rec = {"name": "http", "label": "svc", "params": {"url": url, "timeout": 1, "retries": 0}}
        path = ws.scenario(f"http-{mode}.yaml", recommenders=[{"name": "popular"}, rec])
        return ["run", path, "--out", str(ws.root / f"http-{mode}")]

    return argv


def _csv(name: str, content: str | bytes) -> Callable[[Workspace], list[str]]:
    def argv(ws: Workspace) -> list[str]:
        data = ws.file(name, content)
        path = ws.scenario(
            f"{name}.yaml",
            dataset={"source": "path", "path": data, "format": "generic"},
        )
        return ["run", path, "--out", str(ws.root / f"csv-{name}")]

    return argv


_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")
)

CASES: list[Case] = [
    # -- scenario values and structure
    Case("scenario", "negative n_agents", _validate("population.n_agents=-5"),
         ("population.n_agents", "greater than or equal to 1")),
    Case("scenario", "max_pages: 0", _validate("session.max_pages=0"), ("session.max_pages",)),
    Case("scenario", "empty recommender list", _validate("recommenders=[]"),
         ("at least one recommender",)),
    Case("scenario", "activation_prob above 1", _validate("session.activation_prob=1.5"),
         ("session.activation_prob",)),
    Case("scenario", "repeated recommender labels",
         _validate("recommenders=[{name: ease}, {name: ease}]"), ("labels must be unique",)),
    Case("scenario", "shards with a social graph",
         _validate("engine.shards=2", "social.graph=random"), ("engine.shards > 1",)),
    Case("scenario", "memory backend typo", _validate("memory.backend=chrome"),
         ("memory.backend", "did you mean 'chroma'?")),
    Case("scenario", "social graph not a choice", _validate("social.graph=ring"),
         ("social.graph", "(got 'ring')")),
    Case("scenario", "engine kind not a choice", _validate("engine.kind=spark"), ("engine.kind",)),
    Case("scenario", "dataset path missing for source path", _validate("dataset.source=path"),
         ("dataset.path is required",)),
    Case("scenario", "unknown top-level key (typo)",
         _validate(scenario=lambda ws: ws.scenario("typo.yaml", text="sesion: {max_pages: 2}\n")),
         ("sesion: unknown key (did you mean 'session'?)",)),
    Case("scenario", "unknown nested key", _validate("session.max_page=3"),
         ("session.max_page: unknown key (did you mean 'max_pages'?)",)),
    # -- the scenario file itself
    Case("file", "bad YAML syntax",
         _validate(scenario=lambda ws: ws.scenario("syntax.yaml", text="a: [1, 2\nb: 3\n")),
         ("not valid YAML",)),
    Case("file", "YAML alias bomb",
         _validate(scenario=lambda ws: ws.scenario("bomb.yaml", text=_BOMB)),
         ("bomb.yaml: expands to more than", "alias bomb")),
    Case("file", "YAML alias bomb inside a free-form key",
         _validate(scenario=lambda ws: ws.scenario("bomb2.yaml", text=_BOMB + "train: {x: *i}\n")),
         ("bomb2.yaml: expands to more than",)),
    Case("file", "missing scenario file",
         _validate(scenario=lambda ws: str(ws.root / "nope.yaml")), ("scenario file not found",)),
    Case("file", "scenario path is a folder", _validate(scenario=lambda ws: str(ws.root)),
         ("scenario file not found",)),
    Case("file", "top level is a list",
         _validate(scenario=lambda ws: ws.scenario("list.yaml", text="- 1\n- 2\n")),
         ("top level must be a mapping",)),
    Case("file", "not UTF-8",
         _validate(scenario=lambda ws: ws.file("latin1.yaml", b"name: caf\xe9\n")),
         ("not UTF-8 text", "save the file as UTF-8")),
    Case("file", "persona mix file missing",
         _validate("population.source=mix", "population.mix=nope.yaml"),
         ("population.mix", "not found")),
    # -- --set overrides
    Case("override", "no '='", _validate("session.max_pages"), ("expected KEY=VALUE",)),
    Case("override", "value not a number", _validate("population.n_agents=abc"),
         ("population.n_agents", "(got 'abc')")),
    Case("override", "unknown section", _validate("nosuch.key=1"), ("nosuch: unknown key",)),
    Case("override", "list index out of range", _validate("recommenders.5.name=ease"),
         ("recommenders has 3 entries (indexes 0..2)",)),
    Case("override", "list index not a number", _validate("recommenders.x.name=ease"),
         ("address its entries by index",)),
    Case("override", "key below a value", _validate("seed.x=1"), ("seed is a value",)),
    Case("override", "value not valid YAML", _validate("recommenders=[{name: "),
         ("value is not valid YAML",)),
    # -- registry names
    Case("registry", "unknown recommender (validate)", _validate("recommenders=[{name: nosuch}]"),
         ("recommenders.0.name", "unknown recommender 'nosuch'")),
    Case("registry", "unknown recommender (run)", _run("recommenders=[{name: nosuch}]"),
         ("recommenders.0.name", "unknown recommender 'nosuch'")),
    Case("registry", "recommender typo", _validate("recommenders=[{name: eaze}]"),
         ("did you mean 'ease'?",)),
    Case("registry", "unknown policy", _validate("policy.name=alignusr"),
         ("unknown policy 'alignusr' (did you mean 'alignuser'?)",)),
    Case("registry", "unknown loader format",
         _validate(scenario=lambda ws: ws.scenario(
             "fmt.yaml", dataset={"source": "path", "path": ws.file("d.csv", "user,item\n1,2\n"),
                                  "format": "ml100k"})),
         ("unknown loader 'ml100k' (did you mean 'ml-100k'?)",)),
    # -- plug-in params
    Case("params", "unknown recommender param", _validate("recommenders.2.params.bogus=1"),
         ("recommenders.2.params.bogus: unknown parameter",)),
    Case("params", "mistyped recommender param", _validate("recommenders.2.params.l2=abc"),
         ("recommenders.2.params.l2", "valid number")),
    Case("params", "unknown policy param", _validate("policy.params.foo=1"),
         ("policy.params.foo: unknown parameter",)),
    Case("params", "http recommender without url", _validate("recommenders=[{name: http}]"),
         ("recommenders.0.params.url", "Field required")),
    Case("params", "seed among recommender params", _validate("recommenders.0.params.seed=3"),
         ("set by the runner",)),
    Case("params", "learned policy without checkpoint", _validate("policy.name=alignuser"),
         ("needs a checkpoint folder",)),
    Case("params", "checkpoint folder missing",
         _validate("policy.name=alignuser", "policy.checkpoint=nope/policy"),
         ("policy.checkpoint", "does not exist")),
    Case("params", "unknown loader option",
         _validate(scenario=lambda ws: ws.scenario(
             "opt.yaml", dataset={"source": "path", "path": ws.file("d.csv", "user,item\n1,2\n"),
                                  "format": "generic", "options": {"colums": {}}})),
         ("dataset.options.colums", "did you mean 'columns'?")),
    # -- output folder
    Case("output", "output.dir below a file",
         lambda ws: _validate(f"output.dir={ws.file('blocker', 'x')}/runs")(ws),
         ("output.dir", "is not a folder")),
    Case("output", "output.dir not creatable", _validate("output.dir=/proc/forbidden/runs"),
         ("output.dir", "cannot write")),
    Case("output", "--out below a file",
         lambda ws: ["run", ws.scenario(), "--out", ws.file("blocker2", "x") + "/run"],
         ("--out", "is not a folder")),
    # -- data files
    Case("data", "missing dataset path",
         _validate(scenario=lambda ws: ws.scenario(
             "nodata.yaml", dataset={"source": "path", "path": str(ws.root / "none.csv")})),
         ("dataset.path", "does not exist")),
    Case("data", "CSV row with an empty user",
         _csv("empty_user.csv", "user_id,item_id,rating\n1,2,4\n,3,5\n"), ("empty_user.csv:3",)),
    Case("data", "empty CSV", _csv("empty.csv", ""), ("empty.csv",)),
    Case("data", "CSV without the default column names",
         _csv("cols.csv", "user,item,rating\n1,2,4\n"), ("cols.csv", "not found")),
    Case("data", "CSV with a non-numeric rating",
         _csv("bad_rating.csv", "user_id,item_id,rating\n1,2,4\n2,3,five\n"),
         ("bad_rating.csv:3",)),
    # -- run folders
    Case("run folder", "report on a folder that is not a run",
         lambda ws: ["report", str(ws.root)], ("not a run folder",)),
    Case("run folder", "report: truncated events part",
         lambda ws: ["report", ws.damaged_run("trunc-ev", _truncate("events/*/part-*.parquet"))],
         ("events/", "damaged, not a complete Parquet file", "run the scenario again")),
    Case("run folder", "report: truncated series",
         lambda ws: ["report", ws.damaged_run("trunc-se", _truncate("series/*.parquet"))],
         ("series/", "damaged")),
    Case("run folder", "report: a sessions part missing",
         lambda ws: ["report", ws.damaged_run("miss", _remove("sessions/*/part-*.parquet"))],
         ("the manifest records",)),
    Case("run folder", "resume: damaged part",
         lambda ws: ["run", "--resume",
                     ws.damaged_run("res", _truncate("events/*/part-*.parquet"))],
         ("cannot resume from damaged outputs",)),
    Case("run folder", "resume: not a run folder",
         lambda ws: ["run", "--resume", str(ws.root / "nothing-here")], ("not a run folder",)),
    Case("run folder", "scenario and --resume together",
         lambda ws: ["run", ws.scenario(), "--resume", str(ws.root)], ("--resume takes",)),
    # -- a recommender service that never answers usefully
    Case("service", "always HTTP 500", _http("500"),
         ("svc: failed", "left out of the ranking", "first error", "HTTP 500"), exit_code=1),
    Case("service", "body not JSON", _http("badjson"),
         ("svc: failed", "first error"), exit_code=1),
    Case("service", "ids outside the catalog", _http("unknown"),
         ("svc: failed", "first error"), exit_code=1),
    Case("service", "empty answer", _http("short"), ("svc: failed", "first error"), exit_code=1),
    Case("service", "connection refused", _http("refused"),
         ("svc: failed", "first error"), exit_code=1),
    # -- command line
    Case("cli", "--log-level not a level",
         lambda ws: ["--log-level", "loud", "validate", ws.scenario()], ("--log-level",)),
    Case("cli", "run without a scenario", lambda ws: ["run"], ("give a scenario file",)),
]  # fmt: skip
