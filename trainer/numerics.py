"""Process-wide floating-point settings, for the entry points to apply (the trainer's commands,
the bench scripts, the studies, the test suite); no library module sets them on import or call.
"""
from __future__ import annotations


def flush_denormals() -> None:
    """Treat subnormal floats as zero on the CPU; call it once at start-up, before torch's first
    parallel operation, since each thread of torch's pool keeps the mode it was created with.

    Trained restoration nets drift into subnormal activations and Adam moments (NAFNet's
    residual scales start at zero; the 0.01 gradient clip keeps updates tiny), and x86 handles
    those in microcode, many times slower (docs/benchmarks.md). Values below 1.2e-38 carry
    nothing a restoration network needs. No effect on GPUs, which flush by default in these
    kernels.
    """
    import torch

    torch.set_flush_denormal(True)
