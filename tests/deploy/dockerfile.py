"""Just enough of a Dockerfile parser for the tests: instructions with continuation lines joined,
grouped by stage."""

import json
import re
import shlex

from cfn import REPO

DOCKERFILE = REPO / "Dockerfile"


def instructions(path=DOCKERFILE):
    """[(stage index, INSTRUCTION, argument text)], comments and parser directives left out."""
    out, stage, pending = [], -1, ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        word, _, rest = text.partition(" ")
        word = word.upper()
        if word == "FROM":
            stage += 1
        out.append((stage, word, rest.strip()))
    return out


def stages(path=DOCKERFILE):
    """[(FROM argument, [(INSTRUCTION, argument)])] per stage."""
    found = []
    for stage, word, rest in instructions(path):
        if word == "FROM":
            found.append((rest, []))
        elif stage >= 0:
            found[stage][1].append((word, rest))
    return found


def runtime(path=DOCKERFILE):
    """The instructions of the last stage (the image that ships)."""
    return stages(path)[-1][1]


def env(path=DOCKERFILE):
    """The last stage's ENV, as a dict (the KEY=VALUE form)."""
    values = {}
    for word, rest in runtime(path):
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                values[key] = value
    return values


def volumes(path=DOCKERFILE):
    found = []
    for word, rest in runtime(path):
        if word == "VOLUME":
            found += json.loads(rest) if rest.startswith("[") else rest.split()
    return found


def user(path=DOCKERFILE):
    (value,) = [rest for word, rest in runtime(path) if word == "USER"]
    return value


def healthcheck(path=DOCKERFILE):
    """({option: value}, [exec-form command])."""
    (text,) = [rest for word, rest in runtime(path) if word == "HEALTHCHECK"]
    options = dict(re.findall(r"--([a-z-]+)=(\S+)", text))
    command = json.loads(text[text.index("CMD") + 3:].strip())
    return options, command


def seconds(duration):
    """Docker's 30s / 2m / 1m30s as seconds."""
    total = 0
    for number, unit in re.findall(r"([0-9]+)(h|m|s|ms)", duration):
        total += int(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total
