"""Errors raised by the speech tokenizer, each naming what it is about."""

import os
from typing import Union


class TokenizerError(ValueError):
    """A tokenizer cannot do what was asked (wrong input, unusable settings or checkpoint)."""


class TokenizerFileError(TokenizerError):
    """A tokenizer file that is missing, corrupt, truncated, foreign or from a newer format."""

    def __init__(self, path: Union[str, os.PathLike], problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")
