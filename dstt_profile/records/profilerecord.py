"""What the renderers know of a model's profile, carried in every run so that a saved result re-renders
without the model or its profile (docs/json.md)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModuleNote:
    """Words beside the layer graph's box of every module fully matching `module` (in `stage`, unless "")."""

    module: str
    words: str
    stage: str = ""


@dataclass(frozen=True)
class OpNote:
    """Words beside the box of every forward op in `ops` run directly in a module fully matching `module`;
    with `square`, only an op whose output's last two dimensions are equal and above 1 (an attention matrix)."""

    ops: tuple[str, ...]
    words: str
    module: str = ".*"
    square: bool = False


@dataclass(frozen=True)
class GraphHintsRecord:
    """A profile's wording for its layer graph, never its structure (depth 1: the top-level modules)."""

    depth: int = 1
    module_notes: tuple[ModuleNote, ...] = ()
    op_notes: tuple[OpNote, ...] = ()


@dataclass(frozen=True)
class ProfileRecord:
    name: str = ""
    title: str = ""
    variant: str = ""
    stages: tuple[str, ...] = ()
    quadratic_stage: str = ""
    colours: dict[str, str] = field(default_factory=dict)
    note: str = ""
    quadratic_words: str = ""
    quadratic_headline: str = ""
    graph: GraphHintsRecord = field(default_factory=GraphHintsRecord)

    @property
    def quadratic_name(self) -> str:
        return self.quadratic_words or self.quadratic_stage

    @property
    def quadratic_tensor(self) -> str:
        if self.quadratic_headline or not self.quadratic_stage:
            return self.quadratic_headline
        return f"{self.quadratic_stage} headline tensor"
