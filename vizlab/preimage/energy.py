"""The energy of each step as Python numbers for the history, and its finiteness check.

Checking costs nothing extra per step: the engine reads the mean energy as a Python float for
its history anyway, and a NaN or inf in any term or pixel makes that mean non-finite. Only
then are the terms examined one by one to name the culprit.

On the CPU each step's means are read at once (there is no device to wait for). On a GPU,
reading a number waits until the device has run everything queued before it, which stalls the
host once per read; there the means of ``every`` steps are kept on the device, with each
step's image extremes so that a non-finite step is still named exactly, and read in one
transfer.
"""

from __future__ import annotations

import math
import time

import torch

from vizlab.errors import NonFiniteError


def first_non_finite(x: torch.Tensor, data: torch.Tensor, terms: dict[str, torch.Tensor]) -> str:
    """The name of the first non-finite quantity: the image, the data term or a penalty."""
    if not bool(torch.isfinite(x.detach()).all()):
        return "image"
    if not bool(torch.isfinite(data.detach()).all()):
        return "data"
    for name, value in terms.items():
        if not bool(torch.isfinite(value.detach()).all()):
            return name
    return "C * data"


def non_finite_error(step: int, term: str, energy_mean: float) -> NonFiniteError:
    """The error for a step whose energy is NaN/inf, naming the first non-finite ``term``."""
    return NonFiniteError(
        f"The optimization went non-finite at step {step}: the {term!r} "
        f"{'is' if term == 'image' else 'term is'} NaN or infinite (energy={energy_mean}). "
        "Lower the learning rate (optimizer.lr, or param.optimizer.lr for fourier/maco), use "
        "a finite positive method.C, and check the regularizers' constants (alpha, beta, V, "
        "B > 0)."
    )


def check_finite(
    step: int,
    energy_mean: float,
    x: torch.Tensor,
    data: torch.Tensor,
    terms: dict[str, torch.Tensor],
) -> None:
    """Raise :class:`NonFiniteError` naming ``step`` and the term when the energy is NaN/inf."""
    if math.isfinite(energy_mean):
        return
    raise non_finite_error(step, first_non_finite(x, data, terms), energy_mean)


def _means(values: list[torch.Tensor]) -> torch.Tensor:
    """The mean of each of ``values`` as one vector: one stacked reduction when they are all
    one value per image (as the engine's are), instead of a reduction and a read each. The
    engine calls it without autograd (no detached copies to make); with it, the vector has a
    graph that nothing keeps."""
    if all(v.shape == values[0].shape for v in values) and values[0].dim() == 1:
        return torch.stack(values).mean(1)
    return torch.stack([v.mean() for v in values])


class StepRecord:
    """Each step's mean energy, data term and penalties (``history``) and wall time
    (``step_seconds``), read from the device every ``every`` steps; raises
    :class:`NonFiniteError` for the first step whose energy is NaN/inf.

    Per step: :meth:`start`, :meth:`measure` (before the update, so that with ``every=1`` a
    non-finite energy stops the loop before it reaches the image), :meth:`done` (after it);
    :meth:`flush` at the end. With ``every > 1`` the steps of one read share its wall time
    equally (their kernels run asynchronously, so only the read is a meaningful clock)."""

    def __init__(self, every: int = 1):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = int(every)
        self.history: dict[str, list[float]] = {"energy": [], "data": []}
        self.step_seconds: list[float] = []
        self._names: list[str] = []
        self._values: list[float] | torch.Tensor = []
        self._pending: list[tuple[int, torch.Tensor]] = []
        self._started = self._last_read = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()
        if not self._pending:
            self._last_read = self._started

    def measure(
        self,
        step: int,
        energy: torch.Tensor,
        data: torch.Tensor,
        terms: dict[str, torch.Tensor],
        x: torch.Tensor,
    ) -> None:
        """Take this step's means (and, read now, check them)."""
        self._names = list(terms)
        means = _means([energy, data, *terms.values()])
        if self.every == 1:
            self._values = means.tolist()
            check_finite(step, self._values[0], x, data, terms)
            return
        low, high = torch.aminmax(x.detach())  # a NaN or inf pixel shows in its extremes
        self._values = torch.cat([means, torch.stack([low, high]).to(means)])

    def done(self, step: int) -> None:
        """The step's update is applied: keep its record (and read the device if due)."""
        if self.every == 1:
            self._keep(self._values)  # type: ignore[arg-type]
            self.step_seconds.append(time.perf_counter() - self._started)  # after the floats
            return
        self._pending.append((step, self._values))  # type: ignore[arg-type]
        if len(self._pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        """Read the pending steps from the device, check them and keep them."""
        if not self._pending:
            return
        steps = [step for step, _ in self._pending]
        rows = torch.stack([values for _, values in self._pending]).tolist()
        self._pending = []
        share = (time.perf_counter() - self._last_read) / len(rows)
        for step, row in zip(steps, rows):
            *values, low, high = row
            if not math.isfinite(values[0]):
                raise non_finite_error(step, self._culprit(values, low, high), values[0])
            self._keep(values)
            self.step_seconds.append(share)

    def _keep(self, values: list[float]) -> None:
        self.history["energy"].append(values[0])
        self.history["data"].append(values[1])
        for name, value in zip(self._names, values[2:]):
            self.history.setdefault(name, []).append(value)

    def _culprit(self, values: list[float], low: float, high: float) -> str:
        """As :func:`first_non_finite`, from the recorded means and image extremes."""
        if not (math.isfinite(low) and math.isfinite(high)):
            return "image"
        names = ["data", *self._names]
        return next((n for n, v in zip(names, values[1:]) if not math.isfinite(v)), "C * data")
