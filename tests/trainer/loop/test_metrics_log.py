"""metrics.jsonl on rank 0: records appended, and cut back to a resumed checkpoint's step."""
import json

from trainer.loop.metrics_log import METRICS_NAME, MetricsLog


def _steps(folder):
    return [json.loads(line)["step"] for line in (folder / METRICS_NAME).read_text().splitlines()]


def test_a_resumed_log_drops_the_records_after_its_checkpoint(tmp_path):
    (tmp_path / METRICS_NAME).write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n"
                                                 for s in (2, 4, 6)))
    log = MetricsLog(tmp_path, enabled=True, resume_step=4)
    assert _steps(tmp_path) == [2, 4]
    log.write({"step": 5, "loss": 0.5})
    log.close()
    assert _steps(tmp_path) == [2, 4, 5]


def test_other_ranks_write_nothing(tmp_path):
    log = MetricsLog(tmp_path / "run", enabled=False, resume_step=0)
    log.write({"step": 1, "loss": 1.0})
    log.close()
    assert not (tmp_path / "run").exists()
