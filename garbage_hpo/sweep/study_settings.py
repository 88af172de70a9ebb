"""A study remembers the fixed settings its trials were measured under, so continuing it under others (another
`sweep.cv_folds`, photo set, image size, weights, taps, ...) cannot rank values that mean different things
together: one-split values of another dataset against 5-fold means. The refusal names the differing keys."""

from __future__ import annotations

import hashlib

import optuna

from garbage_hpo.data import DatasetIndex
from garbage_hpo.sweep.space import SearchSpace

SETTINGS_ATTR = "fixed_settings"
PHOTOS_KEY = "data.photos"  # stands for data.root: the content of the training photos, wherever they lie
# keys that do not change what a trial's value means: how a sweep runs and records, where, how fast
IGNORED_PREFIXES = ("sweep.", "tracking.", "hydra.")
IGNORED_KEYS = {"runs_dir", "data.root", "data.batch_size", "data.feature_engine"}
MEASURING_SWEEP_KEYS = {"sweep.cv_folds"}  # the one sweep key that changes how a value is measured
# keys added after studies were recorded, with the value that means what those studies' trials did
LATER_KEYS = {"features.train_views": "0", "features.view_seed": "0"}


def photo_set(index: DatasetIndex) -> str:
    """A hash of the training photos' names and contents (val/ is never seen by a sweep)."""
    digest = hashlib.sha256()
    for sample in index.samples:
        if sample.subset == "train":
            digest.update(f"{sample.path.relative_to(index.root).as_posix()}\0{sample.digest}\n".encode())
    return f"{sum(s.subset == 'train' for s in index.samples)} photos, sha256 {digest.hexdigest()[:16]}"


def fixed_settings(flat_config: dict[str, str], space: SearchSpace, index: DatasetIndex) -> dict[str, str]:
    """Every config value (`flat_config`: the sweep's config flattened, unresolved) the search space does not set
    and that changes what a trial's value means."""
    sampled = {p.key for p in space.params if not p.is_switch}
    groups = {p.key for p in space.params if p.is_group}  # a group chosen per trial: all of its keys vary
    kept = {k: v for k, v in flat_config.items()
            if (k in MEASURING_SWEEP_KEYS or not k.startswith(IGNORED_PREFIXES)) and k not in IGNORED_KEYS
            and k not in sampled and k.split(".")[0] not in groups}
    return kept | {PHOTOS_KEY: photo_set(index)}


def check_study_settings(study: optuna.Study, settings: dict[str, str], allow_change: bool) -> None:
    """Refuse to continue a study whose trials were measured under other fixed settings; record them on a new
    (or allowed) one. Studies recorded before settings were kept are taken as they are."""
    recorded = study.user_attrs.get(SETTINGS_ATTR)
    if recorded is not None:
        recorded = LATER_KEYS | recorded
    if study.trials and recorded is not None and not allow_change:
        differing = sorted(k for k in set(recorded) | set(settings) if recorded.get(k) != settings.get(k))
        if differing:
            shown = "; ".join(f"{k}: {recorded.get(k, '(unset)')} -> {settings.get(k, '(unset)')}"
                              for k in differing[:6])
            more = f" (and {len(differing) - 6} more)" if len(differing) > 6 else ""
            raise ValueError(
                f"sweep.study_name={study.study_name}: this study's trials were measured under other fixed "
                f"settings: {shown}{more}. Their values would be ranked against values that mean something else. "
                "Use the study's settings, choose another sweep.study_name, or continue on purpose with "
                "sweep.allow_space_change=true")
    study.set_user_attr(SETTINGS_ATTR, settings)
