"""What the renderers know of a model's profile, carried in every run so that a saved result re-renders
without the model or its profile: the title, the stages, their colours, the stage that grows with t^2,
and the layer graph's depth and notes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModuleNote:
    """A few words shown beside the layer graph's box of every module whose name fully matches the
    regular expression `module` and, where `stage` is not "", that belongs to `stage`. A module takes
    the first note of the list that matches it."""

    module: str
    words: str
    stage: str = ""


@dataclass(frozen=True)
class OpNote:
    """A few words shown beside the layer graph's box of every forward op named in `ops` (aten names)
    that runs directly in a module fully matching the regular expression `module` ("" the root); with
    `square`, only an op whose output's last two dimensions are equal and above 1 (an attention matrix).
    An op takes the first note of the list that matches it."""

    ops: tuple[str, ...]
    words: str
    module: str = ".*"
    square: bool = False


@dataclass(frozen=True)
class GraphHintsRecord:
    """A profile's wording for its layer graph, never its structure: the depth drawn first and
    exported (1: the top-level modules), and notes for modules and ops."""

    depth: int = 1
    module_notes: tuple[ModuleNote, ...] = ()
    op_notes: tuple[OpNote, ...] = ()


@dataclass(frozen=True)
class ProfileRecord:
    """What the renderers know of the model's profile, so a saved result re-renders without the model.

    `stages` in network order; `quadratic_stage` the stage whose headline tensor grows with t^2 (the
    plots mark where it becomes the largest; "" where none does), `quadratic_words` that stage in words
    ("temporal attention") and `quadratic_headline` its headline tensor in words ("temporal attention
    matrix"), both "" for the stage's name; `colours` stage -> colour (stages not named take a neutral palette in stage order);
    `graph` the layer graph's depth and notes; `variant` words for the model arguments shown in titles
    ("matmul attention"); `note` how the profile was chosen."""

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
        """The t^2 stage in words: `quadratic_words`, else the stage's name ("" where there is none)."""
        return self.quadratic_words or self.quadratic_stage

    @property
    def quadratic_tensor(self) -> str:
        """The t^2 stage's headline tensor in words: `quadratic_headline`, else "<stage> headline tensor"."""
        if self.quadratic_headline or not self.quadratic_stage:
            return self.quadratic_headline
        return f"{self.quadratic_stage} headline tensor"
