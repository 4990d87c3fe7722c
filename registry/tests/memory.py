"""Measuring a test's memory from /proc (no psutil): the peak resident set of this process."""

from __future__ import annotations

import gc
import threading


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/self/status")


class PeakRss:
    """Peak resident memory of this process while the block runs, in MB above its start:
    the kernel's high-water mark (reset through /proc/self/clear_refs) and, where that
    cannot be reset, a 5 ms sampler."""

    def __enter__(self) -> PeakRss:
        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")  # resets VmHWM to the current RSS
            self.exact = True
        except OSError:
            self.exact = False
        self.start_kb = _status_kb("VmRSS")
        self.sampled_kb = self.start_kb
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.sampled_kb = max(self.sampled_kb, _status_kb("VmRSS"))

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join()
        peak_kb = max(self.sampled_kb, _status_kb("VmHWM") if self.exact else 0)
        self.growth_mb = (peak_kb - self.start_kb) / 1024
