"""Writes deploy/nats/accounts.conf (and the Kubernetes copy) from the permission matrix in
fourlinks_cli.nats_accounts and the services' policies.

Run `uv run python tools/nats_accounts.py` after adding a policy; tests/test_deploy.py fails while
a shipped file (deploy/nats/ for compose, deploy/k8s/base/ for Kubernetes) differs from what this prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fourlinks_cli.nats_accounts import render

# Kubernetes gets its own copy: kustomize refuses files outside the kustomization's directory.
TARGETS = ("deploy/nats/accounts.conf", "deploy/k8s/base/accounts.conf")

__all__ = ["TARGETS", "render"]

if __name__ == "__main__":
    for name in TARGETS:
        target = Path(__file__).parent.parent / name
        target.write_text(render())
        sys.stdout.write(f"wrote {target}\n")
