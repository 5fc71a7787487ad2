"""Persona chat: the small chat model with a persona adapter (or none), replies streamed token by
token; compare mode sends each message to the bare base too, in a second conversation beside it,
and both replies are written at the same time (the engine runs them in the same steps).

Sending takes the message out of the box at once and disables Send until the replies end, so what
the user types meanwhile stays in the box; Stop ends both replies (`cancels`: the engine frees
their places at its next step)."""

from __future__ import annotations

from typing import Any, Iterator

import gradio as gr

from models.inference import ChatTurn, Partial, chat_streams, to_last_sentence
from models.messages import error_text
from models.tasks import get_task
from ui.common import (LIGHT_EVENT, MODEL_EVENT, UI_EVENT, USER_ERRORS, Context, adapter_argument, adapter_choices,
                       default_choice, keep_picker_fresh, waiting_text)
from ui.i18n import text
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


def stream_turns(message: str, histories: list[Messages], adapters: list[str | None], workspace: str | None,
                 language: str) -> Iterator[list[Messages]]:
    """Each conversation with the new user turn and its reply growing token by token, all at once."""
    turns = [history + [{"role": "user", "content": message}, {"role": "assistant", "content": ""}]
             for history in histories]
    for pieces in chat_streams([ChatTurn(message, history, adapter) for history, adapter in zip(histories, adapters)],
                               workspace=workspace, owner=workspace):
        for turn, piece in zip(turns, pieces):
            turn[-1]["content"] = reply_text(piece, language)
        yield turns


def build(ctx: Context) -> gr.Tab:
    loc = ctx.loc
    with loc(gr.Tab(id="chat"), label="chat.tab") as tab:
        loc(gr.Markdown(), value="chat.intro")
        with gr.Row():
            persona = loc(gr.Dropdown(adapter_choices("chat", None), value=default_choice("chat", None),
                                      elem_id="chat-persona"),
                          label="chat.persona", info="chat.persona_info")
            compare = loc(gr.Checkbox(False, elem_id="chat-compare"), label="chat.compare")
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

    def take(message: str, busy: bool, language: str):
        """The message leaves the box for the reply; Send waits for the reply, Stop can end it. While a
        reply is written a new message stays in the box (an error stops the chain before anything changes)."""
        if busy:
            raise gr.Error(text(language, "chat.wait_for_reply"), duration=4)
        if not (message or "").strip():
            gr.Info(text(language, "common.empty"))
            return gr.skip(), "", gr.skip(), gr.skip(), gr.skip()
        return "", message, True, gr.update(interactive=False), gr.update(interactive=True)

    def respond(message: str, history: list, base_history: list, choice: str, compare: bool,
                workspace: str | None, language: str):
        if not message:
            return
        history, base_history = plain_messages(history), plain_messages(base_history)
        try:
            adapter = adapter_argument(choice, "chat", workspace)
            histories, adapters = ([history, base_history], [adapter, None]) if compare else ([history], [adapter])
            for turns in stream_turns(message, histories, adapters, workspace, language):
                yield turns[0], turns[1] if compare else gr.skip()
        except USER_ERRORS as error:
            raise gr.Error(error_text(error, language)) from None

    def ready():
        return False, gr.update(interactive=True), gr.update(interactive=False)

    buttons = [answering, send, stop]
    sent = gr.on([send.click, message.submit], take, [message, answering, ctx.language],
                 [message, sending, *buttons], **LIGHT_EVENT)
    replies = sent.success(respond, [sending, conversation, base_conversation, persona, compare, ctx.workspace,
                                     ctx.language], [conversation, base_conversation], **MODEL_EVENT)
    replies.then(ready, None, buttons, **UI_EVENT, queue=False)
    stop.click(ready, None, buttons, cancels=[replies], **UI_EVENT, queue=False)
    clear.click(lambda: ([], [], *ready()), None, [conversation, base_conversation, *buttons], cancels=[replies],
                **UI_EVENT, queue=False)
    compare.change(lambda on: gr.update(visible=on), compare, base_conversation, **UI_EVENT, queue=False)
    keep_picker_fresh(tab, persona, "chat", ctx.workspace)
    return tab
