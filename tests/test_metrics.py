import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from factory_ai.vision.metrics import evaluate, plot_confusion, summary


def test_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 300)
    y_pred = np.where(rng.random(300) < 0.8, y_true, rng.integers(0, 4, 300))
    result = evaluate(y_true, y_pred, ["a", "b", "c", "d"])
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2, 3], zero_division=0)
    assert np.allclose([result["per_class"][c]["precision"] for c in "abcd"], p)
    assert np.allclose([result["per_class"][c]["recall"] for c in "abcd"], r)
    assert np.allclose([result["per_class"][c]["f1"] for c in "abcd"], f)
    assert result["confusion"]["matrix"] == confusion_matrix(y_true, y_pred).tolist()
    assert result["accuracy"] == np.mean(y_true == y_pred)


def test_escape_and_false_reject_rates() -> None:
    classes = ["good", "scratch", "spot"]
    # 4 good (1 rejected as scratch), 6 defects (2 passed as good, 1 scratch called spot).
    y_true = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    y_pred = [0, 0, 0, 1, 0, 1, 2, 2, 0, 2]
    result = evaluate(np.array(y_true), np.array(y_pred), classes, ["good"])
    assert result["escape_rate"] == 2 / 6
    assert result["false_reject_rate"] == 1 / 4
    assert "escape rate 33.33%" in summary(result)


def test_confusion_plot_is_a_png(tmp_path) -> None:
    result = evaluate(np.array([0, 1, 1]), np.array([0, 1, 0]), ["good", "bad"])
    path = plot_confusion(result, tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
