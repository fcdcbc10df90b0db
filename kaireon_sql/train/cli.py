"""`kaireon train MODEL_ID`: read the training rows through dbt, fit (seeded), write the model file."""
from __future__ import annotations



def add_subcommand(sub) -> None:
    t = sub.add_parser("train", help="fit a gradient_boosted or neural_cf model on the warehouse's history; "
                                     "writes its model file into the config folder")
    t.add_argument("model_id", help="the algorithm model (id or name)")
    t.add_argument("--project-dir", default=".", help="the dbt project (default: current directory)")
    t.add_argument("--config", help="config folder (default: <project>/decisioning)")
    t.add_argument("--profiles-dir", help="folder of profiles.yml (default: as dbt looks it up)")
    t.add_argument("--target", help="dbt target (default: the profile's)")
    t.add_argument("--engine", help="the target's engine, when it cannot be read from the profile")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0): same rows and seed, same file")
    t.add_argument("--as-of", help="train on history up to this time (UTC; default: now)")
    t.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from .command import train  # lazy: scikit-learn, numpy and dbt load only when a model is trained

    return train(args)
