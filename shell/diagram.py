"""The controller's state machine as Graphviz DOT (`ionto diagram --format dot`), drawn from
the same table the controller runs (iontocore.machine.TRANSITIONS).

Layout: the session flows top to bottom (idle, ramp_up, treat, ...); the states a fault can
come from sit in one cluster with a single edge into `fault` at the bottom, instead of
seven edges crossing the drawing; no state is painted as the current one. Render offline
with `dot -Tsvg` (Debian package graphviz)."""

from __future__ import annotations

from iontocore.machine import FAULT, IDLE, STATES, TRANSITIONS

_FILL = {IDLE: "#f7f7f7", FAULT: "#f9c8c8"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '\\"') + '"'


def dot() -> str:
    """The diagram as DOT source text."""
    names = [s.name for s in STATES]
    into_fault = next(t for t in TRANSITIONS if t.dest == FAULT)
    from_anywhere = set(into_fault.sources)
    out = ["digraph iontocore {",
           '  graph [rankdir=TB, compound=true, fontname="Helvetica", label="iontocore controller", labelloc=t];',
           '  node [shape=box, style="rounded,filled", fillcolor="#e8f0fa", fontname="Helvetica"];',
           '  edge [fontname="Helvetica", fontsize=10];',
           "  subgraph cluster_session {",
           '    label="any of these may fault"; style=dashed; color=gray;']
    for name in names:
        if name != FAULT:
            out.append(f"    {_q(name)} [fillcolor={_q(_FILL.get(name, '#e8f0fa'))}];")
    out.append("  }")
    out.append(f"  {_q(FAULT)} [fillcolor={_q(_FILL[FAULT])}];")
    out.append(f"  {{ rank=sink; {_q(FAULT)}; }}")
    for t in TRANSITIONS:
        if t.dest == FAULT:
            continue
        for src in t.sources:
            attrs = f"label={_q(t.trigger)}"
            if t.trigger == "reset":
                attrs += ', style=dashed, color="gray40"'
            out.append(f"  {_q(src)} -> {_q(t.dest)} [{attrs}];")
    # one edge from the cluster into fault, standing for every source of the fault trigger
    anchor = next(n for n in names if n in from_anywhere and n != IDLE)
    out.append(f"  {_q(anchor)} -> {_q(FAULT)} [ltail=cluster_session, label={_q(into_fault.trigger)}, "
               'color="red", fontcolor="red"];')
    out.append("}")
    return "\n".join(out) + "\n"


def edges(source: str) -> set[tuple[str, str, str]]:
    """(source, trigger, dest) of every edge drawn in `source` (DOT text from `dot()`); the
    cluster edge into fault stands for every state in the cluster."""
    import re

    found: set[tuple[str, str, str]] = set()
    cluster = re.search(r"subgraph cluster_session \{(.*?)\n  \}", source, re.S)
    members = re.findall(r'^\s+"([a-z_]+)" \[fill', cluster.group(1), re.M) if cluster else []
    for src, dst, attrs in re.findall(r'^\s+"([a-z_]+)" -> "([a-z_]+)" \[(.*)\];$', source, re.M):
        trigger = re.search(r'label="([^"]+)"', attrs)
        name = trigger.group(1) if trigger else ""
        if "ltail=cluster_session" in attrs:
            found |= {(m, name, dst) for m in members}
        else:
            found.add((src, name, dst))
    return found
