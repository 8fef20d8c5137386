"""A guard against allocations larger than the memory this process can get.

A context that would need more memory than is available fails at once with a
``MemoryError`` that states the size, the memory available and the fix,
instead of swapping for minutes or being killed by the system.
"""

import os

#: Linux cgroup files holding the memory limit and the current use of this
#: process's group (v2, then v1). A v1 "no limit" is a huge number, harmless.
_CGROUP_FILES = (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
)


def available_memory():
    """Bytes of memory this process can still allocate, or None if unknown.

    On Linux the smaller of ``MemAvailable`` in ``/proc/meminfo`` and the
    room left under the cgroup limit (when there is one); elsewhere the
    available physical pages reported by ``os.sysconf``.

    Returns
    -------
    nbytes : int or None
    """
    candidates = []
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    for limit_file, usage_file in _CGROUP_FILES:
        try:
            with open(limit_file) as limit, open(usage_file) as usage:
                limit, usage = limit.read().strip(), usage.read().strip()
        except OSError:
            continue
        if limit != "max":
            candidates.append(max(int(limit) - int(usage), 0))
        break
    if not candidates:
        try:
            candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            return None
    return min(candidates)


def check_memory(nbytes, what, fix):
    """Raise ``MemoryError`` if ``nbytes`` exceed the memory available.

    Nothing is checked when the available memory is unknown.

    Parameters
    ----------
    nbytes : float
        Estimated peak memory of the step.
    what : str
        The step, e.g. "RBFContext with n_neighbors=None on 200,000 rows
        builds a 200,000 x 200,000 kernel".
    fix : str
        What the user can change, e.g. "Use n_neighbors=50 or fewer rows."

    Raises
    ------
    MemoryError
        With ``what``, the size, the memory available and ``fix``.
    """
    available = available_memory()
    if available is not None and nbytes > available:
        raise MemoryError(
            f"{what}: about {_format_bytes(nbytes)}; this machine has "
            f"{_format_bytes(available)} available. {fix}"
        )


def _format_bytes(nbytes):
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{nbytes / 1e3:.3g} kB"
