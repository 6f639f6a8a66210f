"""CrossGuard guardrails for spark-eks-spot: pure rules, the pack's policies, an offline check."""
