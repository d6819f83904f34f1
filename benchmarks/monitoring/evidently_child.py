"""Child process run with the Evidently venv's Python (never imported by Shipyard): Evidently's
DataDriftPreset on the benchmark's Parquet files; prints one JSON line.

    $EVIDENTLY_VENV/bin/python benchmarks/monitoring/evidently_child.py REF CUR CONFIG_JSON

CONFIG_JSON: {"numerical": [...], "categorical": [...], "rows": null|int,
"num_method": null|str, "cat_method": null|str}. Per column it reports the method and
threshold Evidently chose and the value it computed; the decision follows Evidently's own
rules (p-value tests drift when p < threshold, KS when p <= threshold; distances when
value >= threshold).
"""

from __future__ import annotations

import json
import resource
import sys
import time

# ValueDrift's config names the method by its display name (automatic choice) or by the name it was given
P_VALUE_METHODS = {"K-S p_value": "ks", "chi-square p_value": "chisquare", "Z-test p_value": "z"}
P_VALUE_METHODS |= {v: v for v in P_VALUE_METHODS.values()}
DISTANCES = {"Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensenshannon", "PSI": "psi"}
DISTANCES |= {v: v for v in DISTANCES.values()}


def main() -> None:
    ref_path, cur_path, config_json = sys.argv[1:4]
    config = json.loads(config_json)
    started = time.perf_counter()
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    imported = time.perf_counter()
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    if config.get("rows"):
        ref, cur = ref.iloc[: config["rows"]], cur.iloc[: config["rows"]]
    definition = DataDefinition(numerical_columns=config["numerical"], categorical_columns=config["categorical"])
    loaded = time.perf_counter()
    preset_args = {k: config[k] for k in ("num_method", "cat_method") if config.get(k)}
    report = Report([DataDriftPreset(**preset_args)])
    snapshot = report.run(
        Dataset.from_pandas(cur, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition)
    )
    result = snapshot.dict()
    done = time.perf_counter()
    columns = {}
    for metric in result["metrics"]:
        cfg = metric["config"]
        if not cfg["type"].endswith("ValueDrift"):
            continue
        label, threshold, value = cfg["method"], float(cfg["threshold"]), float(metric["value"])
        if label in P_VALUE_METHODS:
            method = P_VALUE_METHODS[label]
            drifted = value <= threshold if method == "ks" else value < threshold
        else:
            method = DISTANCES.get(label, label)
            drifted = value >= threshold
        columns[cfg["column"]] = {"method": method, "statistic": value, "threshold": threshold, "drifted": drifted}
    out = {
        "evidently": evidently.__version__,
        "pandas": pd.__version__,
        "import_s": imported - started,
        "load_s": loaded - imported,
        "compute_s": done - loaded,
        "total_s": done - started,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "columns": columns,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
