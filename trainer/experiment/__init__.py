"""Small-scale reproduction of the CoLoRA paper's two ablations on real photographs.

One job per module: `scales` (what each scale runs), `datafolder` (checks and lists the data
folder), `downstream` (the five fine-tuning tasks as in-memory pairs), `pretraining` (shards and
pre-trained models per mode), `finetuning` (one fine-tuning run and its evaluation), `studies`
(both studies end to end, into one results dict), `plots` (the charts), `environment` (hardware
and machine load), `report` (results.md). `bench/reproduce.py` is the command line over
`studies.run_reproduction` and `report.write_report`.
"""
