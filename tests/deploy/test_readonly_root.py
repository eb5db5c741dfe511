"""The image's run.sh on a read-only root filesystem, as the task definition runs it: /app laid out
by the Dockerfile's COPY lines, the image's ENV and the task's environment, the task's volumes
writable and owned as ECS copies them from the image's VOLUMEs, the non-root user. A stand-in for
the JVM starts the real record_processor on one lease. Needs root (mount namespace, chroot):
skipped elsewhere, with the reason."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import cfn
import dockerfile
import iam

HARNESS = Path(__file__).with_name("readonly-root.sh")
BINARY = cfn.REPO / "target" / "ship" / "record_processor"
SHARD = "shardId-000000000000"
RECORD = "hello from a read-only root"
# Empty jars named like the ones the image ships: set_properties.sh and check-properties read the version.
KCL = ".".join(str(n) for n in iam.shipped_kcl_version())

FAKE_JAVA = r"""#!/usr/bin/env bash
# Stand-in for the MultiLangDaemon's JVM: writes where the JVM's temporary files go, starts the
# processor of executableName on one lease, and on SIGTERM ends it the way the daemon does (EOF).
set -u
tmpdir=/tmp props=""
for arg in "$@"; do
  case "$arg" in -Djava.io.tmpdir=*) tmpdir="${arg#*=}" ;; esac
done
while (( $# )); do if [[ "$1" == --properties-file ]]; then props="$2"; fi; shift; done
if tmp="$(mktemp "$tmpdir/fake-jvm.XXXXXX")"; then
  echo "fake-java: java.io.tmpdir $tmpdir is writable" >&2; rm -f -- "$tmp"
else
  echo "fake-java: java.io.tmpdir $tmpdir is NOT writable" >&2
fi
exe="$(sed -n 's/^executableName = //p' "$props")"
read -r -a words <<< "$exe"
term=0
trap 'term=1' TERM
coproc PROCESSOR { exec "${words[@]}"; }
# bash unsets PROCESSOR_PID once it has reaped the coprocess; wait still knows the status by the pid.
processor_pid="$PROCESSOR_PID" to_processor="${PROCESSOR[1]}"
printf '%s\n' "$FAKE_INIT" "$FAKE_BATCH" >&"$to_processor"
while (( ! term )); do sleep 0.1; done
exec {to_processor}>&-
wait "$processor_pid"
echo "fake-java: the processor exited with status $?" >&2
"""


class ReadOnlyRootFilesystem(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BINARY.exists():
            raise unittest.SkipTest(f"{BINARY} is missing: run scripts/build-release.sh first")
        (_, resolver), *_ = cfn.scenarios(cfn.load())
        cls.container = resolver.container()

    def prepare(self, work, volumes, owned=True):
        """WORK as readonly-root.sh reads it; `volumes` = [(name, container path)] to mount."""
        app = work / "app"
        for word, rest in dockerfile.runtime():
            if word != "COPY":
                continue
            args = rest.split()
            flags = [a for a in args if a.startswith("--")]
            *sources, dest = [a for a in args if not a.startswith("--")]
            target = app / Path(dest).relative_to("/app")
            if "--from=jars" in flags:
                target.mkdir(parents=True, exist_ok=True)
                for jar in (f"amazon-kinesis-client-multilang-{KCL}.jar", f"amazon-kinesis-client-{KCL}.jar"):
                    (target / jar).write_bytes(b"")
            elif "--from=build" in flags:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(BINARY, target)
            else:
                for src in sources:
                    path = cfn.REPO / src
                    if path.is_dir():
                        shutil.copytree(path, target, dirs_exist_ok=True)
                    else:
                        target.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(path, target / path.name)
                        if "--chmod=0755" in flags:
                            os.chmod(target / path.name, 0o755)
        for path in dockerfile.volumes():
            (app / Path(path).relative_to("/app")).mkdir(parents=True, exist_ok=True)
        uid, gid = (int(x) for x in self.container["User"].split(":"))
        for name, _ in volumes:
            (work / "vol" / name).mkdir(parents=True)
            if owned:
                os.chown(work / "vol" / name, uid, gid)
        (work / "volumes").write_text("".join(f"{n}\t{p}\n" for n, p in volumes))
        (work / "user").write_text(self.container["User"])
        init = {"action": "initialize", "shardId": SHARD, "sequenceNumber": "TRIM_HORIZON",
                "subSequenceNumber": 0}
        batch = {"action": "processRecords", "millisBehindLatest": 0, "records": [
            {"data": base64.b64encode(RECORD.encode()).decode(), "partitionKey": "k",
             "sequenceNumber": "1", "subSequenceNumber": 0, "approximateArrivalTimestamp": 0}]}
        env = [f"{k}={v}" for k, v in dockerfile.env().items()]
        env += [f"{e['Name']}={e['Value']}" for e in self.container["Environment"]]
        env += ["JAVA=/fake/java", f"FAKE_INIT={json.dumps(init)}", f"FAKE_BATCH={json.dumps(batch)}"]
        (work / "env").write_text("".join(f"{line}\n" for line in env))
        (work / "fake").mkdir()
        (work / "fake" / "java").write_text(FAKE_JAVA)
        os.chmod(work / "fake" / "java", 0o755)
        logs = dict((p, n) for n, p in volumes).get("/app/logs", "none")
        (work / "heartbeat").write_text(str(work / "vol" / logs / "state" / f"{SHARD}.json"))

    def run_harness(self, volumes, owned=True):
        work = Path(tempfile.mkdtemp(prefix="readonly-root."))
        self.addCleanup(shutil.rmtree, work, True)
        os.chmod(work, 0o755)
        self.prepare(work, volumes, owned)
        done = subprocess.run([str(HARNESS), str(work)], capture_output=True, text=True, timeout=120)
        if done.returncode == 77:
            self.skipTest(done.stderr.strip())
        self.assertEqual(done.returncode, 0, f"harness failed: {done.stderr}")
        out = work / "out"
        result = {name: (out / name).read_text() for name in ("stdout", "stderr", "rc", "health.out", "health.rc")}
        result["work"] = work
        return result

    def task_volumes(self):
        by_name = {m["SourceVolume"]: m["ContainerPath"] for m in self.container["MountPoints"]}
        return sorted(by_name.items())

    def test_it_runs_with_only_the_task_volumes_writable(self):
        r = self.run_harness(self.task_volumes())
        context = f"stdout:\n{r['stdout'][-3000:]}\nstderr:\n{r['stderr']}\nhealth:\n{r['health.out']}"
        # run.sh's own messages are on stderr; the daemon's (the fake java's) reach stdout through
        # follow-logs, as the container's only stdout writer
        both = r["stdout"] + r["stderr"]
        self.assertEqual(r["rc"].strip(), "0", context)
        for refusal in ("Read-only file system", "Permission denied", "NOT writable", "ERROR"):
            self.assertNotIn(refusal, both, context)
        self.assertIn(f"check-properties: /app/run/record_processor.properties: 0 error(s), 0 warning(s) (KCL {KCL}",
                      r["stderr"])
        self.assertIn("fake-java: java.io.tmpdir /app/run is writable", r["stdout"], context)
        self.assertIn("fake-java: the processor exited with status 0", r["stdout"], context)
        self.assertEqual(r["health.rc"].strip(), "0", context)
        self.assertIn("daemon: running", r["health.out"])
        self.assertIn(f"{SHARD}: ok", r["health.out"])
        self.assertIn(RECORD, r["stdout"], "the processors' log is followed to stdout")
        volumes = dict(self.task_volumes())
        run_dir = r["work"] / "vol" / [n for n, p in volumes.items() if p == "/app/run"][0]
        rendered = (run_dir / "record_processor.properties").read_text()
        self.assertIn("executableName = /app/bin/record_processor --log-file /app/logs/record_processor.log",
                      rendered)
        self.assertIn("streamName = orders-stream", rendered)

    def test_control_without_the_run_volume_it_fails_on_the_read_only_root(self):
        volumes = [(n, p) for n, p in self.task_volumes() if p != "/app/run"]
        r = self.run_harness(volumes)
        self.assertNotEqual(r["rc"].strip(), "0", r["stderr"])
        self.assertIn("set_properties.sh failed", r["stderr"])

    def test_control_root_owned_volumes_are_not_writable_for_the_user(self):
        r = self.run_harness(self.task_volumes(), owned=False)
        self.assertNotEqual(r["rc"].strip(), "0", r["stderr"])
        self.assertIn("Permission denied", r["stderr"])


if __name__ == "__main__":
    unittest.main()
