"""Interrupts `sparsekgen build CATALOG -o BUNDLE` once it is compiling, first with SIGINT, then with
SIGTERM, and checks each exits 128 + the signal saying so. The caller checks what is on disk."""
import re
import signal
import subprocess
import sys

bundle, catalog = sys.argv[1], sys.argv[2]
for sig, name in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")):
    build = subprocess.Popen(["sparsekgen", "build", catalog, "-o", bundle, "-j", "2"],
                             stderr=subprocess.PIPE, text=True)
    # The first progress line: kernels are being compiled (ptxas running, if it exists).
    for line in build.stderr:
        if re.match(r"\[\s*1/", line):
            break
    else:
        sys.exit(f"{name}: the build ended before compiling its first kernel (exit {build.wait()})")
    build.send_signal(sig)
    rest = build.stderr.read()
    code = build.wait(timeout=120)
    assert code == 128 + sig, f"{name}: exit {code}, stderr:\n{rest}"
    assert f"interrupted by {name}" in rest, rest
    print(f"{name}: exit {code}")
