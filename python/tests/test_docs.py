"""docs/python.md runs as written: its python blocks, in order, in one namespace, from the checkout root."""

import os
import re

from conftest import ROOT


def test_the_python_guide_runs(monkeypatch):
    text = (ROOT / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/python.md block {i + 1}", "exec"), namespace)
    assert namespace["s"].recommended in range(2, 7)
    assert os.path.exists(namespace["out"] / "model.json")
