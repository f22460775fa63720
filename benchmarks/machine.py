"""What machine a benchmark ran on: the first thing a reader of BENCHMARKS.md needs.

Load average is recorded at the start and the end of the run because the dev machines are
shared: a load above the core count means every absolute timing in the report is inflated,
while same-process ratios are much less affected.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from importlib import metadata


@dataclass
class MachineInfo:
    cpu_model: str
    logical_cores: int
    usable_cores: int
    ram_gib: float
    os: str
    python: str
    versions: dict[str, str]
    gpu: str
    onnxruntime_providers: list[str]
    load_average_start: tuple[float, float, float]
    load_average_end: tuple[float, float, float] | None = None
    notes: list[str] = field(default_factory=list)

    def finish(self) -> None:
        self.load_average_end = _loadavg()
        busy = max(self.load_average_start[0], (self.load_average_end or (0.0,))[0])
        if busy > 0.8 * self.usable_cores:
            self.notes.append(
                f"the 1-minute load average reached {busy:.1f} on {self.usable_cores} usable cores: other work "
                "shared the CPU, so absolute timings are inflated; ratios measured in the same process hold better"
            )

    def markdown(self) -> str:
        end = self.load_average_end
        rows = [
            ("CPU", f"{self.cpu_model}"),
            ("cores", f"{self.logical_cores} logical, {self.usable_cores} usable by this process"),
            ("RAM", f"{self.ram_gib:.1f} GiB"),
            ("OS", self.os),
            ("Python", self.python),
            ("GPU", self.gpu),
            ("ONNX Runtime providers", ", ".join(self.onnxruntime_providers) or "n/a"),
            ("libraries", ", ".join(f"{k} {v}" for k, v in self.versions.items())),
            (
                "load average (1/5/15 min)",
                f"start {_fmt_load(self.load_average_start)}" + (f"; end {_fmt_load(end)}" if end else ""),
            ),
        ]
        out = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
        out += [f"\n> note: {n}" for n in self.notes]
        return "\n".join(out)


def _fmt_load(load: tuple[float, float, float] | None) -> str:
    return "n/a" if load is None else " / ".join(f"{x:.2f}" for x in load)


@dataclass(frozen=True)
class CpuTimes:
    """The machine's CPU time so far (``/proc/stat``, all CPUs, in clock ticks): busy, stolen
    by the hypervisor, idle. On a virtual machine, time stolen while a timed loop runs is
    the simplest sign that a slow figure is the host's doing, not the code's."""

    busy: int
    steal: int
    idle: int

    @staticmethod
    def now() -> CpuTimes | None:
        try:
            with open("/proc/stat") as fh:
                fields = [int(x) for x in fh.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        fields += [0] * (8 - len(fields))
        return CpuTimes(busy=sum(fields[:3]) + sum(fields[5:7]), steal=fields[7], idle=sum(fields[3:5]))

    def steal_share_since(self, before: CpuTimes) -> float:
        """Share of the time the machine's CPUs had work between ``before`` and this snapshot
        that the hypervisor gave to others (machine-wide, every process; idle time left out,
        so a single-threaded timed loop on an otherwise idle core is not diluted)."""
        running = (self.busy + self.steal) - (before.busy + before.steal)
        return (self.steal - before.steal) / running if running > 0 else 0.0


def _loadavg() -> tuple[float, float, float]:
    try:
        a, b, c = os.getloadavg()
        return (round(a, 2), round(b, 2), round(c, 2))
    except OSError:
        return (0.0, 0.0, 0.0)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return 0.0


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _gpu() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    except Exception:
        pass
    if shutil.which("nvidia-smi"):
        return "nvidia-smi present, but torch sees no CUDA device"
    return "none (CPU only)"


def collect() -> MachineInfo:
    try:
        import onnxruntime as ort

        providers = list(ort.get_available_providers())
    except Exception:
        providers = []
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    dists = (
        "torch",
        "onnxruntime",
        "faiss-cpu",
        "numpy",
        "pillow",
        "opencv-python-headless",
        "SQLAlchemy",
        "Flask",
        "gunicorn",
    )
    return MachineInfo(
        cpu_model=_cpu_model(),
        logical_cores=os.cpu_count() or 1,
        usable_cores=usable,
        ram_gib=_ram_gib(),
        os=f"{platform.system()} {platform.release()} ({platform.platform(terse=True)})",
        python=f"{platform.python_implementation()} {sys.version.split()[0]}",
        versions={d: _version(d) for d in dists},
        gpu=_gpu(),
        onnxruntime_providers=providers,
        load_average_start=_loadavg(),
    )
