"""Persona chat: the small chat model with a persona adapter (or none), replies streamed token by
token; compare mode sends each message to the bare base too, in a second conversation beside it,
and both replies are written at the same time (the engine runs them in the same steps). Blend mode
answers with two personas mixed by a slider (the weight is the second one's share of the LoRA
update; `inference.resolve_blend`); compare mode then puts the blend beside the base.

Sending takes the message out of the box at once and disables Send until the replies end, so what
the user types meanwhile stays in the box; Stop ends both replies (`cancels`: the engine frees
their places at its next step)."""

from __future__ import annotations

from typing import Any, Iterator

import gradio as gr

from models.inference import ChatTurn, Partial, chat_streams, to_last_sentence
from models.messages import error_text
from models.tasks import get_task
from ui.common import (BASE_CHOICE, LIGHT_EVENT, MODEL_EVENT, UI_EVENT, USER_ERRORS, Context, adapter_argument,
                       adapter_choices, default_choice, keep_picker_fresh, waiting_text)
from ui.explain import Asked, build_panel, wire
from ui.i18n import DEFAULT_LANGUAGE, LANGUAGES, text
from ui.task_tab import examples_block

Messages = list[dict[str, str]]


def plain_messages(history: list[dict[str, Any]] | None) -> Messages:
    """Chatbot messages (content as a list of typed parts in gradio 6) as plain role/content text."""
    messages = []
    for message in history or []:
        content = message["content"]
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        messages.append({"role": message["role"], "content": str(content)})
    return messages


def reply_text(piece: Partial, language: str) -> str:
    """What the chatbot shows of a reply: its place in line while it waits, then its text; a reply cut
    at its length limit ends at its last whole sentence and says so; a blank one says "no reply" (the
    chatbot hides an empty message, and the turn would look lost)."""
    if piece.ahead is not None:
        return waiting_text(language, piece.ahead)
    if piece.cut:
        return f"{to_last_sentence(piece.text)}\n\n*{text(language, 'chat.cut')}*"
    if piece.done and not piece.text.strip():
        return text(language, "chat.no_reply")
    return piece.text


def written_reply(shown: str) -> str:
    """A reply as the model wrote it, from what the chatbot shows (the note on a cut reply removed, in
    whichever language it was shown); '' for the "no reply" note."""
    for language in LANGUAGES:
        if shown == text(language, "chat.no_reply"):
            return ""
        shown = shown.removesuffix(f"\n\n*{text(language, 'chat.cut')}*")
    return shown


def last_reply_asked(history: list[dict[str, Any]] | None, choice: str, blend: bool, workspace: str | None,
                     language: str) -> Asked:
    """What the explain panel reads: the persona's last reply, after the message and the turns before it.
    A blended reply has no one adapter to compare with the base."""
    messages = plain_messages(history)
    if blend:
        raise gr.Error(text(language, "explain.not_blended"))
    if len(messages) < 2 or messages[-1]["role"] != "assistant" or not written_reply(messages[-1]["content"]):
        raise gr.Error(text(language, "explain.no_reply"))
    return Asked(messages[-2]["content"], choice, written_reply(messages[-1]["content"]), messages[:-2], workspace,
                 language)


def stream_turns(turns: list[ChatTurn], workspace: str | None, language: str) -> Iterator[list[Messages]]:
    """Each conversation with the new user turn and its reply growing token by token, all at once."""
    shown = [[*(turn.history or []), {"role": "user", "content": turn.message}, {"role": "assistant", "content": ""}]
             for turn in turns]
    for pieces in chat_streams(turns, workspace=workspace, owner=workspace):
        for conversation, piece in zip(shown, pieces):
            conversation[-1]["content"] = reply_text(piece, language)
        yield shown


def second_choice(workspace: str | None) -> str:
    """What the blend's second persona opens with: the first persona other than the default (the base
    when there is none), so that the two sides differ."""
    first = default_choice("chat", workspace)
    return next((value for _, value in adapter_choices("chat", workspace) if value not in (BASE_CHOICE, first)),
                BASE_CHOICE)


def blend_mix(first: str, second: str, weight: float, language: str) -> str:
    """The mix the slider sets, in words: each persona's share of the reply's LoRA update."""
    share = round(weight * 100)
    return text(language, "chat.blend_mix", first=first, second=second, first_share=100 - share, second_share=share)


def build(ctx: Context) -> gr.Tab:
    loc = ctx.loc
    with loc(gr.Tab(id="chat"), label="chat.tab") as tab:
        loc(gr.Markdown(), value="chat.intro")
        with gr.Row():
            persona = loc(gr.Dropdown(adapter_choices("chat", None), value=default_choice("chat", None),
                                      elem_id="chat-persona"),
                          label="chat.persona", info="chat.persona_info")
            compare = loc(gr.Checkbox(False, elem_id="chat-compare"), label="chat.compare")
            blending = loc(gr.Checkbox(False, elem_id="chat-blend"), label="chat.blend", info="chat.blend_info")
        with gr.Row(visible=False) as blend_row:
            second = loc(gr.Dropdown(adapter_choices("chat", None), value=second_choice(None),
                                     elem_id="chat-persona-b"), label="chat.persona_b")
            with gr.Column():
                weight = loc(gr.Slider(0, 1, value=0.5, step=0.1, elem_id="chat-blend-weight"),
                             label="chat.blend_weight", info="chat.blend_weight_info")
                mix = gr.Markdown(blend_mix(persona.value, second.value, 0.5, DEFAULT_LANGUAGE),
                                  elem_id="chat-blend-mix")
        with gr.Row():
            conversation = loc(gr.Chatbot(height=420, feedback_options=None, elem_id="chat-persona-bot"),
                               label="chat.with_persona")
            base_conversation = loc(gr.Chatbot(height=420, feedback_options=None, visible=False,
                                               elem_id="chat-base-bot"), label="chat.with_base")
        with gr.Row():
            message = loc(gr.Textbox(scale=4, show_label=False, elem_id="chat-input"), placeholder="chat.placeholder")
            send = loc(gr.Button(variant="primary", scale=1, elem_id="chat-send"), value="chat.send")
            stop = loc(gr.Button(variant="stop", scale=1, interactive=False, elem_id="chat-stop"), value="chat.stop")
            clear = loc(gr.Button(scale=1, elem_id="chat-clear"), value="chat.clear")
        sending = gr.State("")  # the message being answered, once it has left the box
        answering = gr.State(False)  # Enter still works while Send is disabled: it must wait too
        examples_block(get_task("chat").examples, message, "chat-examples", loc)
        panel = build_panel(get_task("chat"), "chat", loc)

    def take(message: str, busy: bool, language: str):
        """The message leaves the box for the reply; Send waits for the reply, Stop can end it. While a
        reply is written a new message stays in the box (an error stops the chain before anything changes)."""
        if busy:
            raise gr.Error(text(language, "chat.wait_for_reply"), duration=4)
        if not (message or "").strip():
            gr.Info(text(language, "common.empty"))
            return gr.skip(), "", gr.skip(), gr.skip(), gr.skip()
        return "", message, True, gr.update(interactive=False), gr.update(interactive=True)

    def respond(message: str, history: list, base_history: list, choice: str, compare: bool, blend: bool,
                other: str, share: float, workspace: str | None, language: str):
        if not message:
            return
        try:
            adapter = adapter_argument(choice, "chat", workspace)
            mixed = {"blend_with": adapter_argument(other, "chat", workspace), "weight": share} if blend else {}
            turns = [ChatTurn(message, plain_messages(history), adapter, **mixed)]
            if compare:
                turns.append(ChatTurn(message, plain_messages(base_history)))
            for shown in stream_turns(turns, workspace, language):
                yield shown[0], shown[1] if compare else gr.skip()
        except USER_ERRORS as error:
            raise gr.Error(error_text(error, language)) from None

    def ready():
        return False, gr.update(interactive=True), gr.update(interactive=False)

    buttons = [answering, send, stop]
    sent = gr.on([send.click, message.submit], take, [message, answering, ctx.language],
                 [message, sending, *buttons], **LIGHT_EVENT)
    replies = sent.success(respond, [sending, conversation, base_conversation, persona, compare, blending, second,
                                     weight, ctx.workspace, ctx.language], [conversation, base_conversation],
                           **MODEL_EVENT)
    replies.then(ready, None, buttons, **UI_EVENT, queue=False)
    stop.click(ready, None, buttons, cancels=[replies], **UI_EVENT, queue=False)
    clear.click(lambda: ([], [], *ready()), None, [conversation, base_conversation, *buttons], cancels=[replies],
                **UI_EVENT, queue=False)
    compare.change(lambda on: gr.update(visible=on), compare, base_conversation, **UI_EVENT, queue=False)
    blending.change(lambda on: gr.update(visible=on), blending, blend_row, **UI_EVENT, queue=False)
    gr.on([persona.change, second.change, weight.change, ctx.language.change], blend_mix,
          [persona, second, weight, ctx.language], mix, **UI_EVENT, queue=False)
    wire(panel, get_task("chat"), [conversation, persona, blending, ctx.workspace, ctx.language], last_reply_asked)
    keep_picker_fresh(tab, persona, "chat", ctx.workspace)
    keep_picker_fresh(tab, second, "chat", ctx.workspace)
    return tab
