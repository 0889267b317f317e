"""The studies application: small-scale reproductions of the papers' ablations on real photographs.

An application over the library (degrade, pipelines, trainer), not part of it: no library module
imports from here, and it is not installed with the packages; `bench/reproduce.py` (and the
tests, through pytest's `pythonpath`) put the repository root on the import path.

One job per module: `scales` (what each scale runs), `datafolder` (checks and lists the data
folder), `downstream` (the five fine-tuning tasks as in-memory pairs), `pretraining` (shards and
pre-trained models per mode), `finetuning` (one fine-tuning run and its evaluation),
`reproduction` (the CoLoRA paper's two studies end to end, into one results dict), `plots` (the
charts), `environment` (hardware and machine load), `report` (results.md). `bench/reproduce.py` is
the command line over `reproduction.run_reproduction` and `report.write_report`.
"""
