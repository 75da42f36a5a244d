# Run by pyembed (ts/discover.ts, scripts/build.mjs) with the Python it may embed, as
# `python -S -c <this file's text>`: prints what it needs to find that Python's shared libpython
# and the pyembed binary built for its minor version.
import sys

if sys.path[:1] == [""]:
    del sys.path[0]  # -c puts the caller's current directory first: import nothing from there

import json
import os
import sysconfig

var = sysconfig.get_config_var
print(json.dumps({
    "version": "%d.%d.%d" % sys.version_info[:3],
    "abiflags": getattr(sys, "abiflags", ""),
    "debug": hasattr(sys, "gettotalrefcount"),
    "freeThreaded": bool(var("Py_GIL_DISABLED")),
    "executable": sys.executable,
    "realExecutable": os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable),
    "basePrefix": sys.base_prefix,
    "shared": bool(var("Py_ENABLE_SHARED")),
    "libdir": var("LIBDIR"),
    "multiarch": var("MULTIARCH"),
    "ldlibrary": var("LDLIBRARY"),
    "instsoname": var("INSTSONAME"),
}))
