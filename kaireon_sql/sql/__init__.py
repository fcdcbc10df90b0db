"""SQL builders, one module per stage, reading only the FlowPlan."""
