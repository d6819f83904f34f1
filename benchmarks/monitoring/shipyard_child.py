"""Child process: Shipyard's drift engine on the benchmark's Parquet files; prints one JSON line.

    .venv/bin/python benchmarks/monitoring/shipyard_child.py MODE REF CUR SPEC_JSON [ROWS]

MODE: ``arrow`` (pyarrow.parquet.read_table, then detect_drift), ``dataframe``
(pandas.read_parquet, then detect_drift), ``parquet`` (detect_drift_parquet: one column at
a time), ``stream`` (profile_batches over 64k-row record batches, then compare_profiles).
``ROWS`` keeps only the first rows (agreement runs).
Wall times are measured here; peak RSS is this process's ``ru_maxrss``.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main() -> None:
    mode, ref_path, cur_path, spec_json = sys.argv[1:5]
    rows = int(sys.argv[5]) if len(sys.argv) > 5 else None
    started = time.perf_counter()
    import pyarrow.parquet as pq

    from shipyard.monitoring import (
        DriftSpec,
        compare_profiles,
        detect_drift,
        detect_drift_parquet,
        profile_batches,
    )

    spec = DriftSpec.model_validate_json(spec_json)
    imported = time.perf_counter()
    if mode == "dataframe":
        import pandas as pd

        ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
        if rows is not None:
            ref, cur = ref.iloc[:rows], cur.iloc[:rows]
        loaded = time.perf_counter()
        report = detect_drift(ref, cur, spec)
    elif mode == "arrow":
        ref, cur = pq.read_table(ref_path), pq.read_table(cur_path)
        if rows is not None:
            ref, cur = ref.slice(0, rows), cur.slice(0, rows)
        loaded = time.perf_counter()
        report = detect_drift(ref, cur, spec)
    elif mode == "parquet":
        loaded = time.perf_counter()
        report = detect_drift_parquet(ref_path, cur_path, spec)
    elif mode == "stream":
        loaded = time.perf_counter()
        ref_profile = profile_batches(pq.ParquetFile(ref_path).iter_batches(batch_size=65_536))
        cur_profile = profile_batches(pq.ParquetFile(cur_path).iter_batches(batch_size=65_536))
        report = compare_profiles(ref_profile, cur_profile, spec)
    else:
        raise SystemExit(f"unknown mode {mode}")
    done = time.perf_counter()
    out = {
        "import_s": imported - started,
        "load_s": loaded - imported,
        "compute_s": done - loaded,
        "total_s": done - started,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "columns": {
            c.column: {"method": c.method, "statistic": c.statistic, "threshold": c.threshold, "drifted": c.drifted}
            for c in report.columns
        },
        "dataset_drift": report.dataset_drift,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
