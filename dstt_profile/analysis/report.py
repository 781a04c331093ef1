"""A `Report` from a result's records alone (never running the model): the scaling series it draws
and their laws, computed once here, so that renderers only render."""

from __future__ import annotations

from dstt_profile.analysis.laws import laws_of
from dstt_profile.analysis.series import of_result
from dstt_profile.errors import UsageError
from dstt_profile.records.laws import Laws, MemoryView
from dstt_profile.records.report import Report
from dstt_profile.records.schema import Result


def report_of(result: Result) -> Report:
    """The report of `result`: one configuration, one run per t (UsageError otherwise)."""
    if not result.runs:
        raise UsageError("the result holds no runs: nothing to report")
    twice = result.same_t()
    if twice is not None:
        first, second = twice
        raise UsageError(
            f"the result holds two runs at t={result.runs[second].frames} (runs[{first}] and runs[{second}]): "
            "a report shows one configuration, one run per t"
        )
    scaling = of_result(result)
    main = Report(result, scaling, Laws(MemoryView.ALLOCATOR, {}, ())).detail
    return Report(result, scaling, laws_of(scaling, MemoryView(main.memory), main.profile.quadratic_stage))
