#!/usr/bin/env python3
"""What the task definition of deploy/consumer.yaml gives the container, for tests/image/run.sh:

  stop_timeout=<StopTimeout, seconds>
  user=<User>
  readonly_root=<true|false>
  env <NAME>=<value>            one line per Environment entry, in the template's order

Resolved the way CloudFormation would for the first of tests/deploy/cfn.py's parameter sets, so the
container test runs with the figures a stack gets, not with copies of them. Needs PyYAML (the deploy
tests' virtual environment)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))
import cfn  # noqa: E402


def main():
    (_, resolver), *_ = cfn.scenarios(cfn.load())
    container = resolver.container()
    print(f"stop_timeout={int(container['StopTimeout'])}")
    print(f"user={container['User']}")
    print(f"readonly_root={str(container.get('ReadonlyRootFilesystem', False)).lower()}")
    for entry in container.get("Environment", []):
        value = str(entry["Value"])
        if "\n" in value:
            sys.exit(f"task.py: the value of {entry['Name']} holds a line break")
        print(f"env {entry['Name']}={value}")


if __name__ == "__main__":
    main()
