"""One module per pipeline stage of a Decision Flow, each turning typed config into sqlglot trees."""
