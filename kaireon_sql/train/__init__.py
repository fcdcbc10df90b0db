"""`kaireon train MODEL_ID`: fit a gradient_boosted or neural_cf model (S8) on its training rows from the
warehouse and write its model file into the config folder (plan/trained.py reads it at compile time).

dataset.py: the training rows (impressions labelled by S8 attribution; a gradient_boosted model's
features from its feature log, as they were at decision time); gbm.py: scikit-learn's
HistGradientBoostingClassifier and its trees as `kaireon_sql.trees.Tree`; ncf.py: logistic matrix
factorisation in numpy; cli.py: the subcommand.
"""
