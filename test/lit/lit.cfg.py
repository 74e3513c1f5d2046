# lit configuration for sparsekgen's IR and CLI tests: FileCheck on generated MLIR, LLVM IR and
# PTX, and on the CLI's error messages. No GPU needed.
import os
import sys

import lit.formats

config.name = "sparsekgen"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".test", ".mlir"]
config.excludes = ["Inputs", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.sparsekgen_obj_root, "test", "lit")

config.environment["PATH"] = os.pathsep.join(
    [config.sparsekgen_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", os.environ["PATH"])])
config.substitutions.append(("%catalogs", os.path.join(config.sparsekgen_src_root, "templates", "catalogs")))
config.substitutions.append(("%bundle", os.path.join(config.sparsekgen_obj_root, "bundle")))
config.substitutions.append(("%python", sys.executable))
config.substitutions.append(("%schemas", os.path.join(config.sparsekgen_src_root, "schemas")))

if config.ptxas:
    config.available_features.add("ptxas")
    config.environment["SPARSEKGEN_PTXAS"] = config.ptxas
