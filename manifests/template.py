"""The skeleton every corpus preparation script fills in, so that each holds only its own:
its arguments, where its files lie and which columns it reads.

A script is a ``Script``: its command, description and arguments, and a
``prepare(args, out)`` that reads the corpus and hands each row to ``out`` (an ``Output``):
written to a manifest, or dropped and counted under a reason. A speech row waits as a
``Pending`` until ``Output.write_speech`` has measured every clip of the run once; it then
takes its clip's audio field and length, or is dropped. ``Script.main`` does the
rest alike for every corpus: the shared output options after the script's own, then
``prepare``, the validator over what was written, the summary. Exit status 0; 1 when the
validator objects or nothing was written; 2 for wrong arguments (argparse's usage message)
or inputs the script cannot work from (one ``COMMAND: error: ...`` line).
"""

import argparse
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from .common import (
    Clip,
    Options,
    StreamingManifest,
    Summary,
    add_output_args,
    finish,
    manifest_name,
    options_from,
    prepare_audio,
    progress,
    run,
    write_rows,
)
from .rows import Row, with_clip

Parser = argparse.ArgumentParser


class Output:
    """Where one run's rows go: into manifests, or dropped and counted under a reason."""

    def __init__(self, command: str, opts: Options):
        self.opts = opts
        self.summary = Summary(command, opts.out)

    def drop(self, reason: str, example: str = "") -> None:
        self.summary.drop(reason, example)

    def note(self, message: str) -> None:
        self.summary.note(message)

    def write(self, rows: List[Row], columns: Sequence[str], split: str, *name: str) -> None:
        """Write ``{split}_{task}_{langs}.tsv`` (``name`` = task, langs) whole and atomically;
        no rows write nothing and leave a note."""
        write_rows(manifest_name(split, *name), rows, columns, self.opts, self.summary)

    def stream(self, columns: Sequence[str], split: str, *name: str) -> StreamingManifest:
        """The manifest ``write`` would name, written row by row (see ``StreamingManifest``)."""
        path = self.opts.out / manifest_name(split, *name)
        return StreamingManifest(path, columns, self.summary)

    def progress(self, items: Iterable, desc: str, total: Optional[int] = None, unit: str = "row"):
        return progress(items, self.opts, desc, total=total, unit=unit)

    def write_speech(self, clips: Dict[str, Clip], desc: str, manifests: Iterable[tuple]) -> None:
        """Measure (or featurize) every clip of the run once, ``{key: file or Segment}``, then write each
        manifest ``(pending rows, columns, split, task, languages...)``. A row whose clip is
        unusable, or that has a problem of its own, is dropped and counted under the clip's
        problem, else its own."""
        ready, failed = prepare_audio(clips, self.opts, self.summary, desc=desc)
        for pending, columns, *name in manifests:
            rows = []
            for p in pending:
                why = failed.get(p.clip) or p.problem
                if why:
                    self.drop(why, p.example)
                else:
                    rows.append(with_clip(p.row, *ready[p.clip]))
            self.write(rows, columns, *name)


@dataclass
class Pending:
    """A speech row waiting for its clip: the clip's key, the name the row is dropped under,
    the row but for ``audio`` and ``n_frames``, and why the row cannot be used, if it cannot."""

    clip: str
    example: str
    row: Row
    problem: Optional[str] = None


@dataclass(frozen=True)
class Script:
    """One corpus preparation command: what is its own, and ``main`` for the rest.

    ``arguments`` adds the script's own arguments and returns the parsers that take the
    output options when they are subcommands (None: the parser itself). ``check`` says what
    is wrong with a parsed command line, or None. ``corpus`` is the argument naming the
    folder the corpus is read from (audio paths are written relative to it when the
    manifests go inside it); ``speech`` says whether the audio output options apply.
    """

    command: str
    description: str
    arguments: Callable[[Parser], Optional[Sequence[Parser]]]
    prepare: Callable[[argparse.Namespace, Output], None]
    speech: bool = True
    corpus: str = "root"
    check: Optional[Callable[[argparse.Namespace], Optional[str]]] = None

    def main(self, argv: Optional[Sequence[str]] = None) -> int:
        parser = Parser(prog=self.command, description=self.description)
        for p in self.arguments(parser) or [parser]:
            add_output_args(p, speech=self.speech)
        args = parser.parse_args(argv)
        problem = self.check(args) if self.check else None
        if problem:
            parser.error(problem)
        opts = options_from(args, getattr(args, self.corpus, None))

        def body() -> int:
            out = Output(self.command, opts)
            self.prepare(args, out)
            return finish(out.summary, opts)

        return run(self.command, body)
