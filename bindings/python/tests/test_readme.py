"""The README's Python snippet runs as written (so it cannot rot)."""

import os
import re

import numpy as np

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "README.md")


def test_readme_python_snippet():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("### Python\n"):]
    section = section[: section.index("\n## ")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "expected one python block in the README's Python section"
    namespace = {}
    exec(compile(blocks[0], "README.md (Python)", "exec"), namespace)
    users = namespace["users"]
    np.testing.assert_array_equal(namespace["scores"], users * users)
