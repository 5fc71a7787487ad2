"""What `finetune/` says to people (upload problems, settings out of range, training), by key, in
English and Vietnamese. See `models.messages` for how a key becomes a sentence."""

from __future__ import annotations

from models.messages import add_catalogue

EN = {
    # one row, many problems: the line comes first so people can jump to it in an editor
    "data.line": "Line {line}: {message}",
    "data.invalid_file": "The data file has {errors} error(s):",
    "data.more_problems": "... and {count} more",
    "data.same_warning": "The same warning ({what}) applies to {count} more row(s).",
    "data.kind.non_text": "non-text values read as text",
    "data.kind.control": "control characters removed",
    "data.kind.truncated": "will be truncated",
    # reading the file
    "data.too_big": "The file is larger than the {limit:,}-byte limit. Upload a smaller file (fewer rows).",
    "data.unreadable": "Could not read the file: {reason}.",
    "data.bad_utf16": "The file starts like UTF-16 text but could not be decoded. Save it as UTF-8 and upload again.",
    "data.utf16": "The file is UTF-16 encoded; it was read fine, but please prefer UTF-8.",
    "data.workbook": "This looks like an Excel workbook or zip archive, not CSV/JSONL text. "
                     "In Excel use File > Save As > 'CSV UTF-8'.",
    "data.binary": "This looks like a binary file, not CSV/JSONL text. Upload a .csv or .jsonl file saved as UTF-8 text.",
    "data.empty": "The file is empty. Upload a file with a header and at least {min_rows} rows.",
    "data.not_utf8": "the file is not UTF-8 text (byte 0x{byte} at byte offset {offset}, probably '{char}'). "
                     "It looks like Latin-1/Windows-1252, as older Excel versions save it. Save it as UTF-8 "
                     "(Excel: Save As > 'CSV UTF-8'; text editors: Save with encoding > UTF-8) and upload again.",
    "data.too_many_rows": "The file has more than {limit:,} rows; the limit is {limit:,}. Split it or remove rows.",
    "data.not_object": "expected a JSON object like {{\"column\": \"value\", ...}}, found {found}.",
    "data.type.list": "a list",
    "data.type.object": "an object",
    "data.type.string": "a string",
    "data.type.number": "a number",
    "data.duplicate_column": "column '{name}' appears more than once in the header; rename or remove the extra one.",
    "data.tab": "tab",
    "data.too_many_values": "this row has {values} values but the header has {columns} columns. "
                            "Put double quotes around cells that contain {delimiter}.",
    "data.unclosed_quote": "this row has only {values} of {columns} values and a cell runs over several lines: "
                           "probably a double quote is never closed, so the lines after it were read into one cell. "
                           "Close or remove the stray quote.",
    "data.csv_error": "the CSV could not be read past this point ({reason}). Check for unbalanced double quotes.",
    "data.bad_json_line": "this line is not valid JSON. Each line must hold one object, "
                          "like {{\"text\": \"...\", \"label\": \"...\"}}.",
    "data.bad_json": "The file is not valid JSON: {reason} (line {at_line}, column {at_column}).",
    "data.too_deep": "The file is not valid JSON: it is nested too deeply.",
    # the contract
    "data.none": "none",
    "data.column_pair": "'{first}' and '{second}'",
    "data.missing_column": "Column '{want}' is missing (columns found: {found}). {hint}",
    "data.did_you_mean": "Did you mean '{guess}'? Rename that column to '{want}'.",
    "data.needs_columns": "The {task} task needs columns {needed}.",
    "data.needs_messages": "The {task} task needs columns {needed}, or a JSONL 'messages' list.",
    "data.extra_columns": "Ignoring extra column(s) {extra}; the {task} task only uses {used}.",
    "data.column": "column '{column}'",
    "data.message_content": "message {number}'s content",
    "data.read_as_text": "{what} holds a JSON number/boolean; it was read as the text '{value}'.",
    "data.not_text": "{what} holds {found}, but plain text is expected.",
    "data.control_removed": "invisible control characters were removed from the text.",
    "data.empty_cell": "{what} is empty. Fill it in or delete the row.",
    "data.long_cell": "{what} has {chars:,} characters; the limit is {limit:,}. Shorten it or split it into several rows.",
    "data.messages_list": "'messages' must be a non-empty list of {{\"role\": ..., \"content\": ...}} objects.",
    "data.message_not_object": "message {number} is not an object with 'role' and 'content'.",
    "data.bad_role": "message {number} has role {role}; use 'system', 'user' or 'assistant'.",
    "data.turn_order": "message {number} is from '{role}' but '{want}' was expected; after an optional first "
                       "system message, turns must alternate user, assistant, ...",
    "data.ends_with_user": "the conversation must end with an assistant message (the reply the model learns).",
    "data.two_systems": "the row has both a 'system' field and a system message; keep only one.",
    "data.same_as": "line {line} (same as line {first})",
    "data.and_more": " and {count} more",
    "data.duplicates": "{count} duplicate row(s) were dropped: {shown}{more}.",
    "data.only": "only '{label}'",
    "data.one_label": "{task} needs at least two different labels (e.g. 'positive' and 'negative'); found {found}.",
    "data.label_once": "label '{label}' appears only once; every label needs at least 2 examples. "
                       "Add more '{label}' rows or remove this one.",
    "data.too_many_tokens": "column '{name}' is {tokens:,} tokens long; it will be truncated to {limit:,} tokens.",
    "data.no_rows": "The file has no data rows (only a header, or nothing). Add at least {min_rows} examples.",
    "data.too_few_rows": "Only {rows} usable row(s) (rows with problems and duplicates are left out); "
                         "at least {min_rows} are needed.",
    # training jobs
    # a training job's progress (the Train tab shows these in the page's language)
    "job.starting": "Starting the training process",
    "job.loading": "Loading {model}",
    "job.measuring_base": "Measuring the base model",
    "job.measuring_adapter": "Measuring the trained adapter",
    "job.training": "Training {trainable:,} of {total:,} parameters",
    "job.saving": "Saving to {destination}",
    "job.stopping": "Stopping after the current step...",
    "job.stopped": "Stopped; nothing was saved.",
    "job.stopped_waiting": "Stopped before it started; nothing was saved.",
    "job.finished": "Finished",
    "job.killed": "The training process was killed (signal {signal}) before finishing; nothing was saved. This can "
                  "happen when the machine runs out of memory: try fewer rows, a shorter max length or a smaller "
                  "base model.",
    "job.exited": "The training process exited with code {code} before finishing; nothing was saved. This can "
                  "happen when the machine runs out of memory: try fewer rows, a shorter max length or a smaller "
                  "base model.",
    "job.limit": "This workspace already has {count} job(s) waiting or running; "
                 "wait for it to finish or stop it first.",
    "job.head_needs_classifier": "method 'head' needs a classification model (sentiment).",
    "job.start_mismatch": "Adapter '{name}' is for {task} on {base}; this job trains {job_task} on {job_base}.",
    "job.start_rank": "Adapter '{name}' has rank {rank}; set rank to {rank} to continue it.",
    "job.no_examples": "No training example is left after tokenization.",
    "job.only_lora_saves": "method '{method}' changes the base weights; only LoRA saves an adapter.",
    # settings
    "config.problems": "{problems}.",
    "config.fill_in": "Fill in {names}.",
    "config.unknown_task": "Unknown task {task!r}; expected one of: {known}.",
    "config.unknown_preset": "preset must be one of {known} (got {value!r}).",
    "config.unknown_settings": "unknown setting(s): {names}.",
    "config.one_of": "{name} must be one of {known} (got {value!r})",
    "config.init_needs_lora": "init_adapter continues a LoRA adapter, so method must be lora (got {value!r})",
    "config.whole_number": "{name} must be a whole number, {allowed} (got {value!r})",
    "config.number": "{name} must be a number, {allowed} (got {value!r})",
    "config.out_of_range": "{name} must be {allowed} (got {value!r})",
    "config.between": "between {low} and {high}",
    "config.range": "{low}..{high}",
    "config.open_closed": "in ({low}, {high}]",
    "config.closed_open": "in [{low}, {high})",
    "config.open": "in ({low}, {high})",
    "config.minus_one_or": "-1 or {low}..{high}",
    # an adapter's model card (finetune.card)
    "card.split.test": "test",
    "card.split.validation": "validation",
    "card.unit.rows": "rows",
    "card.unit.questions": "factual questions",
    "card.set": "{set}, {rows} {unit}",
    "card.set_part": "{set}, {rows} of {total} {unit}",
    "card.side.base": "base",
    "card.side.adapter": "adapter",
    "card.task": "Task",
    "card.base": "Base model",
    "card.method": "Method",
    "card.rank": "rank {rank}",
    "card.params": "{trainable} of {total} parameters trained ({share})",
    "card.data": "Data",
    "card.rows": "{train} training rows + {validation} validation rows",
    "card.from": "from {source}",
    "card.training": "Training",
    "card.steps": "{steps} steps",
    "card.time": "{time} on {device}",
    "card.settings": "learning rate {lr}, batch size {batch}, epochs {epochs}",
    "card.earlier": "Earlier stage",
    "card.results": "Results",
    "card.base_note": "“base” is the bare model at its best without training: prompted with two worked "
                      "examples (sentiment: zero-shot similarity to one sentence per label). A test set is "
                      "held out: never trained on, never used to choose settings.",
    "card.metric": "metric",
    "card.samples": "Sample replies",
    "card.no_details": "No training details or measurements were stored with this adapter: its "
                       "playground.json names only its task and base model.",
    "card.metric.accuracy": "accuracy",
    "card.metric.loss": "loss",
    "card.metric.perplexity": "perplexity",
    "card.metric.style": "persona style",
    "card.metric.facts_kept": "facts kept",
    "card.metric.clean_stops": "clean stops",
}

VI = {
    "data.line": "Dòng {line}: {message}",
    "data.invalid_file": "Tệp dữ liệu có {errors} lỗi:",
    "data.more_problems": "... và {count} vấn đề nữa",
    "data.same_warning": "Cảnh báo này ({what}) còn áp dụng cho {count} dòng nữa.",
    "data.kind.non_text": "giá trị không phải văn bản được đọc thành văn bản",
    "data.kind.control": "đã bỏ ký tự điều khiển",
    "data.kind.truncated": "sẽ bị cắt bớt",
    "data.too_big": "Tệp lớn hơn giới hạn {limit:,} byte. Hãy tải lên tệp nhỏ hơn (ít dòng hơn).",
    "data.unreadable": "Không đọc được tệp: {reason}.",
    "data.bad_utf16": "Tệp có vẻ là văn bản UTF-16 nhưng không giải mã được. Hãy lưu lại dưới dạng UTF-8 rồi tải lên.",
    "data.utf16": "Tệp được mã hoá UTF-16; đọc vẫn được, nhưng nên dùng UTF-8.",
    "data.workbook": "Tệp này có vẻ là sổ tính Excel hoặc tệp nén zip, không phải văn bản CSV/JSONL. "
                     "Trong Excel chọn File > Save As > 'CSV UTF-8'.",
    "data.binary": "Tệp này có vẻ là tệp nhị phân, không phải văn bản CSV/JSONL. Hãy tải lên tệp .csv hoặc .jsonl "
                   "lưu dưới dạng văn bản UTF-8.",
    "data.empty": "Tệp trống. Hãy tải lên tệp có dòng tiêu đề và ít nhất {min_rows} dòng.",
    "data.not_utf8": "tệp không phải văn bản UTF-8 (byte 0x{byte} ở vị trí {offset}, có lẽ là '{char}'). "
                     "Có vẻ là Latin-1/Windows-1252, như các bản Excel cũ vẫn lưu. Hãy lưu lại dưới dạng UTF-8 "
                     "(Excel: Save As > 'CSV UTF-8'; trình soạn thảo: lưu với mã hoá UTF-8) rồi tải lên lại.",
    "data.too_many_rows": "Tệp có hơn {limit:,} dòng; giới hạn là {limit:,}. Hãy chia nhỏ tệp hoặc bớt dòng.",
    "data.not_object": "cần một đối tượng JSON như {{\"column\": \"value\", ...}}, nhưng gặp {found}.",
    "data.type.list": "một danh sách",
    "data.type.object": "một đối tượng",
    "data.type.string": "một chuỗi",
    "data.type.number": "một số",
    "data.duplicate_column": "cột '{name}' xuất hiện nhiều lần trong dòng tiêu đề; hãy đổi tên hoặc bỏ cột thừa.",
    "data.tab": "dấu tab",
    "data.too_many_values": "dòng này có {values} giá trị nhưng dòng tiêu đề có {columns} cột. "
                            "Hãy đặt dấu ngoặc kép quanh các ô có chứa {delimiter}.",
    "data.unclosed_quote": "dòng này chỉ có {values} trên {columns} giá trị và một ô kéo dài qua nhiều dòng: "
                           "có lẽ một dấu ngoặc kép chưa được đóng nên các dòng sau bị đọc vào cùng một ô. "
                           "Hãy đóng hoặc xoá dấu ngoặc kép thừa.",
    "data.csv_error": "không đọc được CSV từ chỗ này trở đi ({reason}). Hãy kiểm tra các dấu ngoặc kép không cân.",
    "data.bad_json_line": "dòng này không phải JSON hợp lệ. Mỗi dòng phải chứa một đối tượng, "
                          "như {{\"text\": \"...\", \"label\": \"...\"}}.",
    "data.bad_json": "Tệp không phải JSON hợp lệ: {reason} (dòng {at_line}, cột {at_column}).",
    "data.too_deep": "Tệp không phải JSON hợp lệ: lồng nhau quá sâu.",
    "data.none": "không có",
    "data.column_pair": "'{first}' và '{second}'",
    "data.missing_column": "Thiếu cột '{want}' (các cột tìm thấy: {found}). {hint}",
    "data.did_you_mean": "Có phải bạn muốn dùng '{guess}'? Hãy đổi tên cột đó thành '{want}'.",
    "data.needs_columns": "Tác vụ {task} cần các cột {needed}.",
    "data.needs_messages": "Tác vụ {task} cần các cột {needed}, hoặc một danh sách 'messages' trong JSONL.",
    "data.extra_columns": "Bỏ qua (các) cột thừa {extra}; tác vụ {task} chỉ dùng {used}.",
    "data.column": "cột '{column}'",
    "data.message_content": "nội dung của tin nhắn {number}",
    "data.read_as_text": "{what} chứa một số/giá trị boolean JSON; đã được đọc thành văn bản '{value}'.",
    "data.not_text": "{what} chứa {found}, nhưng cần văn bản thuần.",
    "data.control_removed": "đã bỏ các ký tự điều khiển vô hình khỏi văn bản.",
    "data.empty_cell": "{what} đang trống. Hãy điền vào hoặc xoá dòng này.",
    "data.long_cell": "{what} có {chars:,} ký tự; giới hạn là {limit:,}. Hãy rút ngắn hoặc tách thành nhiều dòng.",
    "data.messages_list": "'messages' phải là một danh sách không rỗng các đối tượng {{\"role\": ..., \"content\": ...}}.",
    "data.message_not_object": "tin nhắn {number} không phải đối tượng có 'role' và 'content'.",
    "data.bad_role": "tin nhắn {number} có vai trò {role}; hãy dùng 'system', 'user' hoặc 'assistant'.",
    "data.turn_order": "tin nhắn {number} là của '{role}' nhưng cần '{want}'; sau một tin nhắn system (không bắt "
                       "buộc) ở đầu, các lượt phải luân phiên user, assistant, ...",
    "data.ends_with_user": "cuộc hội thoại phải kết thúc bằng một tin nhắn assistant (câu trả lời mô hình học).",
    "data.two_systems": "dòng này vừa có trường 'system' vừa có tin nhắn system; chỉ giữ một.",
    "data.same_as": "dòng {line} (giống dòng {first})",
    "data.and_more": " và {count} dòng nữa",
    "data.duplicates": "Đã bỏ {count} dòng trùng lặp: {shown}{more}.",
    "data.only": "chỉ có '{label}'",
    "data.one_label": "{task} cần ít nhất hai nhãn khác nhau (ví dụ 'positive' và 'negative'); tìm thấy {found}.",
    "data.label_once": "nhãn '{label}' chỉ xuất hiện một lần; mỗi nhãn cần ít nhất 2 ví dụ. "
                       "Hãy thêm dòng '{label}' hoặc bỏ dòng này.",
    "data.too_many_tokens": "cột '{name}' dài {tokens:,} token; sẽ bị cắt còn {limit:,} token.",
    "data.no_rows": "Tệp không có dòng dữ liệu nào (chỉ có tiêu đề, hoặc trống). Hãy thêm ít nhất {min_rows} ví dụ.",
    "data.too_few_rows": "Chỉ có {rows} dòng dùng được (dòng có lỗi và dòng trùng lặp bị bỏ ra); cần ít nhất "
                         "{min_rows} dòng.",
    # a training job's progress
    "job.starting": "Đang khởi động tiến trình huấn luyện",
    "job.loading": "Đang tải {model}",
    "job.measuring_base": "Đang đo mô hình gốc",
    "job.measuring_adapter": "Đang đo adapter vừa huấn luyện",
    "job.training": "Đang huấn luyện {trainable:,} trên {total:,} tham số",
    "job.saving": "Đang lưu vào {destination}",
    "job.stopping": "Sẽ dừng sau bước hiện tại...",
    "job.stopped": "Đã dừng; không có gì được lưu.",
    "job.stopped_waiting": "Đã dừng trước khi bắt đầu; không có gì được lưu.",
    "job.finished": "Hoàn tất",
    "job.killed": "Tiến trình huấn luyện bị dừng đột ngột (tín hiệu {signal}) trước khi xong; không có gì được lưu. "
                  "Điều này có thể xảy ra khi máy hết bộ nhớ: hãy thử ít dòng hơn, độ dài tối đa ngắn hơn hoặc "
                  "một mô hình gốc nhỏ hơn.",
    "job.exited": "Tiến trình huấn luyện thoát với mã {code} trước khi xong; không có gì được lưu. Điều này có thể "
                  "xảy ra khi máy hết bộ nhớ: hãy thử ít dòng hơn, độ dài tối đa ngắn hơn hoặc một mô hình gốc "
                  "nhỏ hơn.",
    "job.limit": "Không gian làm việc này đã có {count} lượt huấn luyện đang chờ hoặc đang chạy; "
                 "hãy đợi lượt đó xong hoặc dừng nó trước.",
    "job.head_needs_classifier": "phương pháp 'head' cần một mô hình phân loại (sentiment).",
    "job.start_mismatch": "Adapter '{name}' dành cho tác vụ {task} trên {base}; còn lượt huấn luyện này là tác vụ "
                          "{job_task} trên {job_base}.",
    "job.start_rank": "Adapter '{name}' có rank {rank}; hãy đặt rank là {rank} để huấn luyện tiếp nó.",
    "job.no_examples": "Không còn ví dụ huấn luyện nào sau khi tách token.",
    "job.only_lora_saves": "phương pháp '{method}' thay đổi trọng số của mô hình gốc; chỉ LoRA mới lưu thành adapter.",
    "config.problems": "{problems}.",
    "config.fill_in": "Hãy điền {names}.",
    "config.unknown_task": "Tác vụ không xác định {task!r}; cần một trong: {known}.",
    "config.unknown_preset": "preset phải là một trong {known} (nhận được {value!r}).",
    "config.unknown_settings": "thiết lập không xác định: {names}.",
    "config.one_of": "{name} phải là một trong {known} (nhận được {value!r})",
    "config.init_needs_lora": "init_adapter tiếp tục một adapter LoRA, nên method phải là lora (nhận được {value!r})",
    "config.whole_number": "{name} phải là số nguyên, {allowed} (nhận được {value!r})",
    "config.number": "{name} phải là một số, {allowed} (nhận được {value!r})",
    "config.out_of_range": "{name} phải {allowed} (nhận được {value!r})",
    "config.between": "trong khoảng {low} đến {high}",
    "config.range": "{low}..{high}",
    "config.open_closed": "thuộc ({low}, {high}]",
    "config.closed_open": "thuộc [{low}, {high})",
    "config.open": "thuộc ({low}, {high})",
    "config.minus_one_or": "-1 hoặc {low}..{high}",
    # an adapter's model card (finetune.card)
    "card.split.test": "tập kiểm tra",
    "card.split.validation": "tập kiểm định",
    "card.unit.rows": "dòng",
    "card.unit.questions": "câu hỏi kiến thức",
    "card.set": "{set}, {rows} {unit}",
    "card.set_part": "{set}, {rows} trên {total} {unit}",
    "card.side.base": "gốc",
    "card.side.adapter": "adapter",
    "card.task": "Nhiệm vụ",
    "card.base": "Mô hình gốc",
    "card.method": "Phương pháp",
    "card.rank": "hạng {rank}",
    "card.params": "huấn luyện {trainable} trên {total} tham số ({share})",
    "card.data": "Dữ liệu",
    "card.rows": "{train} dòng huấn luyện + {validation} dòng kiểm định",
    "card.from": "từ {source}",
    "card.training": "Huấn luyện",
    "card.steps": "{steps} bước",
    "card.time": "{time} trên {device}",
    "card.settings": "tốc độ học {lr}, kích thước batch {batch}, số epoch {epochs}",
    "card.earlier": "Giai đoạn trước",
    "card.results": "Kết quả",
    "card.base_note": "“gốc” là mô hình gốc ở mức tốt nhất khi chưa huấn luyện: được nhắc kèm hai ví dụ "
                      "mẫu (cảm xúc: so độ tương đồng zero-shot với một câu cho mỗi nhãn). Tập kiểm tra "
                      "được giữ riêng: không dùng để huấn luyện, cũng không dùng để chọn thiết lập.",
    "card.metric": "chỉ số",
    "card.samples": "Câu trả lời mẫu",
    "card.no_details": "Adapter này không kèm thông tin huấn luyện hay kết quả đo: tệp playground.json "
                       "chỉ ghi nhiệm vụ và mô hình gốc.",
    "card.metric.accuracy": "độ chính xác",
    "card.metric.loss": "hàm mất mát (loss)",
    "card.metric.perplexity": "độ bối rối (perplexity)",
    "card.metric.style": "đúng phong cách nhân vật",
    "card.metric.facts_kept": "giữ kiến thức",
    "card.metric.clean_stops": "kết thúc gọn",
}

add_catalogue({"en": EN, "vi": VI})
