"""The Adapters tab's look inside an adapter (`models.delta`): where it changed the model (the norm of
ΔW = B·A per layer) and how much of its rank it uses (the share of ΔW's energy in its first k
directions, averaged over the layers of each kind)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from models.adapters import AdapterInfo
from models.delta import cumulative_energy, layer_deltas, rank_used
from ui.common import Localizer
from ui.i18n import text

ENERGY_SHARE = 0.9  # "how many directions hold 90% of the update"


@dataclass(frozen=True)
class DeltaView:
    summary: gr.Markdown
    where: gr.BarPlot
    rank: gr.LinePlot

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.summary, self.where, self.rank]


def build_view(loc: Localizer, elem_id: str = "adapters-delta") -> DeltaView:
    """An accordion (under the Adapters tab's model card; `elem_id` tells another tab's copy apart); the plots
    are drawn when an adapter is chosen."""
    with loc(gr.Accordion(open=False, elem_id=elem_id), label="delta.title"):
        loc(gr.Markdown(), value="delta.intro")
        summary = gr.Markdown(elem_id=f"{elem_id}-summary")
        # hidden until drawn with data: a plot first drawn empty keeps an empty colour legend
        where = loc(gr.BarPlot(x="layer", y="norm", color="kind", height=260, visible=False,
                               elem_id=f"{elem_id}-where"),
                    label="delta.where", x_title="delta.layer", y_title="delta.norm", color_title="delta.kind")
        rank = loc(gr.LinePlot(x="directions", y="share", color="kind", height=260, visible=False,
                               elem_id=f"{elem_id}-rank"),
                   label="delta.rank", x_title="delta.directions", y_title="delta.share", color_title="delta.kind")
    return DeltaView(summary, where, rank)


def view_updates(info: AdapterInfo | None, language: str) -> tuple[Any, ...]:
    """The summary line and both plots for an adapter (all hidden for none)."""
    if info is None:
        return "", gr.update(visible=False), gr.update(visible=False)
    deltas = layer_deltas(info)
    if not deltas:
        return text(language, "delta.none"), gr.update(visible=False), gr.update(visible=False)
    where = pd.DataFrame([{"layer": d.layer, "norm": d.norm, "kind": d.kind} for d in deltas])
    shares = [{"kind": delta.kind, "directions": count, "share": held}
              for delta in deltas for count, held in enumerate(cumulative_energy(delta), 1)]
    rank = pd.DataFrame(shares).groupby(["kind", "directions"], as_index=False)["share"].mean()
    largest = max(deltas, key=lambda d: d.norm)
    full = max(len(d.singular_values) for d in deltas)
    used = sum(rank_used(d, ENERGY_SHARE) for d in deltas) / len(deltas)
    summary = text(language, "delta.summary", modules=len(deltas), rank=full, used=f"{used:.1f}",
                   percent=round(100 * ENERGY_SHARE), largest=largest.module, norm=f"{largest.norm:.3g}")
    return summary, gr.update(value=where, visible=True), gr.update(value=rank, visible=True)
