"""Local executor: run the publish DAG in-process, per dataset, resumably.

Why resumable by fingerprint: a publish of a real catalog converts
gigabytes; re-running it after an unrelated edit (or after a failure in the
last step) must not redo the work that is still valid.  Before a step runs
we compute a fingerprint of everything it depends on:

- the step's name and the bot's code version (a hash of the sources that
  shape step outputs, :data:`~bot.pipeline.fingerprint.CODE_PATHS`, so a new converter re-converts),
- the environment (its name, its configuration, the output folder),
- the catalog inputs the step reads (content hashes of the dataset's files,
  ``lib/``, ``profiles/``, ``catalog-bot.yaml``),
- the source data (size + mtime; a remote one by its ETag / Last-Modified / size),
- the fingerprints of the steps it depends on (so a change flows downstream).

It is stored with the step's outputs in
``<output>/.catalog-bot/state/<dataset>/<step>.json``.  A step whose
fingerprint matches and whose recorded outputs are all still there is
skipped; a failed step has no record, so the next run resumes there.

Datasets are independent: ``jobs`` threads publish several at once, a failed
step stops only its dataset (as :class:`~bot.errors.StepError` naming step
and dataset) and the others carry on.  Steps are plain functions from
:mod:`bot.pipeline.dag`; the executor owns no publishing logic.
"""

from __future__ import annotations

import functools
import json
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from bot.catalog.layout import Dataset
from bot.errors import BotError, StepError, UsageError
from bot.pipeline.context import STATE_DIR, RunContext, StepContext, StepResult, write_json_atomic
from bot.pipeline.dag import DAG, PUBLISH, Step, find_step, step_names

if TYPE_CHECKING:
    from bot.pipeline.guard import LazyGuard

# Fingerprints, the dataset lock and the thread pool are imported by the
# functions that use them: ``catalog-bot step`` (one Argo pod per step) runs
# one step without any of them (#16).

Outcome = Literal["published", "unchanged", "failed", "superseded"]

# --------------------------------------------------------------------------- records


def state_dir(output: Path, dataset: str) -> Path:
    """``<output>/.catalog-bot/state/<dataset>``."""
    return output / STATE_DIR / "state" / dataset


def work_dir(output: Path, dataset: str) -> Path:
    """``<output>/.catalog-bot/work/<dataset>``: the default work folder of a dataset."""
    return output / STATE_DIR / "work" / dataset


def _record_path(output: Path, dataset: str, step: str) -> Path:
    return state_dir(output, dataset) / f"{step}.json"


def read_record(output: Path, dataset: str, step: str) -> dict[str, Any] | None:
    """The recorded run of a step, or None (missing or unreadable)."""
    path = _record_path(output, dataset, step)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe_outputs(paths: Iterable[Path]) -> list[dict[str, Any]]:
    out = []
    for path in paths:
        path = Path(path)
        size = path.stat().st_size if path.is_file() else None
        out.append({"path": str(path.resolve()), "size": size})
    return out


def outputs_present(record: dict[str, Any]) -> bool:
    """Every recorded output is still there (files with the recorded size)."""
    for entry in record.get("outputs") or []:
        path = Path(entry["path"])
        if entry.get("size") is None:
            if not path.exists():
                return False
        elif not path.is_file() or path.stat().st_size != entry["size"]:
            return False
    return True


def up_to_date(record: dict[str, Any] | None, fingerprint: str) -> bool:
    """True when ``record`` was made with ``fingerprint`` and its outputs are intact."""
    return record is not None and record.get("fingerprint") == fingerprint and outputs_present(record)


# --------------------------------------------------------------------------- results


@dataclass
class StepRun:
    """One step of one dataset in this run."""

    step: str
    status: Literal["done", "skipped", "cached", "failed", "not-run"]
    message: str = ""
    duration: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetOutcome:
    """What happened to one dataset."""

    dataset: str
    status: Outcome
    steps: list[StepRun] = field(default_factory=list)
    error: BotError | None = None
    duration: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def ran(self) -> int:
        """Steps that did work in this run."""
        return sum(1 for s in self.steps if s.status == "done")


@dataclass
class PublishReport:
    """All datasets of one run, plus where the results are."""

    outcomes: list[DatasetOutcome]
    output: Path
    duration: float = 0.0
    finish_error: BotError | None = None  # the once-per-run pygeoapi config / live check failed

    @property
    def failed(self) -> list[DatasetOutcome]:
        """Datasets with a failed step."""
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def did_work(self) -> bool:
        """Whether any step ran (False on a no-change re-run)."""
        return any(o.ran for o in self.outcomes)


class Reporter(Protocol):
    """Progress callbacks (the CLI draws a rich progress display from them)."""

    def dataset_started(self, dataset: str, steps: int) -> None:
        """A dataset begins."""

    def step_started(self, dataset: str, step: str) -> None:
        """A step begins (or is checked)."""

    def step_finished(self, dataset: str, run: StepRun) -> None:
        """A step ended (done, skipped, cached or failed)."""

    def dataset_finished(self, outcome: DatasetOutcome) -> None:
        """A dataset ended."""


class NullReporter:
    """Reports nothing (tests, library use)."""

    def dataset_started(self, dataset: str, steps: int) -> None:
        """Ignore."""

    def step_started(self, dataset: str, step: str) -> None:
        """Ignore."""

    def step_finished(self, dataset: str, run: StepRun) -> None:
        """Ignore."""

    def dataset_finished(self, outcome: DatasetOutcome) -> None:
        """Ignore."""


# --------------------------------------------------------------------------- running


def make_step_context(run: RunContext, dataset: Dataset, work: Path | None = None) -> StepContext:
    """A step context for ``dataset`` (parses its pipeline.yaml; the work folder defaults under the output)."""
    spec = dataset.pipeline()
    return StepContext(run=run, dataset=dataset, spec=spec, work=Path(work or work_dir(run.output, dataset.id)))


def call_step(step: Step, ctx: StepContext) -> StepResult:
    """Run one step function; any failure becomes a :class:`StepError` naming step and dataset."""
    try:
        result = step.load()(ctx)
    except StepError:
        raise
    except BotError as exc:
        raise StepError(step.name, ctx.id, exc) from exc
    except Exception as exc:  # a bug or an unexpected library error: still name step + dataset
        raise StepError(step.name, ctx.id, RuntimeError(f"{type(exc).__name__}: {exc}")) from exc
    if not isinstance(result, StepResult):
        raise StepError(step.name, ctx.id, TypeError(f"step returned {type(result).__name__}, not StepResult"))
    return result


def _when_skip(step: Step, ctx: StepContext) -> str | None:
    if step.when and not getattr(ctx.spec, step.when, None):
        return f"skipped: no {step.when.replace('_', ' ')}"
    return None


def _summary_metrics(steps: Sequence[StepRun]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for run in steps:
        metrics.update({k: v for k, v in run.metrics.items() if v is not None})
    return metrics


def run_dataset(
    run: RunContext,
    dataset: Dataset,
    *,
    dag: DAG = PUBLISH,
    force: bool = False,
    reporter: Reporter | None = None,
) -> DatasetOutcome:
    """Run every step of ``dag`` for one dataset, skipping those whose fingerprint is unchanged."""
    from bot.pipeline.guard import MOVING_STEPS, LazyGuard, run_ordering

    reporter = reporter or NullReporter()
    started = time.perf_counter()
    outcome = DatasetOutcome(dataset.id, "published")
    reporter.dataset_started(dataset.id, len(dag.steps))
    try:
        ctx = make_step_context(run, dataset)
    except BotError as exc:
        outcome.status, outcome.error = "failed", StepError(dag.steps[0].name, dataset.id, exc)
        outcome.steps.append(StepRun(dag.steps[0].name, "failed", str(exc)))
        outcome.duration = time.perf_counter() - started
        reporter.dataset_finished(outcome)
        return outcome
    lazy = None
    if any(step.name in MOVING_STEPS for step in dag):
        lazy = LazyGuard(ctx.store, dataset.id, lambda: run_ordering(run))
    try:
        _run_steps(run, ctx, dag, force, reporter, outcome, lazy)
    finally:
        if lazy is not None:
            lazy.release()
    if outcome.status == "published" and outcome.ran == 0:
        outcome.status = "unchanged"
    outcome.metrics = {**outcome.metrics, **_summary_metrics(outcome.steps)}
    outcome.duration = time.perf_counter() - started
    reporter.dataset_finished(outcome)
    return outcome


def _run_steps(
    run: RunContext,
    ctx: StepContext,
    dag: DAG,
    force: bool,
    reporter: Reporter,
    outcome: DatasetOutcome,
    lazy: LazyGuard | None,
) -> None:
    """The steps of one dataset in order, under its lock from the first writing step on.

    A half-moved dataset (its record says ``moving``) is locked at once and
    re-runs every moving step (repair); a run whose commit is older than the
    published one stops as ``superseded`` before it writes anything.
    """
    from bot.pipeline.fingerprint import environment_fingerprint, step_fingerprint
    from bot.pipeline.guard import MOVING_STEPS, WRITE_STEPS

    repair = lazy is not None and lazy.peek_half_moved()
    if repair:
        outcome.metrics["repaired"] = True
    env_fp = environment_fingerprint(run)
    fingerprints: dict[str, str] = {}
    inputs_cache: dict[Any, Any] = {}
    failed = False
    for step in dag:
        if failed:
            outcome.steps.append(StepRun(step.name, "not-run"))
            continue
        reporter.step_started(ctx.id, step.name)
        t0 = time.perf_counter()
        try:
            fp = step_fingerprint(step, ctx, fingerprints, env_fp, inputs_cache)
        except OSError as exc:
            fp = f"unreadable:{exc}"
        fingerprints[step.name] = fp
        record = read_record(run.output, ctx.id, step.name)
        skip_reason = _when_skip(step, ctx)
        if skip_reason is not None:
            step_run = StepRun(step.name, "skipped", skip_reason)
        elif not (force or (repair and step.name in MOVING_STEPS)) and up_to_date(record, fp):
            assert record is not None
            step_run = StepRun(step.name, "cached", "up to date", metrics=dict(record.get("metrics") or {}))
        else:
            _record_path(run.output, ctx.id, step.name).unlink(missing_ok=True)
            try:
                if lazy is not None and (repair or step.name in WRITE_STEPS):
                    superseded = lazy.before_write(step.name)
                    if superseded:
                        outcome.status = "superseded"
                        outcome.steps += [
                            StepRun(s.name, "skipped", superseded) for s in dag.steps[len(outcome.steps) :]
                        ]
                        break
                result = call_step(step, ctx)
            except StepError as exc:
                failed = True
                outcome.status, outcome.error = "failed", exc
                step_run = StepRun(step.name, "failed", str(exc.cause), time.perf_counter() - t0)
                outcome.steps.append(step_run)
                reporter.step_finished(ctx.id, step_run)
                continue
            step_run = StepRun(step.name, result.status, result.message, time.perf_counter() - t0, dict(result.metrics))
            write_json_atomic(
                _record_path(run.output, ctx.id, step.name),
                {
                    "step": step.name,
                    "dataset": ctx.id,
                    "fingerprint": fp,
                    "status": result.status,
                    "message": result.message,
                    "outputs": _describe_outputs(result.outputs),
                    "metrics": result.metrics,
                    "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                    "duration": round(step_run.duration, 4),
                },
            )
        step_run.duration = step_run.duration or time.perf_counter() - t0
        outcome.steps.append(step_run)
        reporter.step_finished(ctx.id, step_run)
    guard = lazy.guard if lazy is not None else None
    if guard is not None:
        outcome.metrics["lock_wait"] = round(guard.lease.waited, 3)
        try:
            if not failed and outcome.status != "superseded":
                guard.finished()
        except BotError as exc:
            outcome.status, outcome.error = "failed", StepError(dag.steps[-1].name, ctx.id, exc)


def publish(
    run: RunContext,
    datasets: Sequence[Dataset],
    *,
    jobs: int = 1,
    force: bool = False,
    dag: DAG = PUBLISH,
    reporter: Reporter | None = None,
) -> PublishReport:
    """Publish ``datasets`` (``jobs`` at a time); never raises for a failed dataset (see the report)."""
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    started = time.perf_counter()
    run.output.mkdir(parents=True, exist_ok=True)
    one: Callable[[Dataset], DatasetOutcome] = functools.partial(
        run_dataset, run, dag=dag, force=force, reporter=reporter
    )
    if jobs == 1 or len(datasets) <= 1:
        outcomes = [one(d) for d in datasets]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="publish") as pool:
            outcomes = list(pool.map(one, datasets))
    report = PublishReport(outcomes, run.output, time.perf_counter() - started)
    report.finish_error = _finish(run)
    report.duration = time.perf_counter() - started
    return report


def _finish(run: RunContext) -> BotError | None:
    """Once-per-run work after every dataset (the pygeoapi configuration); its failure is reported, not raised."""
    from bot.pipeline.steps.pygeoapi import finish_run

    try:
        finish_run(run)
    except BotError as exc:
        return exc
    return None


# --------------------------------------------------------------------------- plan / single step


@dataclass(frozen=True)
class PlannedStep:
    """What a run would do with one step: ``run``, ``skip`` (up to date / not applicable)."""

    dataset: str
    step: str
    action: Literal["run", "skip"]
    reason: str


def plan(run: RunContext, datasets: Sequence[Dataset], *, dag: DAG = PUBLISH, force: bool = False) -> list[PlannedStep]:
    """The dry-run plan: which steps would run and why, without running or writing anything.

    Once a step must run, its dependents are planned to run too (their
    inputs are not known before it has).
    """
    from bot.pipeline.fingerprint import environment_fingerprint, step_fingerprint

    env_fp = environment_fingerprint(run)
    rows: list[PlannedStep] = []
    for dataset in datasets:
        ctx = make_step_context(run, dataset)
        fingerprints: dict[str, str] = {}
        cache: dict[Any, Any] = {}
        will_run: set[str] = set()
        for step in dag:
            fp = step_fingerprint(step, ctx, fingerprints, env_fp, cache)
            fingerprints[step.name] = fp
            reason = _when_skip(step, ctx)
            if reason is not None:
                rows.append(PlannedStep(dataset.id, step.name, "skip", reason.removeprefix("skipped: ")))
                continue
            upstream = [d for d in step.depends if d in will_run]
            if force:
                rows.append(PlannedStep(dataset.id, step.name, "run", "forced"))
            elif upstream:
                rows.append(PlannedStep(dataset.id, step.name, "run", f"after {', '.join(upstream)}"))
            elif up_to_date(read_record(run.output, dataset.id, step.name), fp):
                rows.append(PlannedStep(dataset.id, step.name, "skip", "up to date"))
                continue
            else:
                record = read_record(run.output, dataset.id, step.name)
                rows.append(PlannedStep(dataset.id, step.name, "run", "inputs changed" if record else "never ran"))
            will_run.add(step.name)
    return rows


def run_single_step(run: RunContext, dataset: Dataset, step_name: str, *, work: Path | None = None) -> StepRun:
    """Run one named step for one dataset (``catalog-bot step``); raises :class:`StepError` on failure.

    Inputs are read from the earlier steps' folders in the work folder; no
    fingerprint is checked (the caller asked for this step explicitly).
    """
    # publish steps first, then the harvest workflow's own (propose-update)
    step = find_step(step_name)  # publish, harvest and the Argo fan-out steps
    if step is None:
        raise UsageError(f"unknown step {step_name!r}", hint=f"steps: {', '.join(sorted(step_names()))}")
    ctx = make_step_context(run, dataset, work)
    reason = _when_skip(step, ctx)
    if reason is not None:
        return StepRun(step.name, "skipped", reason.removeprefix("skipped: "))  # the status says it
    t0 = time.perf_counter()
    result = call_step(step, ctx)
    error = _finish(run)
    if error is not None:
        raise StepError(step.name, ctx.id, error)
    return StepRun(step.name, result.status, result.message, time.perf_counter() - t0, dict(result.metrics))


def clean_state(output: Path, dataset: str) -> None:
    """Forget the recorded steps and work files of a dataset (``--force`` does not need this)."""
    for path in (state_dir(output, dataset), work_dir(output, dataset)):
        shutil.rmtree(path, ignore_errors=True)
