"""The progress bar and summary of ``shipyard predict``. Imported only when the command
runs, so the rest of the CLI never pays for pyarrow and numpy at start-up."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import Progress, ProgressColumn, Task, TaskID
from rich.text import Text

from shipyard.batch import BatchJobRecord, FailedRange, ProgressListener


class RowsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        done = int(task.completed)
        text = f"{done:,} rows" if task.total is None else f"{done:,}/{int(task.total):,} rows"
        return Text(text, style="progress.download")


class SpeedColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s", style="progress.data.speed")


class Bar(ProgressListener):
    """The job's progress as a rich bar on stderr; failed row ranges printed above it."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None  # no bar until the job has passed its checks

    def _task(self) -> TaskID:
        if self.task is None:
            self.task = self.progress.add_task("starting", total=None)
        return self.task

    def stage(self, description: str) -> None:
        self.progress.update(self._task(), description=description)

    def started(self, total_rows: int | None, done_rows: int) -> None:
        self.progress.reset(self._task(), total=total_rows, completed=done_rows, description="predicting")

    def advanced(self, rows: int) -> None:
        self.progress.advance(self._task(), rows)

    def failed(self, failure: FailedRange) -> None:
        self.progress.console.print(f"[yellow]warning:[/] {escape(failure.describe())}", highlight=False)


def summary(record: BatchJobRecord) -> str:
    rows = record.rows
    parts = [
        f"{record.status}: {rows.output:,} of {rows.input:,} rows predicted into {record.output.path}",
        f"in {record.duration_s:.2f} s ({record.rows_per_s:,.0f} rows/s)",
    ]
    if rows.failed:
        parts.append(f"- {rows.failed:,} rows failed in {len(record.failures) + record.failures_truncated} ranges")
    if record.chunks.reused:
        parts.append(f"- {record.chunks.reused} chunks reused from the checkpoint")
    return " ".join(parts)
