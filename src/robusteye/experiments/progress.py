"""One progress bar for a run's tasks: done, running and the time left, and a line per
finished task (to the bar, or to the log when the bar is off)."""

from __future__ import annotations

from collections.abc import Callable

from tqdm.auto import tqdm

from robusteye.text import printable


class Progress:
    """Cells done, running and the time left, on one bar; a line per finished task."""

    def __init__(
        self, total: int, done: int, slots: int, enabled: bool, log: Callable[[str], None]
    ) -> None:
        self.total, self.done, self.slots, self.log = total, done, slots, log
        self.enabled = enabled
        self.bar = tqdm(total=total, initial=done, unit="task", disable=not enabled,
                        dynamic_ncols=True, desc="experiment")  # fmt: skip
        self._postfix()

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"running {min(self.slots, self.total - self.done)}")

    def skip(self, n: int) -> None:
        """Count `n` tasks found already done."""
        if n:
            self.done += n
            self.bar.update(n)
            self._postfix()

    def finished(self, row: object, line: str) -> None:
        line = printable(line)  # names in it (keys, classes) come from a stranger's spec
        self.done += 1
        self.bar.update()
        self._postfix()
        if self.enabled:
            self.bar.write(line)
        else:
            self.log(line)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
