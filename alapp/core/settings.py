"""Per-project settings with their defaults. Stored as key/value rows in the project file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class ProjectSettings:
    name: str = "Untitled"
    seed: int = 0
    multi_label: bool = False
    strategy: str = "uncertainty-cluster"  # measured best in early rounds: docs/simulation
    batch_size: int = 20
    random_share: float = 0.1
    retrain_every: int = 10  # labels between background retrains; 0: manual (Ctrl+R)
    featurizer: str = "auto"  # auto | minilm | e5 | tfidf | vectors:NAME | a model folder
    classifier: str = "logreg"  # logreg | mlp | committee | finetune (fusion: automatic)
    model_folder: str = ""  # the transformer to fine-tune; blank: the bundled MiniLM
    device: str = "auto"  # auto | cpu | cuda
    mc_samples: int = 20
    cost_model: str = "learned"  # equal | length | learned (the length model until data)
    cost_aware: bool = False  # rank by ROI = normalised utility / predicted cost
    price_cap_s: float = 0.0  # never ask for items predicted to take longer; 0: no cap
    target_accuracy: float = 0.0  # stop signal on the test set; 0: none
    stop_set_size: int = 1000  # fixed random pool items for the stabilizing-predictions signal
    budget_unit: str = "items"  # items | hours | money
    budget_amount: float = 0.0  # 0 means no budget set
    hourly_rate: float = 0.0
    currency: str = "EUR"
    idle_cutoff_s: float = 60.0

    @classmethod
    def from_rows(cls, rows: dict[str, Any]) -> ProjectSettings:
        """Build from stored rows, ignoring keys a newer alapp may have written."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in rows.items() if k in known})

    def as_rows(self) -> dict[str, Any]:
        return asdict(self)
