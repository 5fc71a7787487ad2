"""A user's examples, checked against the data contract, and the bundled data.

    reading.py   bytes to text to rows (CSV, TSV, JSONL, a JSON array), each row with its line
    contract.py  which rows a task takes, row by row; the train/validation split (`datasets`)
    problems.py  what can be wrong, said in the user's language; limits
"""

from finetune.data.contract import LoadedData, load_examples, load_examples_or_raise, split_train_validation
from finetune.data.problems import DataLimits, DataValidationError, Problem
from finetune.data.reading import escape_spreadsheet_cell, read_jsonl, write_jsonl

__all__ = ["DataLimits", "DataValidationError", "LoadedData", "Problem", "escape_spreadsheet_cell",
           "load_examples", "load_examples_or_raise", "read_jsonl", "split_train_validation", "write_jsonl"]
