"""Typed records: every file one verb writes and another reads, defined once (torch-free).

Each record is a pydantic model with a `schema_version`. Writers build the model and call
`write_record`; readers call `read_record` (or `try_read_record` where a missing or foreign file
is a normal state, as in the web UI). One module per wing of the workflow:

    base.py       the versioned record, read/write helpers, RecordError
    train.py      training-history rows, training-stats.json, outputs/forge-run.json
    evaluate.py   metrics/baseline.json, metrics/evaluation.json
    export.py     metrics/export-report.json
    checklists.py the before-training and outputs checklists (forge check / forge verify --json)
    runs.py       metrics/runs.jsonl, a line at the start and end of each run (forge runs)
"""
