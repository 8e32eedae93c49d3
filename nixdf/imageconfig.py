"""An image's config (the OCI/Docker config keys that have a Dockerfile instruction), read
and checked against what each instruction can carry (:mod:`nixdf.vocabulary`)."""

from __future__ import annotations

import re
from collections.abc import Callable

from .arguments import did_you_mean, span_of, static, static_text, value_span
from .errors import Span, SpecError
from .evaluate import NULL, Attrs, ListValue, Thunk, force_static, type_name
from .image import Healthcheck, ImageConfig
from .vocabulary import (
    ENV_KEY,
    NO_INSTRUCTION,
    ONBUILD_FORBIDDEN,
    PORT,
    SIGNAL,
    carries,
    label_key,
    one_line,
    volume_path,
)

_CONFIG_KEYS = (
    "Cmd", "Entrypoint", "Env", "WorkingDir", "Volumes", "ExposedPorts", "Labels",
    "StopSignal", "User", "Healthcheck", "OnBuild", "Shell",
)


_HEALTHCHECK_KEYS = ("Test", "Interval", "Timeout", "StartPeriod", "Retries")


# Docker's own config keys, which the OCI image config nix2container writes has not:
# nix2container drops them, and so does nixdf for its images.
_DOCKER_ONLY_KEYS = ("Healthcheck", "OnBuild", "Shell")


def image_config(args: Attrs, *, oci_only: bool = False) -> ImageConfig:
    if "config" not in args.items or args.items["config"].force() is NULL:
        return ImageConfig()
    value = static(args, "config", "'config'")
    if not isinstance(value, Attrs):
        raise SpecError("'config' must be an attribute set", value_span(args, "config"))
    config = _canonical_keys(value)
    if oci_only:
        for key in _DOCKER_ONLY_KEYS:
            config.items.pop(key, None)
    env = tuple(_env_entry(t, config) for t in _list_items(config, "Env"))
    return ImageConfig(
        entrypoint=_command(config, "Entrypoint"),
        cmd=_command(config, "Cmd"),
        env=env,
        working_dir=_config_string(config, "WorkingDir"),
        volumes=tuple(_set_keys(config, "Volumes", _check_path)),
        exposed_ports=tuple(_set_keys(config, "ExposedPorts", _check_port)),
        labels=tuple(sorted(
            (k, _label(k, t, config, s)) for k, t, s in _set_items(config, "Labels"))),
        stop_signal=_signal(config),
        user=_config_string(config, "User"),
        healthcheck=_healthcheck(config),
        on_build=tuple(_on_build(t, config) for t in _list_items(config, "OnBuild")),
        shell=_command(config, "Shell"),
    )


def _canonical_keys(config: Attrs) -> Attrs:
    """Docker reads config keys case-insensitively, so `entrypoint` works in dockerTools too."""
    canonical = {key.lower(): key for key in _CONFIG_KEYS}
    result = Attrs({}, {}, config.span)
    for key, span in config.key_spans.items():
        if key in NO_INSTRUCTION:
            raise SpecError(f"config key '{key}' has no Dockerfile instruction", span,
                            hint="set it when running the container instead.")
        name = canonical.get(key.lower())
        if name is None:
            raise SpecError(f"unknown config key '{key}'", span,
                            hint=did_you_mean(key, _CONFIG_KEYS))
        if name in result.items:
            raise SpecError(f"config key '{key}' repeats '{name}' in another case", span)
        result.items[name] = config.items[key]
        result.key_spans[name] = span
    return result


def _healthcheck(config: Attrs) -> Healthcheck | None:
    if "Healthcheck" not in config.items:
        return None
    check, span = _config_value(config, "Healthcheck", Attrs, "an attribute set")
    assert isinstance(check, Attrs)
    for key, key_span in check.key_spans.items():
        if key == "StartInterval":
            raise SpecError("Healthcheck.StartInterval is not supported yet", key_span,
                            hint="Docker 20.10's Dockerfile syntax has no --start-interval.")
        if key not in _HEALTHCHECK_KEYS:
            raise SpecError(f"unknown Healthcheck key '{key}'", key_span,
                            hint=did_you_mean(key, _HEALTHCHECK_KEYS))
    numbers = {key: _healthcheck_number(check, key) for key in _HEALTHCHECK_KEYS[1:]}
    if "Test" in check.items:
        span = span_of(check.items["Test"], check.key_spans["Test"])
    test = (tuple(static_text(t, "an element of Healthcheck.Test", span)
                  for t in _list_items(check, "Test")) if "Test" in check.items else ())
    if not test:
        # An empty Test means "inherit the base image's": there is nothing to write.
        return None
    if test[0] == "NONE" and len(test) == 1:
        return Healthcheck(("NONE",))
    if test[0] == "CMD-SHELL" and len(test) == 2:
        command = test[1]
        if not one_line(command):
            raise SpecError("this CMD-SHELL command cannot be written on a HEALTHCHECK line as "
                            "it is", span, hint="avoid line breaks, outer spaces and a final "
                            "backslash, or use the [\"CMD\" …] form.")
    elif test[0] != "CMD" or len(test) < 2:
        raise SpecError("Healthcheck.Test must be [\"NONE\"], [\"CMD\" program args…] or "
                        "[\"CMD-SHELL\" command]", span)
    return Healthcheck(test, numbers["Interval"], numbers["Timeout"], numbers["StartPeriod"],
                       numbers["Retries"])


def _healthcheck_number(check: Attrs, key: str) -> int:
    if key not in check.items:
        return 0
    thunk = check.items[key]
    span = span_of(thunk, check.key_spans[key])
    value = force_static(thunk, f"Healthcheck.{key}", span)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        unit = "a count" if key == "Retries" else "nanoseconds, as in the image config"
        raise SpecError(f"Healthcheck.{key} must be a whole number ({unit})", span)
    if key != "Retries" and 0 < value < 1_000_000:
        raise SpecError(f"Healthcheck.{key} is under a millisecond, which Docker refuses",
                        span, hint="durations are in nanoseconds: 30 s is 30000000000.")
    return value


def _on_build(thunk: Thunk, config: Attrs) -> str:
    span = span_of(thunk, config.key_spans["OnBuild"])
    trigger = static_text(thunk, "an OnBuild entry", span).strip()
    # A final backslash would continue the line, joining the next instruction to this one.
    if not trigger or not carries(trigger, tab=True) or trigger.endswith("\\"):
        raise SpecError("an OnBuild entry must be one Dockerfile instruction on one line", span,
                        hint="no line breaks, and no backslash at the end.")
    if trigger.split()[0].upper() in ONBUILD_FORBIDDEN:
        raise SpecError(f"ONBUILD cannot hold {trigger.split()[0].upper()}", span)
    return trigger


def _config_string(config: Attrs, key: str) -> str | None:
    if key not in config.items:
        return None
    value = static_text(config.items[key], f"config.{key}", config.key_spans[key])
    if not carries(value):
        raise SpecError(f"config.{key} contains a control character, which a Dockerfile "
                        "instruction cannot carry", span_of(config.items[key],
                                                              config.key_spans[key]))
    return value


def _config_value(config: Attrs, key: str, kind: type, shape: str) -> tuple[object, Span]:
    """A config entry forced statically and checked to be ``kind``; with its span."""
    thunk = config.items[key]
    span = span_of(thunk, config.key_spans[key])
    value = force_static(thunk, f"config.{key}", span)
    if not isinstance(value, kind):
        raise SpecError(f"config.{key} must be {shape}, got {type_name(value)}", span)
    return value, span


def _list_items(config: Attrs, key: str) -> list[Thunk]:
    if key not in config.items:
        return []
    value, _ = _config_value(config, key, ListValue, "a list")
    assert isinstance(value, ListValue)
    return list(value.items)


def _command(config: Attrs, key: str) -> tuple[str, ...] | None:
    if key not in config.items:
        return None
    thunk = config.items[key]
    span = span_of(thunk, config.key_spans[key])
    value = force_static(thunk, f"config.{key}", span)
    if isinstance(value, str):
        if any(c.isspace() for c in value):
            words = " ".join(f'"{w}"' for w in value.split())
            raise SpecError(
                f"config.{key} is one string with spaces, so Docker would look for a program "
                f"named {value!r}", span,
                hint=f"give a list of words: {key} = [ {words} ];")
        return (value,)
    if not isinstance(value, ListValue):
        raise SpecError(f"config.{key} must be a list of strings", span)
    return tuple(static_text(t, f"an element of config.{key}", span) for t in value.items)


def _signal(config: Attrs) -> str | None:
    signal = _config_string(config, "StopSignal")
    if signal is not None and not re.fullmatch(SIGNAL, signal):
        raise SpecError(f"config.StopSignal {signal!r} is not a signal",
                        span_of(config.items["StopSignal"], config.key_spans["StopSignal"]),
                        hint='a name such as "SIGTERM" or "SIGRTMIN+3", or a number.')
    return signal


def _label(name: str, thunk: Thunk, config: Attrs, key_span: Span) -> str:
    if not label_key(name):
        # The LABEL instruction splits key from value at the first '=', quotes or not.
        raise SpecError(f"label name {name!r} cannot be written in a Dockerfile", key_span,
                        hint="label names may not be empty or contain '='.")
    value = static_text(thunk, f"label '{name}'", config.key_spans["Labels"])
    if not carries(value, tab=True):
        raise SpecError(f"label '{name}' contains a line break or control character, which a "
                        "LABEL instruction cannot carry",
                        span_of(thunk, config.key_spans["Labels"]))
    return value


def _env_entry(thunk: Thunk, config: Attrs) -> tuple[str, str]:
    span = span_of(thunk, config.key_spans["Env"])
    entry = static_text(thunk, "an Env entry", span)
    key, sep, value = entry.partition("=")
    if not sep:
        raise SpecError(f"Env entry {entry!r} has no '='", span,
                        hint='write each entry as "NAME=value".')
    if not ENV_KEY.fullmatch(key):
        raise SpecError(f"Env name {key!r} is not a valid variable name", span)
    if not carries(value, tab=True):
        raise SpecError(f"the value of Env {key} contains a line break or control character, "
                        "which an ENV instruction cannot carry", span)
    return key, value


def _set_items(config: Attrs, key: str) -> list[tuple[str, Thunk, Span]]:
    if key not in config.items:
        return []
    value, span = _config_value(config, key, Attrs, "an attribute set")
    assert isinstance(value, Attrs)
    items = [(name, thunk, value.key_spans.get(name, span))
             for name, thunk in value.items.items()]
    for name, _, name_span in items:
        if not carries(name):
            raise SpecError(f"a name in config.{key} contains a control character", name_span)
    return items


def _set_keys(config: Attrs, key: str, check: Callable[[str, Attrs, str], None]) -> list[str]:
    names = []
    for name, _, _ in _set_items(config, key):
        check(name, config, key)
        names.append(name)
    return sorted(names)


def _check_path(name: str, config: Attrs, key: str) -> None:
    if not volume_path(name):
        # VOLUME trims each path, so such a path cannot reach the image as written.
        raise SpecError(f"config.{key} path {name!r} is empty or starts or ends with a space",
                        config.key_spans[key])


def _check_port(name: str, config: Attrs, key: str) -> None:
    if not PORT.fullmatch(name):
        raise SpecError(f"config.{key} entry {name!r} is not a port", config.key_spans[key],
                        hint='write "8080/tcp", "53/udp" or "8080".')
