"""Hypothesis strategies of histories (`tests.checker.history`): small, and shrinking to small."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.checker.faults import FEED_FAULTS
from tests.checker.world import EDIT_FIELDS, POLICY_CHOICES, SIDES

sides = st.sampled_from(SIDES)
meeting = st.integers(0, 3)
value = st.integers(0, 3)

faults = st.one_of(
    st.none(),
    st.tuples(st.just("kill"), st.integers(1, 12), st.booleans()),
    st.tuples(st.just("busy"), st.integers(1, 4)),
    st.sampled_from(FEED_FAULTS),
)

# Every (setting, value) pair, drawn from one list: cheaper to draw than a flatmap over the setting.
policy_step = st.sampled_from([("policy", name, v) for name in sorted(POLICY_CHOICES) for v in POLICY_CHOICES[name]])

step = st.one_of(
    st.tuples(st.just("create"), sides, st.booleans()),
    st.tuples(st.just("edit"), sides, meeting, st.sampled_from(EDIT_FIELDS), value),
    st.tuples(st.just("twin"), meeting, st.sampled_from(("subject", "location", "time")), value),
    st.tuples(st.just("delete"), sides, meeting),
    st.tuples(st.sampled_from(("unshare", "reshare", "bad", "fix")), meeting),
    policy_step,
    st.tuples(st.just("sync"), faults),
    st.tuples(st.just("sync"), st.none()),
    st.tuples(st.just("lose"), st.sampled_from(("cursor", "database"))),
    st.just(("order",)),
)

# A history starts with a meeting or two (most steps need one) and has a handful of steps.
histories = st.tuples(
    st.lists(st.tuples(st.just("create"), sides, st.booleans()), min_size=1, max_size=2),
    st.lists(step, max_size=8),
).map(lambda parts: [*parts[0], ("sync", None), *parts[1]])
