"""Run the demo's steps as subprocesses, each with a live one-line progress.

Every step (``tools/train.py`` / ``tools/test.py``) runs as a user would run
it; its whole output goes to a log file, and the lines that mmengine's logger
writes are parsed (:func:`mmdiverse.analysis.parse_log_line`) into one line:
step name, epoch or iteration out of the total, the logged loss, mmengine's
ETA and the time spent so far. On a terminal it is a ``rich`` progress bar
redrawn in place (one per running step); otherwise (a pipe, CI) a plain line is
printed at most every ``plain_interval_s`` seconds. Each step's duration is kept
for the summary.

Independent chains of steps (the variants, the ablation runs) go through
:meth:`StepRunner.map`, which runs ``jobs`` of them at once, each child with an
equal share of the CPU threads (``OMP_NUM_THREADS``): the demo's tiny models
use two threads poorly, so two one-thread runs side by side finish sooner than
the same two runs one after the other (docs/demo.md).
"""

import os
import os.path as osp
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, List, NamedTuple, Optional, Sequence

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from mmdiverse.analysis.training_log import LogProgress, parse_log_line


class StepRecord(NamedTuple):
    """One finished step: its name, wall time in seconds and full log."""

    name: str
    seconds: float
    log_file: str


def describe(progress: LogProgress, max_epochs: Optional[int] = None):
    """``(text, done, total)`` of a parsed log line.

    ``text`` reads ``epoch 3/30 iter 50/94``, ``iter 50/500`` or
    ``test 20/80``; ``done / total`` is the fraction of the step (epochs
    included where ``max_epochs`` is known).
    """
    if progress.mode != 'train':
        prefix = f'epoch {progress.epoch} ' if progress.epoch else ''
        return f'{prefix}{progress.mode} {progress.iter}/{progress.total}', None, None
    if progress.by_epoch:
        epochs = max_epochs or progress.epoch
        text = f'epoch {progress.epoch}/{epochs} iter {progress.iter}/{progress.total}'
        done = (progress.epoch - 1) * progress.total + progress.iter
        return text, done, epochs * progress.total
    return f'iter {progress.iter}/{progress.total}', progress.iter, progress.total


def default_jobs() -> int:
    """Steps run at once by default: two where there are two cores or more."""
    return min(2, os.cpu_count() or 1)


class StepRunner:
    """Runs commands, showing and timing each; :meth:`map` runs independent
    chains of them ``jobs`` at a time.

    Args:
        console (rich.console.Console, optional): where progress goes
            (default: stdout). Live redrawing only on a terminal.
        plain_interval_s (float): seconds between plain progress lines
            when not on a terminal (the first parsed line is always shown).
        jobs (int): chains :meth:`map` runs at once. With more than one, each
            child gets ``OMP_NUM_THREADS`` = CPU count // ``jobs``; with one,
            the children's environment is left as it is.
    """

    def __init__(
        self, console: Optional[Console] = None, plain_interval_s: float = 10.0, jobs: int = 1
    ):
        if jobs < 1:
            raise ValueError(f'jobs={jobs}: give at least one')
        self.console = console or Console()
        self.plain_interval_s = plain_interval_s
        self.jobs = jobs
        self.threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
        self.records: List[StepRecord] = []
        self._failed = threading.Event()
        self._lock = threading.Lock()
        self._live: Optional[Progress] = None

    def map(self, fn: Callable, items: Iterable) -> list:
        """``[fn(item) for item in items]``, ``jobs`` calls at a time, in order.

        After a step fails, no further step starts (:meth:`run` refuses it);
        the first failure is raised once the running calls have returned.
        """
        items = list(items)
        if self.jobs == 1 or len(items) < 2:
            return [fn(item) for item in items]

        def guarded(item):
            try:
                return fn(item)
            except BaseException:
                self._failed.set()
                raise

        with ThreadPoolExecutor(self.jobs) as pool:
            return list(pool.map(guarded, items))

    def run(
        self,
        name: str,
        command: Sequence[str],
        log_file: str,
        cwd: str,
        env: Optional[dict] = None,
        max_epochs: Optional[int] = None,
    ) -> StepRecord:
        """Run ``command``; raise ``SystemExit`` naming the log if it fails."""
        if self._failed.is_set():
            raise SystemExit(f'demo step {name!r} not started: an earlier step failed')
        os.makedirs(osp.dirname(osp.abspath(log_file)), exist_ok=True)
        self.console.print(
            f'[bold]{name}[/]: $ {" ".join(command)}', highlight=False, soft_wrap=True
        )
        env = dict(env if env is not None else os.environ, PYTHONUNBUFFERED='1')
        if self.threads is not None:
            env.update(OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        start = time.time()
        # line-buffered: the log on disk follows the step as it runs
        with open(log_file, 'w', buffering=1) as log, self._display(name) as show:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            try:
                for line in process.stdout:
                    log.write(line)
                    parsed = parse_log_line(line)
                    if parsed is not None:
                        show(parsed, max_epochs)
            except BaseException:  # Ctrl-C or a display error: leave no orphan running
                process.kill()
                process.wait()
                raise
            returncode = process.wait()
        seconds = time.time() - start
        if returncode != 0:
            self._failed.set()
            with open(log_file) as log:
                sys.stderr.write(log.read()[-5000:])
            raise SystemExit(
                f'demo step {name!r} failed ({returncode}): {" ".join(command)}; '
                f'full output in {log_file}'
            )
        record = StepRecord(name, seconds, log_file)
        self.records.append(record)
        self.console.print(
            f'  {name}: done in {seconds:.1f} s (log: {log_file})', highlight=False, soft_wrap=True
        )
        return record

    def _display(self, name):
        return (
            _LiveLine(self, name)
            if self.console.is_terminal
            else _PlainLines(self.console, name, self.plain_interval_s)
        )

    def _add_live_task(self, name):
        """A line of the shared live display (started with the first running step)."""
        with self._lock:
            if self._live is None:
                self._live = Progress(
                    TextColumn('[bold]{task.description}'),
                    BarColumn(bar_width=24),
                    TextColumn('{task.fields[position]}'),
                    TextColumn('loss {task.fields[loss]}'),
                    TextColumn('eta {task.fields[eta]}'),
                    TimeElapsedColumn(),
                    console=self.console,
                )
                self._live.start()
            task = self._live.add_task(name, total=None, position='starting', loss='-', eta='-')
            return self._live, task

    def _remove_live_task(self, task):
        with self._lock:
            if len(self._live.tasks) == 1:  # the last running step
                self._live.stop()  # the last drawing stays on the screen
                self._live = None
            else:
                self._live.remove_task(task)

    def timing_table(self) -> str:
        """Markdown table of every step's wall time, and the total."""
        lines = ['| step | wall time (s) | log |', '|---|---|---|']
        lines += [f'| {r.name} | {r.seconds:.1f} | `{r.log_file}` |' for r in self.records]
        lines.append(f'| total | {sum(r.seconds for r in self.records):.1f} | |')
        if self.jobs > 1:
            lines.append(
                f'\nSteps ran up to {self.jobs} at a time, {self.threads} CPU thread(s) each: '
                'their times overlap, so the total is more than the wall time.'
            )
        return '\n'.join(lines)


class _State:
    """What the progress line shows, kept across log lines: a val / test line
    during training is shown after the training position, and the last loss
    and ETA stay until a line brings new ones."""

    def __init__(self):
        self.train_text, self.loss, self.eta = None, '-', '-'
        self.done = self.total = None
        self.text = 'starting'

    def update(self, progress: LogProgress, max_epochs=None):
        text, done, total = describe(progress, max_epochs)
        if progress.mode == 'train':
            self.train_text, self.done, self.total = text, done, total
            self.text = text
        else:
            self.text = f'{self.train_text}, {text}' if self.train_text else text
        if progress.loss is not None:
            self.loss = f'{progress.loss:.4f}'
        if progress.eta is not None:
            self.eta = progress.eta


class _LiveLine:
    """A step's line of the runner's rich progress display, redrawn in place (terminals)."""

    def __init__(self, runner, name):
        self.runner, self.name = runner, name
        self.state = _State()
        self.progress = self.task = None

    def __enter__(self):
        self.progress, self.task = self.runner._add_live_task(self.name)
        return self.update

    def update(self, progress: LogProgress, max_epochs=None):
        state = self.state
        state.update(progress, max_epochs)
        self.progress.update(
            self.task,
            position=state.text,
            loss=state.loss,
            eta=state.eta,
            completed=state.done or 0,
            total=state.total,
        )
        self.progress.refresh()  # every log line is drawn, however fast they come

    def __exit__(self, *exc):
        self.runner._remove_live_task(self.task)


class _PlainLines:
    """One printed line per ``interval_s`` seconds (pipes, CI logs)."""

    def __init__(self, console, name, interval_s):
        self.console, self.name, self.interval_s = console, name, interval_s
        self.state = _State()
        self.start = self.last = None

    def __enter__(self):
        self.start = time.time()
        return self.update

    def update(self, progress: LogProgress, max_epochs=None):
        state = self.state
        state.update(progress, max_epochs)
        now = time.time()
        if self.last is not None and now - self.last < self.interval_s:
            return
        self.last = now
        self.console.print(
            f'  {self.name}: {state.text}  loss {state.loss}  eta {state.eta}  '
            f'elapsed {now - self.start:.0f} s',
            highlight=False,
            soft_wrap=True,
        )

    def __exit__(self, *exc):
        pass
