"""What must agree between the template and the rest of the repository: the stop timeout and the
daemon's shutdown grace, the health check and the image's HEALTHCHECK, the environment and what
the scripts read, the volumes and what the image writes."""

import re
import subprocess
import unittest
from pathlib import PurePosixPath

import cfn
import dockerfile

PROPERTIES_TEMPLATE = cfn.REPO / "properties" / "record_processor.properties"
SCRIPTS = [cfn.REPO / "set_properties.sh", cfn.REPO / "run.sh"]
RUST_CLI = [cfn.REPO / "src" / "bin" / "record_processor" / p
            for p in ("cli.rs", "health.rs", "check_properties/mod.rs")]
# Fargate's limit for stopTimeout, in seconds.
FARGATE_MAX_STOP_TIMEOUT = 120
# What the JVM's exit and run.sh's last lines need after the grace period.
MIN_MARGIN_MS = 5000


def property_value(key, path=PROPERTIES_TEMPLATE):
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(rf"\s*{re.escape(key)}\s*[=:\s]\s*(.*?)\s*$", line)
        if m and not line.lstrip().startswith(("#", "!")):
            return m.group(1)
    raise KeyError(f"{key} is not set in {path}")


def under(path, directories):
    return any(PurePosixPath(path) == PurePosixPath(d) or PurePosixPath(d) in PurePosixPath(path).parents
               for d in directories)


class StopTimeout(unittest.TestCase):
    def test_stop_timeout_covers_shutdown_grace_with_a_margin(self):
        (_, resolver), *_ = cfn.scenarios(cfn.load())
        container = resolver.container()
        stop_ms = int(container["StopTimeout"]) * 1000
        grace_ms = int(property_value("shutdownGraceMillis"))
        self.assertGreaterEqual(stop_ms - grace_ms, MIN_MARGIN_MS,
                                f"stopTimeout {stop_ms} ms vs shutdownGraceMillis {grace_ms} ms")
        self.assertLessEqual(int(container["StopTimeout"]), FARGATE_MAX_STOP_TIMEOUT)
        env = {e["Name"]: e["Value"] for e in container["Environment"]}
        self.assertEqual(int(env["STOP_TIMEOUT_MS"]), stop_ms,
                         "check-properties must check the grace against the real stop timeout")


class HealthCheck(unittest.TestCase):
    def test_the_task_definition_runs_the_images_healthcheck(self):
        options, command = dockerfile.healthcheck()
        (_, resolver), *_ = cfn.scenarios(cfn.load())
        check = resolver.container()["HealthCheck"]
        self.assertEqual(check["Command"], ["CMD"] + command)
        self.assertEqual(int(check["Interval"]), dockerfile.seconds(options["interval"]))
        self.assertEqual(int(check["Timeout"]), dockerfile.seconds(options["timeout"]))
        self.assertEqual(int(check["Retries"]), int(options["retries"]))
        self.assertEqual(int(check["StartPeriod"]), dockerfile.seconds(options["start-period"]))
        self.assertLessEqual(int(check["StartPeriod"]), 300, "ECS's maximum start period")

    def test_the_health_command_finds_the_state_directory_without_options(self):
        _, command = dockerfile.healthcheck()
        self.assertEqual(command[1:], ["health"], "no --state-dir: it comes from the environment")
        self.assertEqual(dockerfile.env()["RECORD_PROCESSOR_STATE_DIR"], "/app/logs/state")


class Environment(unittest.TestCase):
    def setUp(self):
        (_, resolver), *_ = cfn.scenarios(cfn.load())
        self.env = {e["Name"] for e in resolver.container()["Environment"]}

    def test_the_variables_set_properties_requires_are_set(self):
        text = (cfn.REPO / "set_properties.sh").read_text(encoding="utf-8")
        m = re.search(r"^missing=\(\)\nfor var in ([A-Z_ ]+); do", text, re.M)
        self.assertIsNotNone(m, "set_properties.sh's check of its required variables moved")
        required = set(m.group(1).split())
        self.assertEqual(required, {"REGION", "STREAM_NAME", "APPLICATION_NAME"})
        self.assertLessEqual(required, self.env)

    def test_every_variable_set_is_read_by_something_in_the_image(self):
        read = set()
        for script in SCRIPTS:
            read |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", script.read_text(encoding="utf-8")))
        for source in RUST_CLI:
            read |= set(re.findall(r'env = "([A-Z][A-Z0-9_]*)"', source.read_text(encoding="utf-8")))
        for name in sorted(self.env):
            self.assertIn(name, read, f"{name} is set by the task definition but read by nothing")


class ReadOnlyRoot(unittest.TestCase):
    """With a read-only root filesystem, everything the container writes must be in a volume the
    task mounts where the image declares it (so ECS copies the image's uid 10001 ownership)."""

    def setUp(self):
        (_, resolver), *_ = cfn.scenarios(cfn.load())
        self.container = resolver.container()
        self.mounts = [m["ContainerPath"] for m in self.container["MountPoints"]]

    def test_mount_points_are_the_images_volumes(self):
        self.assertEqual(sorted(self.mounts), sorted(dockerfile.volumes()))
        for m in self.container["MountPoints"]:
            self.assertIs(m["ReadOnly"], False)

    def test_what_the_image_writes_is_in_a_volume(self):
        env = dockerfile.env()
        app_home = env["APP_HOME"]
        written = {
            "PROPERTIES_FILE's directory": str(PurePosixPath(env["PROPERTIES_FILE"]).parent),
            "TMPDIR": env["TMPDIR"],
            "java.io.tmpdir": re.search(r"-Djava\.io\.tmpdir=(\S+)", env["JAVA_OPTS"]).group(1),
            "RECORD_PROCESSOR_STATE_DIR": env["RECORD_PROCESSOR_STATE_DIR"],
            "LOG_DIR (run.sh's default $APP_HOME/logs)": env.get("LOG_DIR", f"{app_home}/logs"),
        }
        for what, path in written.items():
            self.assertTrue(under(path, self.mounts), f"{what} = {path} is on the read-only root")

    def test_the_volumes_belong_to_the_user_the_task_runs_as(self):
        self.assertEqual(self.container["User"], dockerfile.user())
        uid = self.container["User"].split(":")[0]
        parts = [p.strip() for word, rest in dockerfile.runtime() if word == "RUN" for p in rest.split("&&")]
        (useradd,) = [p for p in parts if p.startswith("useradd")]
        self.assertIn(f"--uid {uid} ", useradd)
        user = useradd.split()[-1]
        chown = [p for p in parts if p.startswith("chown")]
        self.assertEqual(len(chown), 1)
        owner, *paths = chown[0].split()[1:]
        self.assertEqual(owner, f"{user}:{user}")
        self.assertEqual(sorted(paths), sorted(dockerfile.volumes()))
        # The VOLUME comes after the chown: ownership set later would not reach the volume.
        order = [word for word, _ in dockerfile.runtime()]
        last_chown = max(i for i, (w, r) in enumerate(dockerfile.runtime()) if w == "RUN" and "chown" in r)
        self.assertGreater(order.index("VOLUME"), last_chown)


class Arm64(unittest.TestCase):
    """The Dockerfile builds for the platform BuildKit asks for, by cross-compiling."""

    def test_build_stages_run_on_the_build_platform_and_the_runtime_on_the_target(self):
        stages = dockerfile.stages()
        by_name = {frm.split(" AS ")[-1]: (frm, body) for frm, body in stages if " AS " in frm}
        for name in ("build", "jars"):
            self.assertTrue(by_name[name][0].startswith("--platform=$BUILDPLATFORM "), name)
        runtime_from = stages[-1][0].replace("--platform=$TARGETPLATFORM ", "")
        self.assertNotIn("--platform", runtime_from, "the runtime image is the target platform's")
        build = by_name["build"][1]
        self.assertIn(("ARG", "TARGETARCH"), build)
        runs = [rest for word, rest in build if word == "RUN"]
        self.assertTrue(any('scripts/cross-toolchain.sh "$TARGETARCH"' in r for r in runs))
        builds = [r for r in runs if "build-release.sh" in r]
        self.assertEqual(len(builds), 2, "the dependency layer and the real build")
        for r in builds:
            self.assertRegex(r, r'TARGET_ARCH="\$TARGETARCH" bash (scripts/build-ca\.sh bash )?scripts/build-release\.sh')

    def test_the_scripts_agree_on_the_triples(self):
        text = (cfn.REPO / "scripts" / "build-release.sh").read_text(encoding="utf-8")
        mapping = dict(re.findall(r"^\s*(amd64|arm64)\) arch_triple=(\S+) ;;", text, re.M))
        self.assertEqual(set(mapping), {"amd64", "arm64"})
        for arch, triple in mapping.items():
            out = subprocess.run([str(cfn.REPO / "scripts" / "cross-toolchain.sh"), "--print", arch],
                                 check=True, capture_output=True, text=True).stdout
            fields = dict(line.split("=", 1) for line in out.splitlines())
            self.assertEqual(fields["triple"], triple)
            if fields["packages"]:
                gnu = triple.split("-")[0].replace("_", "-") + "-linux-gnu"
                self.assertEqual(fields["packages"].split(), [f"gcc-{gnu}", f"libc6-dev-{arch}-cross"])
                self.assertEqual(fields["rust_target"], triple)


class Base(unittest.TestCase):
    """One Debian release under every stage, named through an ARG (a mirror of the same image works),
    the Rust toolchain the repository pins, and the extra CA bundle only where it is needed."""

    def setUp(self):
        self.text = dockerfile.DOCKERFILE.read_text(encoding="utf-8")
        self.stages = dockerfile.stages()

    def test_every_stage_starts_from_the_debian_image_arg(self):
        (default,) = re.findall(r"^ARG DEBIAN_IMAGE=(\S+)$", self.text, re.M)
        self.assertRegex(default, r"^debian:[a-z]+-slim$", "Debian stable, slim, by its release name")
        global_args = self.text[:self.text.index("\nFROM ")]
        self.assertIn("ARG DEBIAN_IMAGE=", global_args, "a FROM line can only use an ARG declared before it")
        for frm, _ in self.stages:
            image = frm.replace("--platform=$BUILDPLATFORM ", "").replace("--platform=$TARGETPLATFORM ", "")
            image = image.split(" AS ")[0]
            self.assertEqual(image, "${DEBIAN_IMAGE}", frm)

    def test_the_build_stage_installs_the_pinned_toolchain(self):
        toolchain = (cfn.REPO / "rust-toolchain.toml").read_text(encoding="utf-8")
        self.assertRegex(toolchain, r'(?m)^channel = "\d+\.\d+\.\d+"$', "a fixed version, not a channel name")
        by_name = {frm.split(" AS ")[-1]: body for frm, body in self.stages if " AS " in frm}
        build = by_name["build"]
        self.assertIn(("COPY", "rust-toolchain.toml ./"), build)
        installs = [r for w, r in build if w == "RUN" and "rustup toolchain install" in r]
        self.assertEqual(len(installs), 1)
        self.assertIn("rust-toolchain.toml", installs[0], "the version comes from the file, not a copy of it")

    def test_the_runtime_is_debians_headless_jre(self):
        runs = " ".join(r for w, r in dockerfile.runtime() if w == "RUN")
        self.assertIn('"openjdk-${JAVA_VERSION}-jre-headless"', runs)
        (java,) = re.findall(r"^ARG JAVA_VERSION=(\d+)$", self.text, re.M)
        self.assertGreaterEqual(int(java), 17)

    def test_the_ca_secret_reaches_the_build_stages_only(self):
        *builders, runtime = self.stages
        for word, rest in runtime[1]:
            self.assertNotIn("secret", rest, "the runtime stage must not see the build's CA bundle")
            self.assertNotIn("build-ca.sh", rest)
        for frm, body in builders:
            for word, rest in body:
                if word == "RUN" and "build-ca.sh" in rest:
                    self.assertIn("--mount=type=secret,id=ca", rest, frm)
                if word == "RUN" and "--mount=type=secret" in rest:
                    self.assertIn("build-ca.sh", rest, f"{frm}: a secret mounted for nothing")


if __name__ == "__main__":
    unittest.main()
