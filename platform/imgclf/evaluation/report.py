"""One score row per model, a Markdown comparison table and the report.md that holds it."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

MISSING = "—"
TABLE_COLUMNS = ("Model", "Accuracy [95% CI]", "Precision", "Recall", "F1", "ROC AUC", "ECE (raw → calibrated)",
                 "ms/image")


@dataclass(frozen=True)
class ModelScore:
    """A model's test-set scores (macro averages, accuracy with its bootstrap interval), calibration error before
    and after temperature scaling, single-image latency, cross-validation accuracy, and McNemar's test against
    the run's reference model (`versus`, set by `compared_with`)."""

    model: str
    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float | None
    ms_per_image: float
    accuracy_ci95: tuple[float, float] | None = None
    ece_uncalibrated: float | None = None
    ece: float | None = None
    cv_accuracy_mean: float | None = None
    cv_accuracy_std: float | None = None
    versus: dict[str, Any] | None = None  # {"reference", "p_value", "significant", ...}

    @classmethod
    def from_metrics(cls, model: str, evaluation: Mapping[str, Any]) -> ModelScore:
        """Build from `evaluate_classifier`'s result: its `test`, `timing`, and optional `calibration` and `cv`."""
        metrics, cv, calibration = evaluation["test"], evaluation.get("cv"), evaluation.get("calibration")
        macro = metrics["macro_avg"]
        interval = metrics.get("accuracy_ci95")
        return cls(
            model=model,
            accuracy=float(metrics["accuracy"]),
            precision=float(macro["precision"]),
            recall=float(macro["recall"]),
            f1=float(macro["f1"]),
            roc_auc=_optional_float(metrics["roc"]["auc"]),
            ms_per_image=float(evaluation["timing"]["single_ms"]),
            accuracy_ci95=(float(interval[0]), float(interval[1])) if interval else None,
            ece_uncalibrated=float(calibration["before"]["ece"]) if calibration else None,
            ece=float(calibration["after"]["ece"]) if calibration else None,
            cv_accuracy_mean=_optional_float(cv["accuracy_mean"]) if cv else None,
            cv_accuracy_std=_optional_float(cv["accuracy_std"]) if cv else None,
        )

    def compared_with(self, reference: str, test: Mapping[str, Any]) -> ModelScore:
        """This score with McNemar's result (`significance.mcnemar`, this model first) against `reference`."""
        return dataclasses.replace(self, versus={"reference": reference, **test})

    def to_dict(self) -> dict:
        return asdict(self)


def comparison_table(scores: Sequence[ModelScore], *, cv_folds: int = 5) -> str:
    """A Markdown table, one row per model: scores to 4 decimals, latency to 2, "—" where unknown; the last column
    is McNemar's p-value against the reference model, in bold when the difference is significant."""
    reference = next((score.versus["reference"] for score in scores if score.versus), None)
    header = [*TABLE_COLUMNS, f"{cv_folds}-fold CV accuracy", f"McNemar p vs {reference or 'reference'}"]
    lines = [_row(header), _row(["---"] * len(header))]
    for score in scores:
        lines.append(
            _row(
                [
                    score.model,
                    _accuracy(score),
                    _number(score.precision, 4),
                    _number(score.recall, 4),
                    _number(score.f1, 4),
                    _number(score.roc_auc, 4),
                    _ece(score),
                    _number(score.ms_per_image, 2),
                    _cv(score),
                    _versus(score),
                ]
            )
        )
    return "\n".join(lines) + "\n"


def write_report(
    path: str | Path,
    *,
    title: str,
    scores: Sequence[ModelScore],
    sections: Mapping[str, str] | None = None,
    cv_folds: int = 5,
) -> Path:
    """Write `# title`, the comparison table, then each extra section (heading → Markdown body) in order."""
    parts = [f"# {title}", "## Comparison", comparison_table(scores, cv_folds=cv_folds).rstrip("\n")]
    for heading, body in (sections or {}).items():
        parts.extend([f"## {heading}", body.strip("\n")])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _number(value: float | None, decimals: int) -> str:
    return MISSING if value is None else f"{value:.{decimals}f}"


def _accuracy(score: ModelScore) -> str:
    if score.accuracy_ci95 is None:
        return _number(score.accuracy, 4)
    low, high = score.accuracy_ci95
    return f"{score.accuracy:.4f} [{low:.3f}, {high:.3f}]"


def _ece(score: ModelScore) -> str:
    if score.ece is None:
        return MISSING
    return f"{score.ece_uncalibrated:.4f} → {score.ece:.4f}"


def _cv(score: ModelScore) -> str:
    if score.cv_accuracy_mean is None:
        return MISSING
    if score.cv_accuracy_std is None:
        return f"{score.cv_accuracy_mean:.4f}"
    return f"{score.cv_accuracy_mean:.4f} ± {score.cv_accuracy_std:.4f}"


def _versus(score: ModelScore) -> str:
    if score.versus is None:
        return MISSING
    p_value = f"{score.versus['p_value']:.3g}"
    return f"**{p_value}**" if score.versus["significant"] else p_value


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
