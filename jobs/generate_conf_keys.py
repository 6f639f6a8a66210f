"""Regenerate jobs/spark_conf_keys.txt: every Spark conf key the installed pyspark's jars define.

    .venv/bin/python -m jobs.generate_conf_keys [--output PATH]

How: start the JVM of the installed pyspark (pyspark.java_gateway), then load and initialise
every Scala object in its spark-*.jar files whose class file refers to Spark's
`ConfigBuilder` (that is where Spark declares its settings: `ConfigBuilder("spark.…")` in
`object package`, `object SQLConf`, `object Config` for Kubernetes, …). Each entry registers
itself in `ConfigEntry.knownConfigs` as it is built; the file lists those keys, their
alternatives, and the keys SparkConf accepts as deprecated. It also lists the key prefixes
Spark reads as families (`spark.hadoop.`, `spark.kubernetes.driver.label.`, …): the String
constants of those objects that start with `spark.` and end with `.`, plus a few that Spark
matches by prefix in code (listed below with where). A `*_PREFIX` constant without the trailing
dot is joined with "." to each `*_SUFFIX` constant of the same object, as Spark builds those keys
(deploy/k8s Config: `spark.kubernetes.authenticate.driver` + `oauthTokenFile`, read by
SparkKubernetesClientFactory). One in an object without suffixes (`spark.driver`, `spark.task`,
…) is a building block of keys listed elsewhere, not a family: taken as one, it would let every
misspelt `spark.driver.*` key through.
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

import pyspark

from cli_common import EXIT_BAD_INPUT, EXIT_OK, CliError, Parser, exit_codes, print_error

TOOL = "jobs.generate_conf_keys"
OUTPUT = Path(__file__).resolve().parent / "spark_conf_keys.txt"
CONFIG_BUILDER = b"org/apache/spark/internal/config/ConfigBuilder"
# Families Spark reads by prefix in code rather than from a constant of a config object.
CODE_PREFIXES = (
    "spark.hadoop.",  # SparkHadoopUtil.appendSparkHadoopConfigs
    "spark.executorEnv.",  # SparkConf.getExecutorEnv
    "spark.kubernetes.driverEnv.",  # deploy/k8s Config.KUBERNETES_DRIVER_ENV_PREFIX
    "spark.sql.catalog.",  # sql connector Catalogs.load
    "spark.metrics.conf.",  # metrics MetricsConfig
    "spark.driver.resource.",  # resource ResourceUtils
    "spark.executor.resource.",
    "spark.task.resource.",
    "spark.yarn.appMasterEnv.",
    "spark.sql.streaming.stateStore.",
)
_KEY = re.compile(r"^spark\.[A-Za-z0-9_.\-]+$")


def _config_objects(jars: list[Path]) -> list[str]:
    names = []
    for jar in jars:
        with zipfile.ZipFile(jar) as archive:
            for entry in archive.namelist():
                if entry.endswith("$.class") and entry.startswith("org/apache/spark/"):
                    if CONFIG_BUILDER in archive.read(entry):
                        names.append(entry[: -len(".class")].replace("/", "."))
    return sorted(names)


def generate() -> tuple[list[str], list[str]]:
    """(keys, prefixes) known to the installed pyspark's Spark."""
    from pyspark.java_gateway import launch_gateway

    jars = sorted((Path(pyspark.__file__).parent / "jars").glob("spark-*.jar"))
    gateway = launch_gateway()
    try:
        jvm = gateway.jvm
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        prefixes: set[str] = set(CODE_PREFIXES)
        keys: set[str] = set()
        for name in _config_objects(jars):
            try:
                cls = jvm.java.lang.Class.forName(name, True, loader)
                instance = cls.getField("MODULE$").get(None)
            except Exception:  # noqa: BLE001 - an object that cannot load outside its runtime
                continue
            bare_prefixes: list[str] = []
            suffixes: list[str] = []
            for field in cls.getDeclaredFields():
                if field.getType().getName() == "java.lang.String":
                    try:
                        field.setAccessible(True)
                        value = field.get(instance)
                    except Exception:  # noqa: BLE001
                        continue
                    if not isinstance(value, str):
                        continue
                    if value.startswith("spark.") and value.endswith("."):
                        prefixes.add(value)
                    elif value.startswith("spark.") and field.getName().endswith("_PREFIX"):
                        bare_prefixes.append(value)
                    elif field.getName().endswith("_SUFFIX") and "." not in value:
                        suffixes.append(value)
            keys.update(f"{prefix}.{suffix}" for prefix in bare_prefixes for suffix in suffixes)
        holder = jvm.java.lang.Class.forName("org.apache.spark.internal.config.ConfigEntry$", True, loader)
        registry = holder.getDeclaredField("knownConfigs")
        registry.setAccessible(True)
        entries = registry.get(holder.getField("MODULE$").get(None))
        for key in entries.keySet().toArray():
            keys.add(str(key))
            entry = entries.get(key)
            alternatives = entry.alternatives()
            for index in range(alternatives.size()):
                keys.add(str(alternatives.apply(index)))
        deprecated = jvm.java.lang.Class.forName("org.apache.spark.SparkConf$", True, loader)
        module = deprecated.getField("MODULE$").get(None)
        for field in deprecated.getDeclaredFields():
            if field.getName() == "deprecatedConfigs":
                field.setAccessible(True)
                names = field.get(module).keysIterator()  # a Scala Map
                while names.hasNext():
                    keys.add(str(names.next()))
    finally:
        gateway.shutdown()
    return sorted(k for k in keys if _KEY.match(k)), sorted(prefixes)


def render(keys: list[str], prefixes: list[str]) -> str:
    header = [
        f"# Spark conf keys known to pyspark {pyspark.__version__}, generated by `python -m jobs.generate_conf_keys`",
        "# from the spark-*.jar files of the installed pyspark wheel (see that module for how).",
        "# Lines starting with 'prefix ' are families Spark reads by prefix. Do not edit by hand.",
        f"# pyspark {pyspark.__version__}",
    ]
    return "\n".join(header + [f"prefix {p}" for p in prefixes] + keys) + "\n"


def build_parser() -> Parser:
    parser = Parser(prog=f"python -m {TOOL}", description=__doc__, epilog=exit_codes(None))
    parser.add_argument("--output", type=Path, default=OUTPUT, metavar="PATH",
                        help="the list to write (default: jobs/spark_conf_keys.txt)")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except CliError as error:
        print_error(TOOL, error)
        return error.exit_code
    try:
        keys, prefixes = generate()
    except (OSError, RuntimeError) as error:  # no java (a missing tool), or the gateway's JVM exited
        print_error(TOOL, f"could not start Spark's JVM ({error}); install Java 17 and put java on PATH or set JAVA_HOME")
        return EXIT_BAD_INPUT
    try:
        args.output.write_text(render(keys, prefixes), encoding="utf-8")
    except OSError as error:
        print_error(TOOL, f"cannot write {args.output} ({error.strerror})")
        return EXIT_BAD_INPUT
    shown = "jobs/spark_conf_keys.txt" if args.output == OUTPUT else str(args.output)
    print(f"wrote {len(keys)} keys and {len(prefixes)} prefixes to {shown}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
