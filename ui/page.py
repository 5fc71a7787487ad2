"""What the page carries besides its components: gradio's own strings in Vietnamese, the script that
puts gradio's interface in the page's language, and the stylesheet.

gradio translates its own strings ("Drop File Here", "Clear", the footer) in the browser, in the
language of the browser, and ships no Vietnamese. `gr.I18n` adds ours, and gradio's core module
exports `changeLocale` (its Settings panel uses it) to switch. A component reads those strings when
it is drawn, so the language is set as the page starts, from `?lang=` in the address or the last
choice in this browser, before the first tab is drawn; the tabs are drawn when first opened, so a
switch with the language radio reaches every tab not yet seen (the rest on the next visit).
The app's own strings are `ui.i18n`'s, switched by `ui.common.Localizer`.
"""

from __future__ import annotations

import json

import gradio as gr

from ui.i18n import LANGUAGES

# The language a link asks for: `?lang=vi`.
LANGUAGE_PARAMETER = "lang"
# This browser's last choice, readable before the app starts (the app's own BrowserState is encrypted).
LOCALE_STORAGE_KEY = "lora-playground-locale"

# gradio's own strings the app shows, in gradio's own keys (its English is in its frontend bundle).
# "common.complete" is missing from gradio's English: without it, the progress tracker writes the raw key.
GRADIO_STRINGS = {
    "en": {"common": {"complete": "Complete"}},
    "vi": {
        "common": {"clear": "Xoá", "download": "Tải về", "download_all": "Tải về tất cả", "edit": "Sửa",
                   "empty": "Trống", "error": "Lỗi", "loading": "Đang tải", "or": "hoặc", "remove": "Bỏ",
                   "undo": "Hoàn tác", "settings": "Cài đặt", "share": "Chia sẻ", "submit": "Gửi", "run": "Chạy",
                   "complete": "Hoàn tất", "progress": "Tiến độ", "language": "Ngôn ngữ",
                   "display_theme": "Giao diện", "built_with": "xây dựng bằng", "built_with_gradio":
                   "Xây dựng bằng Gradio", "hosted_on": "Chạy trên", "upload": "Tải lên", "logo": "logo",
                   "runs": "Các lần chạy", "runs_description": "Xem các lần chạy đã lưu trong trình duyệt này",
                   "back_to_app": "Ứng dụng", "back_to_app_description": "Quay lại ứng dụng"},
        "upload_text": {"click_to_upload": "Bấm để tải lên", "drop_file": "Thả tệp vào đây",
                        "drop_csv": "Thả tệp CSV vào đây", "drop_image": "Thả ảnh vào đây",
                        "drop_audio": "Thả âm thanh vào đây", "drop_video": "Thả video vào đây",
                        "drop_gallery": "Thả tệp đa phương tiện vào đây", "paste_clipboard": "Dán từ bộ nhớ tạm"},
        "file": {"uploading": "Đang tải lên..."},
        "chatbot": {"edit": "Sửa", "retry": "Thử lại", "undo": "Hoàn tác", "submit": "Gửi", "cancel": "Huỷ",
                    "like": "Thích", "dislike": "Không thích", "clear": "Xoá", "complete": "Hoàn tất",
                    "copy_message": "Chép tin nhắn", "copied_message": "Đã chép tin nhắn"},
        "dataframe": {"sort_column": "Sắp xếp cột", "sort_ascending": "Sắp xếp tăng dần",
                      "sort_descending": "Sắp xếp giảm dần", "clear_sort": "Bỏ sắp xếp", "filter": "Lọc",
                      "clear_filter": "Bỏ lọc"},
        "errors": {"use_via_api": "Dùng qua API", "use_via_api_or_mcp": "Dùng qua API hoặc MCP"},
        "status": {"queue_position": "Trong hàng đợi: {position} trên {size}"},
        "blocks": {"lost_connection": "Mất kết nối vì đã rời trang. Đang vào lại hàng đợi...",
                   "waiting_for_inputs": "Đang chờ tải tệp xong, hãy thử lại.",
                   "connection_can_break": "Trên điện thoại, kết nối có thể ngắt nếu thẻ này không được mở "
                                           "hoặc máy ngủ, và bạn mất chỗ trong hàng đợi.",
                   "long_requests_queue": "Đang có nhiều yêu cầu chờ xử lý."},
        "plot": {"plot": "Biểu đồ"}, "label": {"label": "Nhãn"}, "dropdown": {"dropdown": "Danh sách chọn"},
        "checkbox": {"checkbox": "Ô đánh dấu", "checkbox_group": "Nhóm ô đánh dấu"}, "radio": {"radio": "Lựa chọn"},
        "number": {"number": "Số"}, "slider": {"slider": "Thanh trượt"},
    },
}

# Runs in the page's <head>: defines how to switch gradio's language, and switches at once to the
# language the link or this browser asks for (before the first tab is drawn).
HEAD = """<script>
window.loraPlaygroundLocale = async (code) => {
  if (!%(languages)s.includes(code)) return;
  localStorage.setItem(%(storage)s, code);
  const core = performance.getEntriesByType("resource").map((entry) => entry.name)
    .find((name) => /\\/assets\\/core-[^/]*\\.js$/.test(name));
  if (core) (await import(core)).changeLocale(code);
};
window.loraPlaygroundLocale(new URLSearchParams(location.search).get(%(parameter)s) || localStorage.getItem(%(storage)s));
</script>""" % {"languages": json.dumps(list(LANGUAGES)), "storage": json.dumps(LOCALE_STORAGE_KEY),
                "parameter": json.dumps(LANGUAGE_PARAMETER)}

# The language radio's change, in the browser first: gradio's strings follow, and the address says
# the language (a teacher can hand out the link).
FOLLOW_LANGUAGE_JS = """(code) => {
  window.loraPlaygroundLocale?.(code);
  const url = new URL(location.href);
  url.searchParams.set(%s, code);
  history.replaceState(history.state, "", url);
  return code;
}""" % json.dumps(LANGUAGE_PARAMETER)

# Disabled controls must look disabled from the back of a classroom, not only refuse clicks.
CSS = """
button:disabled, button[disabled], .disabled, input:disabled, textarea:disabled {
  opacity: 0.45 !important; cursor: not-allowed !important; filter: grayscale(0.6);
}
"""


def launch_options() -> dict:
    """What `Blocks.launch` needs for the page: gradio's strings, the language script, the stylesheet."""
    return {"i18n": gr.I18n(**GRADIO_STRINGS), "head": HEAD, "css": CSS}
