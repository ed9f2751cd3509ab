"""One score row per model, a Markdown comparison table and the report.md that holds it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

MISSING = "—"
TABLE_COLUMNS = ("Model", "Accuracy", "Precision", "Recall", "F1", "ROC AUC", "ms/image")


@dataclass(frozen=True)
class ModelScore:
    """A model's test-set scores (macro averages), single-image latency and cross-validation accuracy."""

    model: str
    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float | None
    ms_per_image: float
    cv_accuracy_mean: float | None = None
    cv_accuracy_std: float | None = None

    @classmethod
    def from_metrics(cls, model: str, metrics: dict, timing: dict, cv: dict | None) -> ModelScore:
        """Build from `classification_metrics`, `time_per_image` and an optional CV summary."""
        macro = metrics["macro_avg"]
        return cls(
            model=model,
            accuracy=float(metrics["accuracy"]),
            precision=float(macro["precision"]),
            recall=float(macro["recall"]),
            f1=float(macro["f1"]),
            roc_auc=_optional_float(metrics["roc"]["auc"]),
            ms_per_image=float(timing["single_ms"]),
            cv_accuracy_mean=_optional_float(cv["accuracy_mean"]) if cv else None,
            cv_accuracy_std=_optional_float(cv["accuracy_std"]) if cv else None,
        )

    def to_dict(self) -> dict:
        return asdict(self)


def comparison_table(scores: Sequence[ModelScore], *, cv_folds: int = 5) -> str:
    """A Markdown table, one row per model: scores to 4 decimals, latency to 2, "—" where unknown."""
    header = [*TABLE_COLUMNS, f"{cv_folds}-fold CV accuracy"]
    lines = [_row(header), _row(["---"] * len(header))]
    for score in scores:
        lines.append(
            _row(
                [
                    score.model,
                    _number(score.accuracy, 4),
                    _number(score.precision, 4),
                    _number(score.recall, 4),
                    _number(score.f1, 4),
                    _number(score.roc_auc, 4),
                    _number(score.ms_per_image, 2),
                    _cv(score),
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


def _cv(score: ModelScore) -> str:
    if score.cv_accuracy_mean is None:
        return MISSING
    if score.cv_accuracy_std is None:
        return f"{score.cv_accuracy_mean:.4f}"
    return f"{score.cv_accuracy_mean:.4f} ± {score.cv_accuracy_std:.4f}"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
