"""Persona chat: the small chat model with a persona adapter (or none), replies streamed token by
token; compare mode sends each message to the bare base too, in a second conversation beside it,
and both replies are written at the same time (the engine runs them in the same steps)."""

from __future__ import annotations

from typing import Any, Iterator

import gradio as gr

from models.inference import ChatTurn, chat_streams
from models.messages import error_text
from models.tasks import get_task
from ui.common import (BASE_CHOICE, MODEL_EVENT, UI_EVENT, USER_ERRORS, Context, adapter_argument, adapter_choices,
                       keep_picker_fresh, waiting_text)
from ui.i18n import text

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


def stream_turns(message: str, histories: list[Messages], adapters: list[str | None], workspace: str | None,
                 language: str) -> Iterator[list[Messages]]:
    """Each conversation with the new user turn and its reply growing token by token, all at once;
    while the replies wait for a place, the reply says how many are ahead. A blank reply becomes
    "no reply": the chatbot hides an empty message, and the turn would look lost."""
    turns = [history + [{"role": "user", "content": message}, {"role": "assistant", "content": ""}]
             for history in histories]
    for pieces in chat_streams([ChatTurn(message, history, adapter) for history, adapter in zip(histories, adapters)],
                               workspace=workspace, owner=workspace):
        for turn, piece in zip(turns, pieces):
            turn[-1]["content"] = waiting_text(language, piece.ahead) if piece.ahead is not None else piece.text
        yield turns
    for turn in turns:
        if not turn[-1]["content"].strip():
            turn[-1]["content"] = text(language, "chat.no_reply")
    yield turns


def build(ctx: Context) -> gr.Tab:
    loc = ctx.loc
    with loc(gr.Tab(id="chat"), label="chat.tab") as tab:
        loc(gr.Markdown(), value="chat.intro")
        with gr.Row():
            persona = loc(gr.Dropdown(adapter_choices("chat", None), value=BASE_CHOICE, elem_id="chat-persona"),
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
            clear = loc(gr.Button(scale=1, elem_id="chat-clear"), value="chat.clear")
        gr.Examples([[example] for example in get_task("chat").examples], inputs=[message], **UI_EVENT)

    def respond(message: str, history: list, base_history: list, choice: str, compare: bool,
                workspace: str | None, language: str):
        history, base_history = plain_messages(history), plain_messages(base_history)
        if not (message or "").strip():
            gr.Info(text(language, "common.empty"))
            yield message, history, base_history
            return
        try:
            adapter = adapter_argument(choice, "chat", workspace)
            histories, adapters = ([history, base_history], [adapter, None]) if compare else ([history], [adapter])
            box: Any = ""  # the box is cleared once; what the user types while the reply streams is kept
            for turns in stream_turns(message, histories, adapters, workspace, language):
                yield box, turns[0], turns[1] if compare else base_history
                box = gr.skip()
        except USER_ERRORS as error:
            raise gr.Error(error_text(error, language)) from None

    gr.on([send.click, message.submit], respond,
          [message, conversation, base_conversation, persona, compare, ctx.workspace, ctx.language],
          [message, conversation, base_conversation], **MODEL_EVENT)
    clear.click(lambda: ("", [], []), None, [message, conversation, base_conversation], **UI_EVENT, queue=False)
    compare.change(lambda on: gr.update(visible=on), compare, base_conversation, **UI_EVENT, queue=False)
    keep_picker_fresh(tab, persona, "chat", ctx.workspace)
    return tab
