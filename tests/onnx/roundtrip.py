#!/usr/bin/env python3
"""ONNX export round trip through real decoders and a real runtime.

    roundtrip.py ONNX_MODELS_EXE WORKDIR

onnx_models (tests/onnx/onnx_models.c) builds the test models, exports them
and writes libmlpnet's outputs on 1,000 samples; the onnx checker (Debian's
python3-onnx, full check with shape inference) must accept every file;
ONNX Runtime (npm package onnxruntime-node, run by run_ort.js with one
thread) runs each model on the same samples. Per model: the same class for
every sample (argmax of the logits, and of the probabilities), the
probabilities within 1e-4, the raw outputs within 1e-4 relative to their
scale. The models see synthetic images, or EMNIST test images after a short
training when $MLPNET_DATA_DIR holds emnist-bymerge47. Exits 77 (skip) with a message when python3-onnx, numpy, node or
onnxruntime-node is missing. onnxruntime-node is looked for in
$MLPNET_ORT_DIR, then $HOME/.cache/mlpnet-ort (.ci/run installs it there
with `npm install --ignore-scripts onnxruntime-node`).
"""
import json
import math
import os
import shutil
import subprocess
import sys


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(77)


def main():
    exe, work = sys.argv[1], sys.argv[2]
    try:
        import numpy as np
        import onnx
        import onnx.checker
    except ImportError as e:
        skip("python3-onnx or numpy is not installed (apt-get install python3-onnx): %s" % e)
    node = shutil.which("node")
    if not node:
        skip("node is not installed")
    ort_pkg = None
    for d in (os.environ.get("MLPNET_ORT_DIR"),
              os.path.join(os.path.expanduser("~"), ".cache", "mlpnet-ort")):
        if d and os.path.isfile(os.path.join(d, "node_modules", "onnxruntime-node",
                                             "package.json")):
            ort_pkg = os.path.join(d, "node_modules", "onnxruntime-node")
            break
    if not ort_pkg:
        skip("onnxruntime-node not found in $MLPNET_ORT_DIR or ~/.cache/mlpnet-ort "
             "(npm install --ignore-scripts onnxruntime-node there)")

    os.makedirs(work, exist_ok=True)
    lines = subprocess.run([exe, work], check=True, capture_output=True,
                           text=True).stdout.split()
    models = [lines[i:i + 7] for i in range(0, len(lines), 7)]

    names_seen = 0
    for name, dims, *_ in models:
        model = onnx.load(os.path.join(work, name + ".onnx"))
        onnx.checker.check_model(model, full_check=True)
        # the name lists are JSON arrays of strings, one per class or input
        meta = {p.key: p.value for p in model.metadata_props}
        for key in ("class_names", "feature_names"):
            if key in meta:
                names = json.loads(meta[key])
                want = int(meta["outputs"]) if key == "class_names" else \
                    math.prod(int(d) for d in dims.split(","))
                if len(names) != want or not all(isinstance(n, str) for n in names):
                    sys.exit("%s: %s holds %d names, not %d strings" %
                             (name, key, len(names), want))
                names_seen += 1
        if name == "kinds_b" and json.loads(meta["feature_names"])[1:4] != \
                ['say "hi"', "back\\slash", "\u00e2ge \u65e5"]:
            sys.exit("kinds_b: feature_names %s" % meta["feature_names"][:80])
    print("onnx %s checker: all %d files accepted, %d name lists read as JSON" %
          (onnx.__version__, len(models), names_seen))

    specs = ["%s:%s" % (m[0], m[1]) for m in models]
    run = subprocess.run([node, os.path.join(os.path.dirname(__file__), "run_ort.js"),
                          ort_pkg, work] + specs, capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stderr)
        sys.exit(1)
    ort_runs = {r["name"]: r for r in map(json.loads, run.stdout.splitlines())}

    failed = False
    print("%-9s %-9s %9s %9s %10s %12s %12s" % ("model", "data", "max|dp|", "max|dz|",
                                                "export ms", "mlpnet img/s", "ORT img/s"))
    for name, dims, k, has_probs, t_export, t_predict, data in models:
        k = int(k)
        r = ort_runs[name]
        load = lambda f: np.fromfile(os.path.join(work, f), dtype="<f4").reshape(-1, k)
        raw = load(name + ".raw.f32")
        ort_raw = load("%s.ort.%s.f32" % (name, r["outputs"][0]))
        scale = max(1.0, float(np.abs(raw).max()))
        dz = float(np.abs(raw - ort_raw).max())
        dp = float("nan")
        if raw.shape != ort_raw.shape or dz > 1e-4 * scale:
            print("%s: raw outputs differ by %g (scale %g)" % (name, dz, scale))
            failed = True
        if has_probs == "1":
            if len(r["outputs"]) != 2 or r["outputs"][1] != "probabilities":
                print("%s: outputs %s, expected probabilities" % (name, r["outputs"]))
                failed = True
                continue
            probs = load(name + ".probs.f32")
            ort_probs = load(name + ".ort.probabilities.f32")
            dp = float(np.abs(probs - ort_probs).max())
            if dp > 1e-4:
                print("%s: probabilities differ by %g" % (name, dp))
                failed = True
            if k > 1 and (probs.argmax(1) != ort_probs.argmax(1)).any():
                print("%s: %d samples change class" %
                      (name, int((probs.argmax(1) != ort_probs.argmax(1)).sum())))
                failed = True
        if k > 1 and (raw.argmax(1) != ort_raw.argmax(1)).any():
            print("%s: the argmax of the raw outputs differs" % name)
            failed = True
        n = raw.shape[0]
        print("%-9s %-9s %9s %9.2e %10.2f %12.0f %12.0f" %
              (name, data, "-" if dp != dp else "%.2e" % dp, dz, 1e3 * float(t_export), n / float(t_predict),
               n / r["seconds"]))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
