"""From a RunConfig's model reference to its profile: the built-in network, or a file, module or registered
factory, built once on the meta device and profiled as DSTT where it has DSTT's module names."""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from dstt_profile.engine.subject import Subject
from dstt_profile.errors import UsageError
from dstt_profile.profiles import generic, inputs, known, loader, references
from dstt_profile.profiles.base import ModelProfile
from dstt_profile.profiles.builder import Builder
from dstt_profile.profiles.dstt import profile as dstt
from dstt_profile.profiles.dstt.args import SHORTHAND_NAMES, full_args
from dstt_profile.profiles.imports import UserImports
from dstt_profile.records.runconfig import DEFAULT_MODEL, RunConfig

_IN_PROCESS: dict[str, Callable[..., nn.Module]] = {}
_CACHE: dict[tuple[Any, ...], ModelProfile] = {}


def register_factory(factory: Callable[..., nn.Module]) -> str:
    """A model reference for a factory object (a class or function returning an nn.Module)."""
    if not callable(factory):
        raise UsageError(f"model must be a name such as 'dstt', 'file.py:Factory', or a callable, got {factory!r}")
    return references.register(_IN_PROCESS, factory)


_INSTANCES: weakref.WeakKeyDictionary[nn.Module, Callable[[], nn.Module]] = weakref.WeakKeyDictionary()


def instance_factory(module: nn.Module) -> Callable[[], nn.Module]:
    """A factory for a module instance given to the API: each build is a copy, so that no trace moves, converts or
    re-initialises the caller's module (one factory per instance, named after its class)."""
    if module not in _INSTANCES:
        ref = weakref.ref(module)

        def copy_of() -> nn.Module:
            original = ref()
            if original is None:
                raise UsageError("the module given to profile() no longer exists")
            return copy.deepcopy(original)

        copy_of.__module__, copy_of.__qualname__ = type(module).__module__, type(module).__qualname__
        _INSTANCES[module] = copy_of
    return _INSTANCES[module]


def is_builtin(run: RunConfig) -> bool:
    return run.model == DEFAULT_MODEL


def resolve(run: RunConfig) -> ModelProfile:
    """The profile of `run`'s model (UsageError, one line, where it cannot be loaded or built)."""
    if is_builtin(run) and run.stages is None:
        full_args(run)  # the arguments' rules, before anything is built
        return dstt.builtin()
    key = (run.model, run.model_args, run.model_path, run.stages)
    if key not in _CACHE:
        _CACHE[key] = _load(run, key)
    return _CACHE[key]


def _load(run: RunConfig, key: tuple[Any, ...]) -> ModelProfile:
    reference, args = run.model, run.args
    imports: UserImports | None = None
    if is_builtin(run):  # the built-in network under a stage map of the user's
        factory, title = dstt.factory(run), "DSTT"
    elif reference in _IN_PROCESS:
        factory, title = _IN_PROCESS[reference], reference.rpartition(".")[2]
    else:
        factory, imports = loader.load(reference, run.model_path)
        title = reference.rpartition(":")[2]

    build = Builder(reference, factory, args, imports)  # on the CPU where the meta device will not do

    def subject(run: RunConfig, stage_of: Callable[[str], str | None], first: str) -> Subject:
        return Subject(key=("model", key), build=build, stage_of=stage_of, first_stage=first,
                       program=imports.program if imports else "")

    with torch.device("meta"):
        probe = build()
    profile = _profile(run, title, subject, probe)
    build.spare(probe)  # done with here: where it was built on the CPU, the next meta build is this one
    if build.meta_failure:
        clause = f"built on the CPU for real: building on the meta device failed ({build.meta_failure})"
        profile = replace(profile, note=f"{profile.note}; {clause}" if profile.note else clause)
    return profile


def _profile(run: RunConfig, title: str, subject: Callable[[RunConfig, Callable[[str], str | None], str], Subject],
             probe: nn.Module) -> ModelProfile:
    """The profile of a model built once (`probe`): DSTT's, a known network's, or the generic one."""
    if run.stages is None and dstt.looks_like_dstt(probe):
        return dstt.detected(title, subject, probe)
    if run.stages is None and (found := known.detected(title, subject, probe)) is not None:
        return found
    profile = generic.generic(title, subject, probe, run.stages)
    # the built-in network under a stage map still checks its checkpoints
    return replace(profile, check_checkpoint=dstt.check_checkpoint) if is_builtin(run) else profile


def slug_variants(profile_name: str, run: RunConfig) -> tuple[str, ...]:
    """The file-name words of `run`'s model arguments, from the configuration alone (no model loaded)."""
    return dstt.slug_variants(run) if profile_name == dstt.NAME else generic.slug_variants(run)


def subject_for(run: RunConfig) -> Subject:
    """What the engine traces for `run`: its model, called with the run's --inputs where it names them."""
    subject = resolve(run).subject_for(run)
    return subject if run.inputs is None else replace(subject, inputs=inputs.maker(run))


def check_checkpoint(path: str, run: RunConfig) -> str:
    """`--checkpoint FILE`: its profile's check_checkpoint line; UsageError where it checks none."""
    if not path:
        raise UsageError("--checkpoint: the path is empty")
    check = resolve(run).check_checkpoint
    if check is None:
        raise UsageError(f"--checkpoint checks a checkpoint against the built-in DSTT network, not --model {run.model}")
    return check(path, run)


def normalised(run: RunConfig) -> RunConfig:
    """`run` checked against its model, with the built-in network's arguments all stated (defaults
    filled in), so equal runs compare equal however they were written."""
    resolve(run)
    return run.replace(model_args=full_args(run)) if is_builtin(run) else run


def refuse_shorthands(run: RunConfig, given: Mapping[str, Any]) -> None:
    """UsageError where DSTT's shorthands (args.SHORTHANDS) were given for a model that is not DSTT-shaped."""
    if given and resolve(run).name != dstt.NAME:
        named = [n for n in SHORTHAND_NAMES if n in given]
        raise UsageError(f"{', '.join(f'--{n}' for n in named)}: DSTT's size options, but --model {run.model} is not "
                         "DSTT-shaped; give its own arguments with --model-arg NAME=VALUE", f"model_args.{named[0]}")
