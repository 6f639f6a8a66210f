"""The job submitter: stack outputs + a job spec → spark-submit on EKS, or the same job locally.

`jobs.spec` validates a job spec, `jobs.outputs` reads the stack's outputs, `jobs.command`
turns both into a spark-submit argv (pure), `jobs.launch` and `jobs.kube` do the I/O, and
`python -m jobs` is the thin CLI on top.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POD_TEMPLATE_DIR = PROJECT_ROOT / "pod_templates"
