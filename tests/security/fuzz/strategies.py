"""What the fuzz tests share: bounded Hypothesis settings, strategies for
arbitrary JSON and request content types, one example's database writes undone,
and edits of a JSON document at any depth."""

import json
import os
from contextlib import contextmanager

from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Function-scoped fixtures (client, certificate, lab) are shared by the examples of
# a test on purpose: each example is isolated by rolling back what it wrote.
# FUZZ_EXAMPLES=2000 for a long run on a developer's machine; 40 keeps CI quick.
fuzz = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/vc+jwt",
        "application/jwt",
        "text/plain",
        "text/plain; charset=latin-1",
        "application/json; charset=utf-16",
        "application/octet-stream",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=fuzz",
        "multipart/form-data",
        "text/csv",
        "",
        "\x00/\x00",
    ]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)


@contextmanager
def rolled_back():
    """One example's writes, undone when it ends."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path


def _confused(value):
    """``value`` as another JSON type that Python may still find equal to it
    (true as 1, 1 as 1.0), or a digit string as a number."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return float(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


DOCUMENT_EDITS = st.tuples(
    st.sampled_from(["replace", "confuse", "remove", "add", "drop"]),
    st.integers(0, 10**6),
    json_values,
    st.text(min_size=1, max_size=10),
)


def document_edited(document: dict, edit) -> dict:
    """``document`` with one value replaced (or swapped for one Python finds equal
    and JSON does not), removed, a member added, or a top-level member left out.
    The place is a leaf's path, or an index into the list of them."""
    action, place, value, name = edit
    changed = json.loads(json.dumps(document))
    leaves = list(_leaves(document))
    path = place if isinstance(place, tuple) else leaves[place % len(leaves)]
    target = changed
    for step in path[:-1]:
        target = target[step]
    if action == "replace":
        target[path[-1]] = value
    elif action == "confuse":
        target[path[-1]] = _confused(target[path[-1]])
    elif action == "remove":
        del target[path[-1]]
    elif action == "add":
        changed[name] = value
    else:
        changed.pop(path[0], None)
    return changed
