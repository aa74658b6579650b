from typing import List, Optional, Tuple

__version__: str

class Themescope:
    def __init__(
        self, model: Optional[str], precision: str, threads: Optional[int], cache: bool
    ) -> None: ...
    @property
    def model_path(self) -> str: ...
    @property
    def dim(self) -> int: ...
    def embed(self, texts: List[str]) -> Tuple[bytearray, int, int]: ...
    def nearest(self, query: str, texts: List[str], k: int) -> List[Tuple[int, float]]: ...
    def themes(
        self,
        texts: List[str],
        ids: Optional[List[str]],
        k: Optional[int],
        depth: int,
        seed: int,
        doc: str,
    ) -> str: ...

def run_cli(args: List[str]) -> int: ...
