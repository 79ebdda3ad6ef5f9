"""What environment a local kernel gets: an allow-list of the server's variables, never the rest.

The server's environment can hold credentials (database URLs, cloud keys, NBPLANE_* settings); a kernel
runs user code, so it gets only what a program needs to run (paths, locale, time zone, TLS trust, numeric
library tuning) plus the variables its launch request carries."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping

BASE_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TERM",
        "TMPDIR",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
        "PYTHONUNBUFFERED",
    }
)
BASE_PREFIXES = ("LC_",)


def kernel_environment(
    extra: Mapping[str, str],
    *,
    passthrough: Collection[str] = (),
    source: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The allow-listed part of `source` (the server's environment), `passthrough` names, then `extra`."""
    source = os.environ if source is None else source
    allowed = BASE_NAMES | frozenset(passthrough)
    env = {k: v for k, v in source.items() if k in allowed or k.startswith(BASE_PREFIXES)}
    env.update(extra)
    return env
