"""Job spec: one Spark job as YAML, validated by a typed model before anything happens.

A spec names the job, its application and arguments, the image tag, driver and executor
sizes, dynamic-allocation bounds, extra Spark conf, and where the job reads and writes
(`input`/`output` for the cluster, `local.input`/`local.output` for `--local`). Every
problem becomes one line naming the field as the user wrote it (camelCase, dotted) and
what is allowed, so nothing is uploaded or submitted from a bad spec.

`spec_from_mapping` is pure; `load_spec` only adds reading the file.
"""

from __future__ import annotations

import copy
import math
import re
import string
from pathlib import Path
from typing import Annotated, Any, Iterable, Mapping, Sequence

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from cli_common import yaml_where
from jobs.shown import plain, shown

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
MEMORY = re.compile(r"^([1-9][0-9]*)([kmgt])b?$", re.IGNORECASE)
DURATION = re.compile(r"^([1-9][0-9]*)(ms|s|m|min|h)$")
CONF_KEY = re.compile(r"^spark\.[A-Za-z0-9_.\-/]+$")
JAVA_CLASS = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$")
# Spark's own default `spark.redaction.regex`; a `...File` key holds a path, not the secret.
CREDENTIAL_KEY = re.compile(r"(?i)secret|password|token|access[.]key")
# These name a Kubernetes Secret to mount or reference: the right way to hand a pod a secret.
SECRET_REFERENCE_KEY = re.compile(r"^spark\.kubernetes\.(driver|executor)\.(secrets|secretKeyRef)\.")
MIN_MEMORY_MIB = 512  # Spark refuses a JVM heap under 450 MiB
# A pod's heap plus Spark's 10-40% overhead must fit on one node; 1 TiB is already beyond
# the 64-vCPU instances a spec's cores allow, and far below a Java long's overflow.
MAX_MEMORY_MIB = 1024 * 1024
MAX_MEMORY = "1t"
# Longer than a day is as good as no timeout: the executor pins its Spot node.
MAX_DURATION_SECONDS = 24 * 3600
MAX_DURATION = "24h"
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600}
_MIB = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}

INPUT_PLACEHOLDERS = ("bucket",)
ARG_PLACEHOLDERS = ("input", "output", "bucket")
APP_SCHEMES = ("s3a", "local")
# What a cluster run's app and dependencies may not hold: spark-submit parses each as a URI
# (Utils.resolveURI: java.net.URI, RFC 2396), and a blank or any of these makes it read the path
# as a local file (`Please specify spark.kubernetes.file.upload.path`) or fail; a '%' escape is
# decoded on the way (DependencyUtils.splitOnFragment), so it would name another S3 key.
NOT_IN_URIS = frozenset('"%<>[\\]^`{|}')

# Spark settings a spec field owns: setting them under `conf` would silently fight the field.
FIELD_OWNED_CONF = {
    "spark.app.name": "name",
    "spark.master": "(the submitter: --master)",
    "spark.submit.deployMode": "(the submitter: --deploy-mode)",
    "spark.kubernetes.container.image": "image.tag",
    "spark.driver.memory": "driver.memory",
    "spark.kubernetes.driver.request.cores": "driver.cores",
    "spark.kubernetes.driver.limit.cores": "driver.coresLimit",
    "spark.executor.memory": "executor.memory",
    "spark.executor.cores": "executor.cores",
    "spark.kubernetes.executor.request.cores": "executor.cores",
    "spark.kubernetes.executor.limit.cores": "executor.coresLimit",
    "spark.dynamicAllocation.enabled": "(always on: executors scale with Spot capacity)",
    "spark.dynamicAllocation.minExecutors": "dynamicAllocation.minExecutors",
    "spark.dynamicAllocation.initialExecutors": "dynamicAllocation.initialExecutors",
    "spark.dynamicAllocation.maxExecutors": "dynamicAllocation.maxExecutors",
    "spark.dynamicAllocation.executorAllocationRatio": "dynamicAllocation.executorAllocationRatio",
    "spark.dynamicAllocation.shuffleTracking.timeout": "dynamicAllocation.shuffleTrackingTimeout",
}
INSECURE_S3A_TLS = "spark.hadoop.fs.s3a.connection.ssl.enabled"
# A claim name Spark creates itself (docs/running-on-kubernetes.md, "PVC-oriented executor pod allocation").
ON_DEMAND_CLAIM = re.compile(r"^spark\.kubernetes\.(driver|executor)\.volumes\.persistentVolumeClaim\.[^.]+\.options\.claimName$")


class SpecError(ValueError):
    """A spec that cannot be used. `problems` holds one line per bad field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _amount(digits: str, scale: float) -> float:
    # int() refuses more than 4300 digits; anything past 15 is beyond every limit anyway.
    return int(digits) * scale if len(digits) <= 15 else math.inf


def _memory(value: Any) -> Any:
    """Spark sizes: a whole number with a unit (8g, 512m); normalised to lower case without `b`."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return value
    match = MEMORY.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{shown(value)} is not a size; use a whole number with a unit, like 8g or 512m")
    digits, unit = match.group(1), match.group(2).lower()
    mib = _amount(digits, _MIB[unit])
    if mib < MIN_MEMORY_MIB:
        raise ValueError(f"{shown(value)} is below Spark's minimum; use at least {MIN_MEMORY_MIB}m")
    if mib > MAX_MEMORY_MIB:
        raise ValueError(
            f"{shown(value)} is more than {MAX_MEMORY}; a pod's memory plus Spark's overhead must fit on one node"
        )
    return f"{digits}{unit}"


def _duration(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return value
    match = DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{shown(value)} is not a finite duration; use a number with a unit, like 300s, 10min or 1h")
    if _amount(match.group(1), _SECONDS[match.group(2)]) > MAX_DURATION_SECONDS:
        raise ValueError(
            f"{shown(value)} is longer than {MAX_DURATION}; a timeout that long pins Spot nodes like none at all"
        )
    return value.strip()


def duration_seconds(text: str, flag: str = "--timeout") -> float:
    """A finite duration such as 90s, 30m or 2h in seconds; SpecError naming `flag` otherwise."""
    try:
        _duration(text)
    except ValueError as error:
        raise SpecError([f"{flag}: {error}"]) from None
    match = DURATION.fullmatch(text.strip())
    assert match is not None
    return int(match.group(1)) * _SECONDS[match.group(2)]


def _not_boolean(value: Any) -> Any:
    # pydantic reads true as 1.0; a ratio of "true" is a slip, not a number.
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {shown(value)}")
    return value


def _conf_value(value: Any) -> Any:
    """Spark conf values are strings; YAML's scalars are accepted and written the way Spark reads them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise ValueError(f"must be one value (text, a number or true/false), not {type(value).__name__}")


def _non_ascii_hint(value: str) -> str:
    """Names a look-alike letter (Cyrillic 'о' for 'o'), which a quoted value cannot show."""
    odd = next((character for character in value if not character.isascii()), None)
    return f" ({shown(odd)} is U+{ord(odd):04X}, not an ASCII letter)" if odd is not None else ""


def _dns_label(value: Any) -> Any:
    if isinstance(value, str) and not DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not a DNS-1123 label: use 1-63 lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit (e.g. wordcount){_non_ascii_hint(value)}"
        )
    return value


def _image_tag(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # `--set image.tag=20240101` arrives as a YAML number
    if isinstance(value, str) and not IMAGE_TAG.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not an image tag: use up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        )
    return value


Memory = Annotated[str, BeforeValidator(_memory)]
Duration = Annotated[str, BeforeValidator(_duration)]
ConfValue = Annotated[str, BeforeValidator(_conf_value)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class Image(_Model):
    # None: a hash of the image's inputs (jobs.tags.default_image_tag), resolved by the CLI.
    tag: Annotated[str | None, BeforeValidator(_image_tag)] = None


class Resources(_Model):
    """A pod's size: Kubernetes CPU request (also Spark's task slots) and limit, JVM memory."""

    cores: int = Field(default=2, ge=1, le=64, strict=True)
    cores_limit: int = Field(default=4, ge=1, le=64, strict=True)
    memory: Memory = "8g"


class ExecutorResources(_Model):
    """An executor's size; a field left out is cut to fill the executors group's Spot node
    (jobs.sizing: cores are task slots, the CPU request is the node's share, memory is
    what fits after Spark's overhead)."""

    cores: int | None = Field(default=None, ge=1, le=64, strict=True)
    cores_limit: int | None = Field(default=None, ge=1, le=64, strict=True)
    memory: Memory | None = None


class DynamicAllocation(_Model):
    min_executors: int = Field(default=0, ge=0, le=1000, strict=True)
    initial_executors: int | None = Field(default=None, ge=0, le=1000, strict=True)
    max_executors: int = Field(default=100, ge=1, le=1000, strict=True)
    executor_allocation_ratio: Annotated[float, BeforeValidator(_not_boolean)] = Field(default=0.33, gt=0, le=1)
    # Finite, unlike Spark's default: an executor that once held shuffle data would
    # otherwise pin its Spot node for the whole job.
    shuffle_tracking_timeout: Duration = "300s"


class LocalPaths(_Model):
    """Where `--local` reads and writes instead of `input`/`output`."""

    input: str | None = None
    output: str | None = None


class JobSpec(_Model):
    name: Annotated[str, BeforeValidator(_dns_label)]
    app: str = Field(min_length=1)
    main_class: str | None = None
    args: tuple[str, ...] = ("{input}", "{output}")
    image: Image = Image()
    driver: Resources = Resources()
    executor: ExecutorResources = ExecutorResources()
    dynamic_allocation: DynamicAllocation = DynamicAllocation()
    conf: dict[str, ConfValue] = Field(default_factory=dict)
    input: str | None = None
    output: str | None = None
    local: LocalPaths = LocalPaths()
    # More files of the job: uploaded beside the app (cluster) or used in place (--local).
    py_files: tuple[str, ...] = ()
    jars: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    @property
    def is_python(self) -> bool:
        """A Python app: Spark gives its pods the non-JVM memory overhead."""
        return _app_suffix(self.app) == "py"

    def with_image_tag(self, tag: str) -> JobSpec:
        return self.model_copy(update={"image": Image(tag=tag)})


# --- reading YAML without losing anything -------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a spec must not lose a value silently."""


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *sizes` merges an anchored mapping; construct_mapping resolves it
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be one value, not a list or mapping", key_node.start_mark
            )
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {shown(key)} appears twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _int_within_limits(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
    except ValueError:  # Python reads at most 4300 digits (CVE-2020-10735)
        raise yaml.constructor.ConstructorError(
            None, None, f"{shown(node.value)} is a number too long to read; quote it to keep it as text", node.start_mark
        ) from None


def _real_date(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as error:  # 2024-13-01 looks like a date to YAML, but is none
        raise yaml.constructor.ConstructorError(
            None, None, f"{shown(node.value)} is not a date ({error}); quote it to keep it as text", node.start_mark
        ) from None


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _int_within_limits)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _real_date)

MAX_DEPTH = 8  # a spec nests two levels (local.input); deeper is a mistake or an attack


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Lists and mappings nested deeper than `limit`, or one that contains itself (YAML anchors
    can build both). Iterative, and each shared node is measured once, so a "billion laughs"
    document of aliases costs its size, not its expansion."""
    heights: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, finished = stack.pop()
        children = [c for c in (node.values() if isinstance(node, dict) else node) if isinstance(c, (dict, list, tuple))]
        if finished:
            on_path.discard(id(node))
            heights[id(node)] = 1 + max((heights[id(child)] for child in children), default=0)
            if heights[id(node)] > limit:
                return True
        elif id(node) not in heights:
            if id(node) in on_path:
                return True
            on_path.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children)
    return False


_DEPTH_FIX = "a spec is a mapping of fields whose sections (driver, conf, local, ...) hold plain values"


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    source = plain(source, limit=None)
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        problem = plain(str(error.problem or error), limit=None)
        raise SpecError([f"spec {source}: not valid YAML{yaml_where(error)}: {problem}"]) from None
    except yaml.YAMLError as error:
        problem = plain(" ".join(str(error).split()), limit=None)  # a reader error spans two lines
        raise SpecError([f"spec {source}: not valid YAML: {problem}"]) from None
    except RecursionError:
        raise SpecError([f"spec {source}: nested too deeply; {_DEPTH_FIX}"]) from None
    if document is None:
        raise SpecError([f"spec {source}: is empty; it needs at least name and app"])
    if not isinstance(document, dict):
        raise SpecError([f"spec {source}: must be a mapping of fields (name, app, ...), not a {type(document).__name__}"])
    return document


# --- --set and --conf ----------------------------------------------------------------


def _split_assignment(flag: str, assignment: str) -> tuple[str, str]:
    field, separator, value = assignment.partition("=")
    if not separator or not field.strip():
        raise SpecError([f"{flag} {shown(assignment)}: expected FIELD=VALUE, e.g. {flag} executor.memory=4g"])
    return field.strip(), value


def _set_value(flag: str, document: dict[str, Any], path: list[str], value: Any) -> None:
    node = document
    for depth, part in enumerate(path[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            parent = ".".join(path[: depth + 1])
            raise SpecError([
                f"{flag} {plain('.'.join(path))}: {plain(parent)} is not a section, so it has no field {shown(path[depth + 1])}"
            ])
        node = child
    node[path[-1]] = value


def apply_overrides(document: Mapping[str, Any], sets: Iterable[str], confs: Iterable[str]) -> tuple[dict[str, Any], set[str]]:
    """A copy of the spec with `--set FIELD=VALUE` and `--conf KEY=VALUE` applied; also the fields set."""
    updated = copy.deepcopy(dict(document))
    explicitly_set: set[str] = set()
    for assignment in sets:
        field, raw_value = _split_assignment("--set", assignment)
        try:
            value = yaml.load(raw_value, Loader=_StrictLoader) if raw_value.strip() else None  # noqa: S506
        except (yaml.YAMLError, RecursionError):
            value = raw_value  # not YAML: the text itself, which validation then judges
        # Spark conf keys contain dots themselves: everything after `conf.` is one key.
        path = ["conf", field[len("conf."):]] if field.startswith("conf.") else field.split(".")
        if any(not part for part in path):
            raise SpecError([f"--set {plain(field)}: not a field name; use dotted names like executor.memory"])
        _set_value("--set", updated, path, value)
        explicitly_set.add(field)
    for assignment in confs:
        key, value = _split_assignment("--conf", assignment)
        _set_value("--conf", updated, ["conf", key], value)
    return updated, explicitly_set


# --- validation ------------------------------------------------------------------------


def _field_name(loc: Sequence[Any]) -> str:
    """`executor.memory`, `args[1]`; a key the user wrote is shown escaped when it is not one plain line."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            text = plain(part) if isinstance(part, str) else shown(part)
            name += f".{text}" if name else text
    return name


def _model_at(loc: Sequence[Any]) -> type[BaseModel] | None:
    """The model class that owns the field at `loc` (to list its allowed fields)."""
    model: type[BaseModel] = JobSpec
    for part in loc:
        match = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        annotation = getattr(match, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return None
    return model


def _describe(error: Mapping[str, Any]) -> str:
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        owner = _model_at(error["loc"][:-1])
        allowed = ", ".join(f.alias or n for n, f in owner.model_fields.items()) if owner else ""
        return f"is not a field here; allowed: {allowed}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number, not {shown(given)}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number, not {shown(given)}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']:g}, not {shown(given)}"
    if kind == "greater_than":
        return f"must be more than {ctx['gt']:g}, not {shown(given)}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']:g}, not {shown(given)}"
    if kind in ("string_type",):
        return f"must be text, not {shown(given)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of fields, not {shown(given)}"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list, not {shown(given)}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return f"{plain(error['msg'], limit=None)} (got {shown(given)})"


def _placeholders(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]


def _check_template(field: str, text: str, allowed: Sequence[str]) -> list[str]:
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text) if name is not None]
    except ValueError:
        return [f"{field}: {shown(text)} has an unmatched brace; placeholders look like {{bucket}}"]
    unknown = [name for name, _, _ in fields if name not in allowed]
    if unknown:
        known = ", ".join("{" + name + "}" for name in allowed)
        return [f"{field}: unknown placeholder {{{plain(unknown[0])}}}; known: {known}"]
    # {input:d} or {input:{bucket}} would fail in str.format when the command is built.
    dressed = next(((name, spec, conversion) for name, spec, conversion in fields if spec or conversion), None)
    if dressed:
        name, spec, conversion = dressed
        written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        return [f"{field}: placeholder {plain(written)} has a conversion or format; write {{{name}}}"]
    return []


def _path_problem(field: str, value: str) -> str | None:
    """Paths become process arguments and URIs: no blanks around them, nothing invisible in them."""
    if not value.strip():
        return f"{field}: is empty; give a path"
    if value != value.strip():
        return f"{field}: {shown(value)} has leading or trailing whitespace; remove it"
    invisible = next((character for character in value if not character.isprintable()), None)
    if invisible is not None:
        return f"{field}: {shown(value)} holds the control or invisible character {shown(invisible)}; remove it"
    return None


def _s3a_problem(field: str, value: str) -> str | None:
    """An s3a:// URI names a bucket and spells its key out: Hadoop collapses `//`, `.` and `..`
    (s3a://b/out/../spark-events/ writes to s3a://b/spark-events/), so the key the overwrite
    guard checks would not be the key Spark writes."""
    bucket, _, key = value.split("://", 1)[1].partition("/")
    if not bucket:
        return f"{field}: {shown(value)} names no bucket; use s3a://BUCKET/PREFIX/ ({{bucket}} is the stack's bucket)"
    segments = key.split("/")
    if segments[-1] == "":
        segments.pop()  # a trailing slash marks a prefix
    if any(segment in ("", ".", "..") for segment in segments):
        return (
            f"{field}: {shown(value)} has an empty, '.' or '..' path segment, which Hadoop collapses into "
            "another key; write the path without them"
        )
    if field == "output" and not segments:
        return f"output: {shown(value)} is the whole bucket; write under a prefix such as s3a://{{bucket}}/output/NAME/"
    return None


def _scheme(uri: str) -> str | None:
    head, separator, _ = uri.partition("://")
    return head.lower() if separator else None


def _check_conf(spec: JobSpec) -> list[str]:
    problems = []
    for key, value in spec.conf.items():
        field = f"conf.{plain(key)}"
        if not CONF_KEY.fullmatch(key):
            problems.append(f"{field}: not a Spark setting; keys start with 'spark.' (e.g. spark.sql.shuffle.partitions)")
        elif key in FIELD_OWNED_CONF:
            owner = FIELD_OWNED_CONF[key]
            if owner.startswith("("):
                problems.append(f"{field}: is set by the submitter {owner}; remove it")
            else:
                problems.append(f"{field}: is set by the spec field {owner}; set that instead (--set {owner}=...)")
        elif key == INSECURE_S3A_TLS and value.strip().lower() == "false":
            problems.append(f"{field}: false turns off TLS between Spark and S3; remove it")
        elif CREDENTIAL_KEY.search(key) and not key.endswith("File") and not SECRET_REFERENCE_KEY.match(key):
            problems.append(
                f"{field}: carries a credential; a spec holds none (S3 access comes from IRSA or the node role)"
            )
        elif ON_DEMAND_CLAIM.match(key) and value.strip() in ("OnDemand", "SPARK_EXECUTOR_ID"):
            problems.append(
                f"{field}: {value.strip()} makes Spark create PersistentVolumeClaims, which the Spark Role does not "
                "allow (jobs use none); mount an existing claim by name instead"
            )
        elif "\x00" in value:
            problems.append(f"{field}: its value holds a NUL character, which no process argument can carry; remove it")
    return problems


def _app_suffix(app: str) -> str:
    return app.rsplit(".", 1)[-1].lower() if "." in app.rsplit("/", 1)[-1] else ""


def _location_problem(field: str, path: str, local: bool, in_list: bool = False) -> str | None:
    """What keeps a file path (app or dependency) from reaching spark-submit as written."""
    hygiene = _path_problem(field, path)
    if hygiene:
        return hygiene
    scheme = _scheme(path)
    if scheme == "s3":
        return f"{field}: {shown(path)} uses s3://; Spark's S3 connector reads s3a:// (same bucket and key)"
    if scheme is not None and scheme not in APP_SCHEMES:
        return f"{field}: {shown(path)}: use a local file, s3a://BUCKET/KEY or local:///PATH-IN-IMAGE"
    if local and scheme is not None:
        return f"{field}: {shown(path)} is not on this machine; with --local, {field} must be a local file"
    # spark-submit parses paths as URIs: `wc#x.py` would fetch `wc` and name it `x.py`; lists split at ','.
    if "#" in path or "?" in path or (in_list and "," in path):
        marks, meanings = ("'#', '?' or ','", "URI fragment, query or list separator") if in_list else (
            "'#' or '?'", "URI fragment or query")
        return f"{field}: {shown(path)} has {marks}, which spark-submit reads as a {meanings}; rename the file"
    if not local:
        # A local file travels under its own name (apps/<job>/<hash>/<name>); a URI as written.
        named = Path(path).name if scheme is None else path
        odd = next((character for character in named if character.isspace() or character in NOT_IN_URIS), None)
        if odd is not None:
            part = "file name" if scheme is None else "path"
            return (f"{field}: {shown(path)} has {shown(odd)} in its {part}, which spark-submit cannot pass on in a "
                    "URI; rename it (letters, digits, '.', '_', '-', '+' and '=' are safe)")
    if scheme == "s3a":
        return _s3a_problem(field, path)
    return None


def _app_problem(app: str, local: bool) -> str | None:
    """The first thing wrong with `app`, so the field gets one line."""
    location = _location_problem("app", app, local)
    if location:
        return location
    if _app_suffix(app) not in ("py", "jar"):
        return f"app: {shown(app)} must be a Python file (.py) or a jar (.jar)"
    return None


def _check_app(spec: JobSpec, local: bool) -> list[str]:
    app_problem = _app_problem(spec.app, local)
    problems = [app_problem] if app_problem else []
    suffix = _app_suffix(spec.app)
    if suffix == "jar" and not spec.main_class:
        problems.append("mainClass: is required for a .jar app (e.g. org.example.WordCount)")
    elif suffix == "py" and spec.main_class:
        problems.append("mainClass: only applies to a .jar app; remove it")
    if spec.main_class and not JAVA_CLASS.fullmatch(spec.main_class):
        problems.append(f"mainClass: {shown(spec.main_class)} is not a Java class name (e.g. org.example.WordCount)")
    return problems


def _check_data_path(field: str, value: str, local: bool, origin: str) -> list[str]:
    hygiene = _path_problem(origin, value)
    if hygiene:
        return [hygiene]
    scheme = _scheme(value)
    if local:
        if scheme not in (None, "file") or "{bucket}" in value:
            return [
                f"{origin}: {shown(value)} needs the cluster; with --local give a local path "
                f"(set local.{field} in the spec or --set {field}=PATH)"
            ]
        return []
    if scheme == "s3":
        return [f"{field}: {shown(value)} uses s3://; Spark's S3 connector reads s3a:// (same bucket and key)"]
    if scheme is None or scheme == "file":
        return [
            f"{field}: {shown(value)} is a local path, which a cluster job cannot see; use s3a://BUCKET/PREFIX/ "
            "({bucket} is the stack's bucket) or run with --local"
        ]
    if field == "output" and scheme != "s3a":
        return [f"output: {shown(value)}: a cluster job writes to s3a://BUCKET/PREFIX/ ({{bucket}} is the stack's bucket)"]
    if scheme == "s3a":
        return list(filter(None, [_s3a_problem(field, value)]))
    return []


# Spec field → (model attribute, the suffixes Spark accepts; None for any file).
DEPENDENCY_FIELDS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "pyFiles": ("py_files", ("py", "zip", "egg")),
    "jars": ("jars", ("jar",)),
    "files": ("files", None),
}


def _dependency_problem(field: str, path: str, local: bool, suffixes: tuple[str, ...] | None) -> str | None:
    location = _location_problem(field, path, local, in_list=True)
    if location:
        return location
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if not name:
        return f"{field}: {shown(path)} names no file"
    if suffixes and _app_suffix(name) not in suffixes:
        allowed = ", ".join(f".{suffix}" for suffix in suffixes)
        return f"{field}: {shown(path)} must be a {allowed} file"
    return None


def _check_dependencies(spec: JobSpec, local: bool) -> list[str]:
    """pyFiles, jars, files: local files, s3a:// or local:// paths; each file name once, since
    Spark puts them side by side in the pods' working directory."""
    problems: list[str] = []
    names: dict[str, str] = {}
    for field, (attribute, suffixes) in DEPENDENCY_FIELDS.items():
        for index, path in enumerate(getattr(spec, attribute)):
            where = f"{field}[{index}]"
            problem = _dependency_problem(where, path, local, suffixes)
            if problem:
                problems.append(problem)
                continue
            name = path.rstrip("/").rsplit("/", 1)[-1]
            if name in names:
                problems.append(f"{where}: {shown(path)} has the same file name as {names[name]}; rename one of them")
            names.setdefault(name, where)
    return problems


def check_spec(spec: JobSpec, *, local: bool, folded: Iterable[str] = ()) -> list[str]:
    """Cross-field and mode checks the model alone cannot express; one line per problem."""
    problems: list[str] = []
    for part in ("driver", "executor"):
        resources: Resources | ExecutorResources = getattr(spec, part)
        if resources.cores_limit is not None and resources.cores is not None and resources.cores_limit < resources.cores:
            problems.append(
                f"{part}.coresLimit: {resources.cores_limit} is below {part}.cores ({resources.cores}); "
                "the limit must be at least the request"
            )
    bounds = spec.dynamic_allocation
    if bounds.min_executors > bounds.max_executors:
        problems.append(
            f"dynamicAllocation.minExecutors: {bounds.min_executors} is above maxExecutors ({bounds.max_executors})"
        )
    if bounds.initial_executors is not None and not bounds.min_executors <= bounds.initial_executors <= bounds.max_executors:
        problems.append(
            f"dynamicAllocation.initialExecutors: {bounds.initial_executors} must lie between minExecutors "
            f"({bounds.min_executors}) and maxExecutors ({bounds.max_executors})"
        )
    problems += _check_conf(spec)
    problems += _check_app(spec, local)
    problems += _check_dependencies(spec, local)

    for index, arg in enumerate(spec.args):
        if "\x00" in arg:
            problems.append(f"args[{index}]: holds a NUL character, which no process argument can carry; remove it")
            continue
        template_problems = _check_template(f"args[{index}]", arg, ARG_PLACEHOLDERS)
        problems += template_problems
        if local and not template_problems and "bucket" in _safe_placeholders(arg):
            problems.append(
                f"args[{index}]: {{bucket}} is the stack's bucket, which a --local run does not have; "
                "use {input}/{output} or a local path in this argument"
            )
    used = {name for arg in spec.args for name in _safe_placeholders(arg)}
    folded = set(folded)
    for field in ("input", "output"):
        value: str | None = getattr(spec, field)
        origin = f"local.{field}" if field in folded else field
        if value is None:
            if field in used:
                where = f"local.{field}" if local else field
                problems.append(f"{where}: is required, because args use {{{field}}}")
            continue
        template_problems = _check_template(origin, value, INPUT_PLACEHOLDERS)
        problems += template_problems or _check_data_path(field, value, local, origin)
    for field in ("input", "output"):
        value = getattr(spec.local, field)
        if value is not None and field not in folded:
            hygiene = _path_problem(f"local.{field}", value)
            problems += [hygiene] if hygiene else _check_template(f"local.{field}", value, ())
    return problems


def _safe_placeholders(text: str) -> list[str]:
    try:
        return _placeholders(text)
    except ValueError:
        return []


def spec_from_mapping(
    document: Mapping[str, Any],
    *,
    source: str,
    sets: Iterable[str] = (),
    confs: Iterable[str] = (),
    local: bool = False,
) -> JobSpec:
    """Validate a parsed spec (after --set/--conf; with `local`, local.* replaces input/output)."""
    source = plain(source, limit=None)
    if _too_deep(document):
        raise SpecError([f"spec {source}: nested more than {MAX_DEPTH} levels deep or refers to itself; {_DEPTH_FIX}"])
    updated, explicitly_set = apply_overrides(document, sets, confs)
    folded: set[str] = set()
    local_paths = updated.get("local")
    if local and isinstance(local_paths, dict):
        for field in ("input", "output"):
            # An explicit --set input=... wins over the spec's local.input.
            if field not in explicitly_set and local_paths.get(field) is not None:
                updated[field] = local_paths[field]
                folded.add(field)
    try:
        spec = JobSpec.model_validate(updated)
    except ValidationError as error:
        raise SpecError(
            [f"spec {source}: {_field_name(e['loc'])}: {_describe(e)}" for e in error.errors(include_url=False)]
        ) from None
    problems = check_spec(spec, local=local, folded=folded)
    if problems:
        raise SpecError([f"spec {source}: {problem}" for problem in problems])
    return spec


def load_spec(
    path: Path, *, sets: Iterable[str] = (), confs: Iterable[str] = (), local: bool = False
) -> JobSpec:
    """Read and validate a spec file; every problem raises SpecError with one line per field."""
    shown_path = plain(str(path), limit=None)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([f"spec {shown_path}: not found; pass the path of a job spec such as examples/wordcount.yaml"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(
            [f"spec {shown_path}: cannot be read ({error.__class__.__name__}: {plain(str(error), limit=None)}); check the path"]
        ) from None
    return spec_from_mapping(parse_yaml(text, str(path)), source=str(path), sets=sets, confs=confs, local=local)
