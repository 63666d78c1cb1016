"""The order of an archive's signing keys: the current one, then the retired ones latest first, however
quickly they were rotated (two rotations within one second once listed in the wrong order)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from archiver.compliance.signing import all_keys, create_key, key_path, retired_dir


def test_keys_rotated_within_one_second_list_latest_retired_first(tmp_path: Path) -> None:
    path = key_path(tmp_path)
    made = [create_key(path).fingerprint]
    for _ in range(4):  # far quicker than a second apart
        info = create_key(path, force=True)
        assert info.retired == made[-1]
        made.append(info.fingerprint)
    keys, problems = all_keys(tmp_path)
    assert problems == []
    assert [k.status for k in keys] == ["current"] + ["retired"] * 4
    assert [k.fingerprint for k in keys] == made[::-1]
    # each retired key was valid until the next one began, to the microsecond
    for newer, older in itertools.pairwise(keys[1:]):
        assert older.valid_until is not None and newer.valid_from is not None
        assert older.valid_until <= newer.valid_from <= newer.valid_until  # type: ignore[operator]


def test_whole_second_files_of_equal_time_fall_back_to_when_they_were_written(tmp_path: Path) -> None:
    path = key_path(tmp_path)
    made = [create_key(path).fingerprint]
    for _ in range(3):
        made.append(create_key(path, force=True).fingerprint)
    # rewrite the retired files as an older archiver did (whole seconds, all the same second), and give
    # them write times in the order they were retired
    for n, fingerprint in enumerate(made[:-1]):
        file = retired_dir(tmp_path) / (fingerprint.removeprefix("sha256:") + ".pem")
        lines = [line if not line.startswith("# valid_") else line.split(": ")[0] + ": 2026-01-02T03:04:05Z"
                 for line in file.read_text().splitlines()]
        file.write_text("\n".join(lines) + "\n")
        os.utime(file, ns=(1_700_000_000_000_000_000 + n, 1_700_000_000_000_000_000 + n))
    keys, problems = all_keys(tmp_path)
    assert problems == []
    assert [k.fingerprint for k in keys] == made[::-1]
    assert {k.valid_until for k in keys[1:]} == {"2026-01-02T03:04:05.000000Z"}


def test_hostile_dates_in_key_files_are_left_out_not_an_error(tmp_path: Path) -> None:
    """A .created file or a retired key's dates holding times outside what can be shown (year 1 at +05:00,
    year 9999 at -01:00), a three-digit year or a huge line: the key is still listed, those dates unknown
    (None) or shown with a four-digit year, and nothing raises."""
    path = key_path(tmp_path)
    first = create_key(path).fingerprint
    create_key(path, force=True)
    retired = retired_dir(tmp_path) / (first.removeprefix("sha256:") + ".pem")
    text = retired.read_text().splitlines()
    lines = [line for line in text if not line.startswith("# valid_")]
    retired.write_text("\n".join([lines[0], "# valid_from: 0999-01-01T00:00:00Z",
                                  "# valid_until: 0001-01-01T00:00:00+05:00", *lines[1:]]) + "\n")
    path.with_suffix(".created").write_text("9999-12-31T23:59:59-01:00" + " " * 10_000_000)
    keys, problems = all_keys(tmp_path)
    assert problems == []
    current, old = keys
    assert current.status == "current" and current.valid_from is not None  # the file's time stands in
    assert old.fingerprint == first and old.valid_until is None and old.valid_from == "0999-01-01T00:00:00.000000Z"
