"""bench_serve's MLflow side (runs in the MLflow venv): save the champion model as an MLflow model.

    python _mlflow_serve_side.py MODEL_DIR

Trains the same LogisticRegression as the mlnb side (`_wine.train`) and saves it with
`mlflow.sklearn.save_model` (with its signature) to MODEL_DIR, which `mlflow models serve -m` serves.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _wine import CHAMPION_C, train, wine  # noqa: E402


def main(target: Path) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    model = train(CHAMPION_C)
    x, _ = wine()
    shutil.rmtree(target, ignore_errors=True)
    mlflow.sklearn.save_model(model, str(target), signature=infer_signature(x, model.predict(x)))
    print("saved", target)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
