"""Reader for NIST CAVP ``.rsp`` files shipped in the ``cryptography-vectors`` package.

A file is sections (``[ENCRYPT]``, ``[Keylen = 256]`` ...) of blank-line separated
records of ``NAME = hex`` lines; a bare ``FAIL`` line marks a record that must fail.
Each record is returned as a dict with its fields, ``section`` (the last bracketed
header seen, without brackets), the bracketed parameters seen so far under
``params``, and ``FAIL`` = True/False.
"""

from __future__ import annotations

import re

__all__ = ["load_rsp"]


def load_rsp(path: str) -> list[dict]:
    """Records of ``path``, relative to the cryptography_vectors package root."""
    import cryptography_vectors

    with cryptography_vectors.open_vector_file(path, "r") as f:
        lines = f.read().splitlines()
    records: list[dict] = []
    section, params, rec = "", {}, None
    for raw in lines + [""]:
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line:
            if rec:
                records.append(rec)
            rec = None
            continue
        header = re.fullmatch(r"\[(.*)\]", line)
        if header:
            text = header.group(1)
            if "=" in text:
                k, v = (s.strip() for s in text.split("=", 1))
                params[k] = v
            else:
                section = text
            continue
        if rec is None:
            rec = {"section": section, "params": dict(params), "FAIL": False}
        if line == "FAIL":
            rec["FAIL"] = True
        elif "=" in line:
            k, v = (s.strip() for s in line.split("=", 1))
            rec[k] = v
    return records
