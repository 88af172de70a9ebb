"""Resolve what a user calls "the model": a checkpoint path, an MLflow run id, or a registry alias.

    model=runs/models/<run id>/model.ckpt     a checkpoint with its model card (model.json) beside it
    model=runs/models/<run id>/model.mindir   the exported network (same card)
    model=<32-hex MLflow run id>              that run's `model/` artifacts
    model=champion | model=<name>@<alias>     a version of a registered model, by alias
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep CLI output to results
REGISTERED_MODEL = "garbage-hpo"
DEFAULT_ALIAS = "champion"
RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class ModelNotFoundError(FileNotFoundError):
    pass


def _download_run_model(client: MlflowClient, run_id: str, dst: Path, what: str) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    try:
        folder = Path(client.download_artifacts(run_id, "model", str(dst)))
    except (MlflowException, OSError) as err:
        raise ModelNotFoundError(f"model={what}: run {run_id} has no model/ artifacts ({err})") from err
    checkpoint = folder / "model.ckpt"
    if not checkpoint.is_file():
        raise ModelNotFoundError(f"model={what}: run {run_id} has no model/model.ckpt")
    return checkpoint


def resolve_model(ref: str | None, tracking_uri: str, cache_dir: Path) -> Path:
    """A local checkpoint path for `ref` (default: the `champion` alias of the registered model)."""
    ref = str(ref) if ref not in (None, "") else DEFAULT_ALIAS
    path = Path(ref).expanduser()
    if path.suffix in (".ckpt", ".mindir") or path.exists():
        if not path.is_file():
            raise ModelNotFoundError(f"model={ref}: no such checkpoint file")
        return path
    client = MlflowClient(tracking_uri=tracking_uri)
    if RUN_ID.match(ref):
        try:
            client.get_run(ref)
        except MlflowException as err:
            raise ModelNotFoundError(f"model={ref}: no MLflow run with this id in {tracking_uri}") from err
        return _download_run_model(client, ref, cache_dir / ref, ref)
    name, _, alias = ref.rpartition("@")
    name = name or REGISTERED_MODEL
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        raise ModelNotFoundError(
            f"model={ref}: not a checkpoint path, an MLflow run id, or an alias of registered model {name!r} "
            f"in {tracking_uri} (`make reproduce-best` registers the champion)") from err
    if not version.run_id:
        raise ModelNotFoundError(f"model={ref}: registered version {version.version} has no source run")
    return _download_run_model(client, version.run_id, cache_dir / f"{name}-v{version.version}", ref)
