"""The MLflow Model Registry entry of a model a person can use: one registered model, an alias for the winner."""

from __future__ import annotations

import json

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from garbage_hpo.deploy.model_ref import DEFAULT_ALIAS, REGISTERED_MODEL

DESCRIPTION = ("MobileNet garbage classifier (26 classes, 4 categories) re-trained by `make reproduce-best` from a "
               "sweep's best trial, or an ensemble of its trials' heads when that measured better: each version's "
               "description and tags (shipped, members, member_weights, quote) say which, with the figure to quote. "
               "Each version's run holds model/model.ckpt, model/model.mindir and model/model.json (what the "
               "network is first, then classes, preprocessing, input size).")


def card_tags(card: dict) -> dict[str, str]:
    """What a user of a registered version needs without downloading it."""
    return {
        "architecture": f"{card['architecture']} width {card['width']}",
        "input": f"RGB uint8 resized to {card['image_size']}x{card['image_size']}, NCHW float32",
        "image_size": str(card["image_size"]),
        "preprocessing": json.dumps(card["profile"], separators=(",", ":")),
        "num_classes": str(len(card["classes"])),
        "classes": json.dumps([f"{c['folder']} {c['english']} {c['chinese']}" for c in card["classes"]],
                              ensure_ascii=False, separators=(",", ":")),
    }


def register_version(client: MlflowClient, run_id: str, card: dict, tags: dict[str, str],
                     name: str = REGISTERED_MODEL, description: str | None = None) -> ModelVersion:
    try:
        client.create_registered_model(name, description=DESCRIPTION)
    except MlflowException as err:
        if "already exists" not in str(err).lower() and "RESOURCE_ALREADY_EXISTS" not in str(err):
            raise
        client.update_registered_model(name, description=DESCRIPTION)  # a store registered by an older version
    return client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id,
                                       tags=card_tags(card) | tags, description=description)


def promote(client: MlflowClient, version: ModelVersion, alias: str = DEFAULT_ALIAS) -> None:
    client.set_registered_model_alias(version.name, alias, version.version)
