"""`trainer restore|eval --adapters`, `--explain` and `trainer tasks make-mixed` end to end,
and each bad input of issue 12 as one line."""
import pytest
from click.testing import CliRunner

from trainer.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_restore_prints_the_weights_of_every_image_and_explains(kit, tmp_path):
    result = invoke("restore", kit / "base.safetensors", kit / "mixed" / "lq", "--out",
                    tmp_path / "out", "--adapters", kit / "adapters", "--estimator",
                    kit / "estimator.safetensors", "--top-k", "2", "--explain",
                    tmp_path / "why.png")
    assert result.exit_code == 0, result.output
    for stem in ("img0", "img1", "img2"):
        line = result.output.split(f"{stem}.png: ", 1)[1].splitlines()[0]
        assert line.startswith("blur ") and ", jpeg " in line and ", noise " in line
    assert "auto weights, mean: blur" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0.png", "img1.png",
                                                                    "img2.png"]
    assert (tmp_path / "why.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_with_oracle_weights(kit, tmp_path):
    result = invoke("eval", kit / "base.safetensors", "--data", kit / "mixed", "--adapters",
                    f"{kit / 'adapters' / 'noise.safetensors'},{kit / 'adapters' / 'blur.safetensors'}",
                    "--weights", "oracle", "--labels", kit / "mixed" / "labels.json",
                    "--similarity", "probability", "--normalise", "sum", "--out",
                    tmp_path / "eval.csv", "--quiet")
    assert result.exit_code == 0, result.output
    assert "oracle weights, mean: noise 0.50, blur 0.50" in result.output
    assert (tmp_path / "eval.csv").read_text().count("\n") == 5  # header, 3 images, mean


def test_make_mixed_writes_sets_and_keeps_existing_ones(tmp_path):
    args = ("tasks", "make-mixed", "--out", tmp_path / "m", "--mixtures", "noise+jpeg",
            "--strengths", "heavy", "--crop", "24")
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert "1 mixed set(s)" in first.output
    folder = tmp_path / "m" / "noise+jpeg-heavy"
    assert (folder / "labels.json").is_file() and len(list((folder / "lq").iterdir())) > 0
    again = invoke(*args)
    assert again.exit_code == 2 and "already exists" in again.output


def _one_line_error(result, code, text):
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and text in errors[0], result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case,extra,code,text", [
    ("different bases", ["--adapters", "{k}/adapters/blur.safetensors,{k}/foreign.safetensors",
                         "--weights", "1,1"], 1, "different base model"),
    ("unknown task ops", ["--adapters", "{k}/adapters/blur.safetensors,{k}/haze.safetensors",
                          "--estimator", "{k}/estimator.safetensors"], 1,
     "restores haze, which the estimator does not know"),
    ("weight count", ["--adapters", "{k}/adapters", "--weights", "0.5,0.5"], 2,
     "2 weight(s) given for 3 adapter(s)"),
    ("auto without estimator", ["--adapters", "{k}/adapters"], 2, "trainer estimator train"),
    ("oracle without labels", ["--adapters", "{k}/adapters", "--weights", "oracle"], 2,
     "--labels"),
    ("adapter and adapters", ["--adapter", "{k}/haze.safetensors", "--adapters", "{k}/adapters",
                              "--weights", "1,1,1"], 2, "exclude each other"),
    ("explain alone", ["--explain", "{t}/x.png"], 2, "give --adapters too"),
    ("missing adapter", ["--adapters", "{k}/nope", "--weights", "1"], 2, "no such adapter"),
    ("labels without adapters", ["--labels", "{k}/mixed"], 2, "add --adapters"),
    ("estimator without a use", ["--estimator", "{k}/estimator.safetensors"], 2,
     "--estimator serves --weights auto"),
])
def test_bad_inputs_are_one_line(kit, tmp_path, case, extra, code, text):
    extra = [part.format(k=kit, t=tmp_path) for part in extra]
    result = invoke("restore", kit / "base.safetensors", kit / "mixed" / "lq", "--out",
                    tmp_path / "out", *extra)
    _one_line_error(result, code, text)
    assert not (tmp_path / "out").exists()


def test_eval_bad_weights_are_one_line(kit, tmp_path):
    result = invoke("eval", kit / "base.safetensors", "--data", kit / "mixed", "--adapters",
                    kit / "adapters", "--weights", "1,x,2", "--out", tmp_path / "e.csv")
    _one_line_error(result, 2, "is not auto, oracle or a comma-separated list")


def test_eval_refuses_labels_it_would_not_read(kit, tmp_path):
    result = invoke("eval", kit / "base.safetensors", "--data", kit / "mixed", "--labels",
                    kit / "mixed", "--out", tmp_path / "e.csv")
    _one_line_error(result, 2, "add --adapters")
    assert not (tmp_path / "e.csv").exists()
