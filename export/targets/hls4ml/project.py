"""The export itself, as named steps: prepare the model, convert (re-converting while a softmax
input needs widening), write, compile and C-simulate, record; the project is built in a temporary
directory and renamed into place."""

from __future__ import annotations

import contextlib
import io
import shutil
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np

from export.errors import ExportError
from export.targets.hls4ml.config import build_config, convert, softmax_inputs_widened
from export.targets.hls4ml.options import SYNTH_TOOLS, HlsOptions, HlsResult
from export.targets.hls4ml.support import (
    KERAS2_PARSER_ONLY,
    check_supported,
    io_type_for,
    keras2_twin,
    without_reserved_names,
)
from export.targets.hls4ml.synth import synthesize
from zoo.core.introspect import all_layers
from zoo.core.io import write_text_atomic
from zoo.core.transaction import replace_dir_atomically, scratch_beside


def export_hls(
    model,
    out_dir,
    *,
    world: str,
    x_profile: np.ndarray,
    x_test: np.ndarray,
    opts: HlsOptions | None = None,
    optimize: str = "-O3",
    build_gate=contextlib.nullcontext,
) -> HlsResult:
    """Convert, write and compile ``model`` into ``out_dir``; C-simulate it on ``x_test``.

    The project is built in a temporary directory next to ``out_dir`` and renamed when done.
    ``optimize``: g++'s optimization flag for the C simulation library (hls4ml's is -O3; the
    precision search compiles its candidates with -O1: faster to build, the same integer
    arithmetic, and unlike -O0 fast to simulate -- a LeNet-5 sample takes 0.34 s at -O0, 0.012 s
    at -O1). ``build_gate``: a context manager entered around the g++ build
    alone (the precision search builds two candidates at once and serializes the rest).
    """
    opts = opts or HlsOptions()  # checked once, where the export options were built
    check_supported(model, world)
    model, world, parser = _parser_for(model, world)
    conv_model, renamed = without_reserved_names(model, world)
    io_type = opts.io_type or io_type_for(model)
    out_dir = Path(out_dir)
    # fresh directories this call creates (never a path someone else may own), removed in finally
    work, scratch = scratch_beside(out_dir, "partial"), scratch_beside(out_dir, "scratch")
    try:
        x_prof = np.ascontiguousarray(x_profile[: opts.profile_samples], dtype=np.float32)
        cfg, precision = build_config(conv_model, world, x_prof, opts, io_type, scratch)
        hls_model = _convert_final(conv_model, world, cfg, precision, work, opts, io_type)
        y = _compile_and_simulate(hls_model, model.name, work, x_test, optimize, build_gate)
        synthesis = synthesize(hls_model, opts)
        info = _info(
            hls_model,
            opts,
            io_type=io_type,
            renamed=renamed,
            parser=parser,
            precision=precision,
            synthesis=synthesis,
        )
        _write_config_record(work, cfg)
        replace_dir_atomically(work, out_dir)
        fix_output_dir(out_dir, work)
        return HlsResult(out_dir, y, info)
    finally:
        for d in (work, scratch):
            shutil.rmtree(d, ignore_errors=True)


def _parser_for(model, world: str):
    """(model, world, parser name): a Keras 3 model with layers only hls4ml's Keras-2 parser reads
    goes through its tf-keras twin."""
    if world == "keras" and any(
        type(la).__name__ in KERAS2_PARSER_ONLY for la in all_layers(model)
    ):
        return keras2_twin(model), "tf_keras", "keras 2 (tf-keras twin, weights by name)"
    return model, world, "keras 3" if world == "keras" else "keras 2"


def _convert_final(
    conv_model, world: str, cfg: dict, precision: dict, work: Path, opts: HlsOptions, io_type: str
):
    """Convert; the final graph decides which tensor feeds each softmax, so convert again (at most
    three times) while a softmax input had to be widened."""
    hls_model = convert(conv_model, world, cfg, work, opts, io_type)
    for _ in range(3):
        if opts.precision == "default" or not softmax_inputs_widened(
            hls_model, cfg, precision["sources"]
        ):
            break
        shutil.rmtree(work, ignore_errors=True)
        hls_model = convert(conv_model, world, cfg, work, opts, io_type)
    return hls_model


def _compile_and_simulate(
    hls_model, name: str, work: Path, x_test: np.ndarray, optimize: str, build_gate
) -> np.ndarray:
    """Write the project, build the C-simulation library with g++ and run it on ``x_test``."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hls_model.write()
        if optimize != "-O3":
            script = work / "build_lib.sh"
            mode = script.stat().st_mode
            write_text_atomic(
                script, script.read_text().replace('CFLAGS="-O3 ', f'CFLAGS="{optimize} ')
            )
            script.chmod(mode)
    try:
        with build_gate():
            # g++ via build_lib.sh as written above, then the library loaded (ModelGraph.compile()
            # would write the project again, build_lib.sh's -O3 included)
            hls_model._compile()
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"hls4ml: C simulation build (g++) of {name!r} failed: {exc}") from exc
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = hls_model.predict(np.ascontiguousarray(x_test, dtype=np.float32))
    return np.asarray(y, dtype=np.float32).reshape(len(x_test), -1)


def _info(hls_model, opts: HlsOptions, *, io_type, renamed, parser, precision, synthesis) -> dict:
    """What the manifest records about the project."""
    return {
        "backend": opts.backend,
        "io_type": io_type,
        "strategy": opts.strategy,
        "reuse_factor": opts.reuse_factor,
        "part": hls_model.config.get_config_value("Part"),
        "clock_period_ns": opts.clock_period,
        "project_name": opts.project_name,
        "renamed_layers": renamed,
        "parser": parser,
        "precision": precision,
        "layer_types": layer_types(hls_model),
        "weight_storage": weight_storage(hls_model),
        "c_simulation": "compiled with g++ and run on the parity inputs",
        "synthesis": synthesis,
        "options": asdict(opts),
    }


def adopt(res: HlsResult, out_dir, opts: HlsOptions) -> HlsResult:
    """Move a finished project (the precision search's confirmed choice) to ``out_dir``."""
    out_dir = Path(out_dir)
    old = res.project_dir
    replace_dir_atomically(old, out_dir)
    fix_output_dir(out_dir, old)
    tool = SYNTH_TOOLS[opts.backend]
    if opts.synth is True:
        raise ExportError(
            f"hls4ml: synthesis requested but {tool} ({opts.backend} HLS) is not on PATH"
        )
    why = (
        "synthesis not requested (synth=False)"
        if opts.synth is False
        else f"{tool} ({opts.backend} HLS) not on PATH"
    )
    info = {
        **res.info,
        "options": asdict(opts),
        "synthesis": {"run": False, "why": why},
        "c_simulation": "compiled with g++ (-O1) and run on the parity inputs by the precision search",
    }
    return HlsResult(out_dir, res.outputs, info)


def layer_types(hls_model) -> list[dict]:
    """Per hls4ml layer: class, output type and weight types (what the firmware computes in)."""
    rows = []
    for node in hls_model.get_layers():
        row = {
            "name": node.name,
            "class": node.class_name,
            "result": str(node.get_output_variable().type.precision),
        }
        for var, w in node.weights.items():
            row[var] = str(w.type.precision)
            if var == "weight":
                row["nonzero_weights"] = int(np.count_nonzero(np.asarray(w.data)))
        if node.get_attr("accum_t") is not None:
            row["accum"] = str(node.get_attr("accum_t").precision)
        rows.append(row)
    return rows


def weight_storage(hls_model) -> dict:
    """Weights and biases as the firmware holds them: counts and bits (total and non-zero)."""
    n = nz = bits = nz_bits = 0
    for node in hls_model.get_layers():
        for w in node.weights.values():
            data = np.asarray(w.data)
            width = getattr(w.type.precision, "width", 32)
            k = int(data.size)
            z = int(np.count_nonzero(data))
            n, nz, bits, nz_bits = n + k, nz + z, bits + k * width, nz_bits + z * width
    return {"weights": n, "nonzero_weights": nz, "bits": bits, "nonzero_bits": nz_bits}


def _write_config_record(project: Path, cfg: dict):
    import json

    from zoo.core.io import _json_default

    write_text_atomic(
        project / "edgezoo_hls_config.json", json.dumps(cfg, indent=2, default=_json_default) + "\n"
    )


def fix_output_dir(project: Path, old: Path):
    """hls4ml records its output directory in hls4ml_config.yml; point it at the final place."""
    yml = project / "hls4ml_config.yml"
    if yml.exists():
        write_text_atomic(yml, yml.read_text().replace(str(old), str(project)))
